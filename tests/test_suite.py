"""Scenario suites: the default suite's coverage, timing and bad files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from aiops.errors import ConfigError
from aiops.simulator import simulate
from aiops.suite import load_suite


def test_default_suite_covers_the_cases_policies_are_judged_on() -> None:
    suite = load_suite("default")
    names = [s.name for s in suite.scenarios]
    assert len(names) >= 20
    assert len({s.seed for s in suite.scenarios}) == len(names)  # own seed each

    faults = [f for s in suite.scenarios for f in s.spec.faults]
    defects = {f.defect for f in faults if f.kind == "bad_deploy"}
    assert defects == {"errors", "latency_creep", "memory_leak"}
    assert any(f.kind == "region_outage" for f in faults)
    crowds = [s for s in suite.scenarios if s.spec.workload.flash_crowds]
    assert len(crowds) >= 4
    ramps = [c.ramp_s for s in crowds for c in s.spec.workload.flash_crowds]
    assert min(ramps) <= 60 and max(ramps) >= 3600  # abrupt and slow
    good_only = [
        s
        for s in suite.scenarios
        if s.spec.deployment.strategy == "canary"
        and not any(f.kind == "bad_deploy" for f in s.spec.faults)
    ]
    assert len(good_only) >= 2
    weekend = next(s for s in suite.scenarios if s.name == "weekend")
    assert weekend.judged_from.weekday() == 5  # Saturday


def test_at_hour_counts_from_the_judged_window(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "warmup_days": 1,
                "days": 1,
                "scenarios": [
                    {
                        "name": "one",
                        "base": "production",
                        "seed": 3,
                        "faults": [
                            {
                                "kind": "cache_stampede",
                                "target": "redis",
                                "at_hour": 5,
                                "duration_s": 1800,
                            }
                        ],
                    }
                ],
            }
        )
    )
    scenario = load_suite(path).scenarios[0]
    assert scenario.days == 2.0
    assert scenario.judged_from == dt.datetime(2026, 1, 6, tzinfo=dt.UTC)
    # none of the profile's own faults or flash crowds remain
    assert [f.kind for f in scenario.spec.faults] == ["cache_stampede"]
    assert scenario.spec.workload.flash_crowds == []

    telemetry = simulate(scenario.spec, days=scenario.days, seed=scenario.seed)
    incident = telemetry.incidents.iloc[0]
    assert pd.Timestamp(incident["start"]) == pd.Timestamp("2026-01-06T05:00Z")
    assert pd.Timestamp(incident["end"]) == pd.Timestamp("2026-01-06T05:30Z")


def _suite(tmp_path: Path, text: str) -> Path:
    (tmp_path / "broken.yaml").write_text("name: [\n")
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: s\ndays: 1\nscenarios:\n  - {name: a, base: production, seed: 1,"
            " flash_crowds: [{at_hour: 30, duration_s: 60, multiplier: 2}]}\n",
            "flash crowd at_hour = 30 lies past the judged window of 24 hours",
        ),
        (
            "name: s\ndays: 1\nscenarios:\n  - {name: a, base: production, seed: 1,"
            " faults: [{kind: cache_stampede, target: redis, at_hour: 23,"
            " duration_s: 7200}]}\n",
            "lasting 7200 s runs past the end of the judged window",
        ),
        (
            "name: s\nscenarios:\n  - {name: a, base: nowhere.yaml, seed: 1}\n",
            "base 'nowhere.yaml' is neither a profile",
        ),
        (
            "name: s\nscenarios:\n  - {name: a, base: production, seed: 1}\n"
            "  - {name: a, base: production, seed: 2}\n",
            r"scenario names \['a'\] appear more than once",
        ),
        (
            "name: s\nscenarios:\n  - {name: a, base: production, seed: -1}\n",
            "scenarios.0.seed = -1; input should be greater than or equal to 0",
        ),
        (
            "name: s\nscenarios:\n  - {name: a, base: production, seed: 1,"
            " set: {workload: {noise: 2}}}\n",
            "workload.noise",
        ),
        (
            "name: s\nscenarios:\n  - {name: a, base: production, seed: 1,"
            " flashcrowds: []}\n",
            "scenarios.0.flashcrowds = \\[\\]; extra inputs are not permitted",
        ),
        (
            "name: s\nscenarios:\n  - {name: a, base: production, seed: 1,"
            " set: {workload: 5}}\n",
            "workload = 5; expected a mapping of workload settings",
        ),
        (
            "name: s\nscenarios:\n  - {name: a, base: broken.yaml, seed: 1}\n",
            "scenario broken.yaml: not valid YAML",
        ),
        ("name: s\nscenarios: [\n", "not valid YAML"),
        ("- 1\n", "expected a mapping with scenarios"),
    ],
)
def test_bad_suites_give_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_suite(_suite(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_unknown_suite_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown suite 'nope'; expected one of"):
        load_suite("nope")
    # a path without a YAML suffix is still read as a file
    (tmp_path / "notes").write_text("just text\n")
    with pytest.raises(ConfigError, match="suite notes: expected a mapping"):
        load_suite(str(tmp_path / "notes"))

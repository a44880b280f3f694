"""A canary analysis in closed loop: its verdicts act on the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from aiops.canary import CanaryAnalysis, JudgeResult
from aiops.policies import build_canary_analysis, load_canary_policy
from aiops.simulator import Telemetry, parse_scenario, simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
SEED = 7
CANARY = {
    "strategy": "canary",
    "canary_fraction": 0.1,
    "canary_duration_s": 1800,
    "every_days": 0.25,
    "hour_utc": 1,
}


def run(
    faults: list[dict[str, Any]], canary: Any | None, days: float = 1.0
) -> Telemetry:
    raw = yaml.safe_load((SCENARIOS / "production.yaml").read_text())
    raw["faults"] = faults
    raw["days"] = days
    raw["workload"]["flash_crowds"] = []
    raw["deployment"] = raw["deployment"] | CANARY
    return simulate(parse_scenario(raw), days=days, seed=SEED, canary=canary)


def app_versions(telemetry: Telemetry) -> pd.Series:
    """The app version label per step."""
    metrics = telemetry.metrics
    rows = (metrics["service"] == "app") & (metrics["metric"] == "http_requests_total")
    versions = metrics.loc[rows].set_index("timestamp")["version"]
    versions.index = pd.DatetimeIndex(versions.index)
    return versions


BAD_AT_NOON = {
    "kind": "bad_deploy",
    "target": "app",
    "start": 0.5,
    "duration_s": 7200,
    "intensity": 0.8,
    "defect": "errors",
}


def kayenta() -> CanaryAnalysis:
    return build_canary_analysis(load_canary_policy("canary-kayenta"))


def test_a_rollback_verdict_takes_the_bad_version_out() -> None:
    telemetry = run([BAD_AT_NOON], kayenta())
    deploys = telemetry.deploys
    bad = deploys[deploys["bad"]].iloc[0]
    assert bad["verdict"] == "rollback" and bad["rolled_back"]
    assert bad["seconds_to_verdict"] == 300  # the first measurement fails
    assert bad["reason"].startswith("canary analysis rolled back")

    # from the step after the verdict the old version serves everything
    versions = app_versions(telemetry)
    start = pd.Timestamp(bad["timestamp"])
    ready = start + pd.Timedelta(minutes=2)  # 90 s start-up, one batch of pods
    back = ready + pd.Timedelta(seconds=bad["seconds_to_verdict"])
    live = versions[(versions.index >= start) & (versions.index < back)]
    assert (live == bad["version"]).all()
    assert versions[back] == bad["old_version"]
    rollbacks = telemetry.events[telemetry.events["kind"] == "rollback"]
    assert list(pd.to_datetime(rollbacks["timestamp"], utc=True)) == [back]

    # the fleet's error ratio is back to normal once the canary is gone
    wide = telemetry.wide()
    errors = wide["app:http_request_errors_total"] / wide["app:http_requests_total"]
    during = errors[(errors.index >= ready) & (errors.index < back)].mean()
    after = errors[(errors.index >= back) & (errors.index < back + pd.Timedelta("1h"))]
    assert during > 0.008  # 10 % of requests at a 12 % error ratio
    assert after.mean() < 0.002
    # the built-in controller, judging the same release, takes longer
    builtin = run([BAD_AT_NOON], None).deploys
    builtin_bad = builtin[builtin["bad"]].iloc[0]
    assert builtin_bad["seconds_to_verdict"] > bad["seconds_to_verdict"]
    assert builtin_bad["requests_on_new_version"] > bad["requests_on_new_version"]


def test_good_releases_are_promoted_when_the_analysis_says() -> None:
    document = load_canary_policy("canary-kayenta").model_copy(deep=True)
    quick = document.spec.model_copy(update={"count": 2})
    analysis = build_canary_analysis(document.model_copy(update={"spec": quick}))
    telemetry = run([], analysis)
    deploys = telemetry.deploys
    assert len(deploys) == 3  # 07:00, 13:00, 19:00
    assert (deploys["verdict"] == "promote").all()
    assert (deploys["seconds_to_verdict"] == 600).all()  # 2 x 5 min
    rollouts = telemetry.rollouts
    first = rollouts[
        (rollouts["version"] == deploys["version"].iloc[0])
        & (rollouts["timestamp"] < deploys["timestamp"].iloc[1])
    ]
    # the canary holds 10 % until the second measurement, then takes over
    assert first["traffic_ratio"].max() == pytest.approx(0.1)
    assert len(first) == 2 + 10  # booting, then ten minutes of canary


class AlwaysFails:
    def judge(self, canary: pd.DataFrame, baseline: pd.DataFrame) -> JudgeResult:
        return JudgeResult(score=0.0, verdict="fail", metrics=())


def test_a_good_release_rolled_back_leaves_the_old_version_in_service() -> None:
    telemetry = run([], CanaryAnalysis(AlwaysFails()))
    deploys = telemetry.deploys
    assert deploys["rolled_back"].all()
    # every release starts again from the version before the first one
    assert set(deploys["old_version"]) == {"2.3.0"}
    assert app_versions(telemetry).iloc[-1] == "2.3.0"


def test_cohort_samples_are_recorded_for_every_canary_release() -> None:
    telemetry = run([BAD_AT_NOON], None)
    samples = telemetry.canary_samples
    releases = set(telemetry.deploys["version"])
    assert set(samples["version"]) == releases
    assert set(samples["cohort"]) == {"canary", "baseline"}
    bad_version = telemetry.deploys.loc[telemetry.deploys["bad"], "version"].iloc[0]
    mine = samples[samples["version"] == bad_version]
    by_cohort = mine.groupby("cohort")["error_ratio"].mean()
    assert by_cohort["canary"] > 20 * by_cohort["baseline"]
    good = samples[samples["version"] != bad_version]
    ratio = good.groupby("cohort")["latency_p99_seconds"].median()
    assert ratio["canary"] / ratio["baseline"] == pytest.approx(1.0, abs=0.1)


def test_the_analysis_does_not_change_the_workload() -> None:
    judged = run([BAD_AT_NOON], kayenta())
    plain = run([BAD_AT_NOON], None)
    np.testing.assert_array_equal(
        judged.request_rate().to_numpy(), plain.request_rate().to_numpy()
    )

"""Scenario suites: many seeded variations of the profiles, judged alike.

A suite file lists scenarios, each a base profile with changes on top::

    name: default
    warmup_days: 7     # history the policies see but are not judged on
    days: 2            # the judged window of every scenario
    scenarios:
      - name: flash-crowd
        base: production
        seed: 106
        set: {workload: {noise: 0.08}}          # deep-merged into the base
        flash_crowds:
          - {at_hour: 14, duration_s: 1800, multiplier: 3.0, ramp_s: 120}
        faults:
          - {kind: bad_deploy, target: app, at_hour: 11, duration_s: 3600}

``at_hour`` counts hours from the start of the judged window, so a suite
reads the same whatever its warm-up. A scenario keeps none of its base's
faults or flash crowds; it gets exactly those it lists. Every scenario runs
``warmup_days + days`` days from ``start`` (the base's when omitted), which
gives a forecaster with a weekly lag its history before the judged window.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops.config import first_validation_error, read_yaml_mapping, scenarios_dir
from aiops.errors import ConfigError
from aiops.simulator.loading import load_scenario, parse_scenario
from aiops.simulator.spec import PROFILES, ScenarioSpec

HOUR_S = 3600.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimedFlashCrowd(_Strict):
    at_hour: float = Field(ge=0.0)
    duration_s: float = Field(gt=0.0)
    multiplier: float = Field(gt=1.0, le=20.0)
    ramp_s: float = Field(default=300.0, ge=0.0)


class TimedFault(_Strict):
    kind: str = Field(min_length=1)
    target: str = Field(min_length=1)
    at_hour: float = Field(ge=0.0)
    duration_s: float = Field(gt=0.0)
    intensity: float = Field(default=1.0, gt=0.0, le=1.0)
    onset: str = "abrupt"
    defect: str = "errors"


class SuiteEntry(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    base: str = Field(min_length=1)
    seed: int = Field(ge=0)
    description: str = ""
    start: dt.datetime | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    flash_crowds: list[TimedFlashCrowd] = Field(default_factory=list)
    faults: list[TimedFault] = Field(default_factory=list)


class SuiteSpec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    warmup_days: float = Field(default=7.0, ge=0.0, le=60.0)
    days: float = Field(default=2.0, gt=0.0, le=60.0)
    scenarios: list[SuiteEntry] = Field(min_length=1)


@dataclass(frozen=True)
class SuiteScenario:
    """One runnable scenario of a suite."""

    name: str
    description: str
    spec: ScenarioSpec
    seed: int
    days: float  # the whole run: warm-up and judged window
    judged_from: dt.datetime  # start of the judged window (UTC)

    @property
    def has_deploys(self) -> bool:
        deployment = self.spec.deployment
        bad = any(fault.kind == "bad_deploy" for fault in self.spec.faults)
        return bad or deployment.every_days is not None


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    scenarios: tuple[SuiteScenario, ...]
    source: str


def suites_dir() -> Path:
    return scenarios_dir() / "suites"


def load_suite(name_or_path: str | Path) -> Suite:
    """Load a suite by name (a file in ``data/scenarios/suites``) or path."""
    text = str(name_or_path)
    if (
        isinstance(name_or_path, Path)
        or text.endswith((".yaml", ".yml"))
        or ("/" in text)
    ):
        path = Path(name_or_path)
    else:
        path = suites_dir() / f"{text}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in suites_dir().glob("*.yaml"))
            raise ConfigError(
                f"unknown suite {text!r}; expected one of {', '.join(known)} "
                "or a path to a suite YAML file"
            )
    raw = read_yaml_mapping(path, "suite", "scenarios")
    try:
        suite = SuiteSpec.model_validate(raw)
    except ValidationError as error:
        detail = first_validation_error(error)
        raise ConfigError(f"suite {path.name}: {detail}") from None

    names = [entry.name for entry in suite.scenarios]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(
            f"suite {path.name}: scenario names {repeated} appear more than "
            "once; give every scenario its own name"
        )
    scenarios = tuple(_build(entry, suite, path) for entry in suite.scenarios)
    return Suite(suite.name, suite.description, scenarios, str(path))


def _build(entry: SuiteEntry, suite: SuiteSpec, path: Path) -> SuiteScenario:
    base_path = _base_path(entry.base, path)
    load_scenario(base_path)  # the base must be valid on its own
    raw = yaml.safe_load(base_path.read_text())
    merged = _deep_merge(raw, entry.set)
    workload = merged.get("workload")
    if not isinstance(workload, dict):
        raise ConfigError(
            f"suite {path.name}: scenario {entry.name!r}: workload = {workload!r}; "
            "expected a mapping of workload settings"
        )

    days = suite.warmup_days + suite.days
    total_s = days * 86400.0
    warmup_s = suite.warmup_days * 86400.0

    def fraction(at_hour: float, what: str, duration_s: float = 0.0) -> float:
        offset = warmup_s + at_hour * HOUR_S
        if at_hour * HOUR_S >= suite.days * 86400.0:
            raise ConfigError(
                f"suite {path.name}: scenario {entry.name!r}: {what} at_hour = "
                f"{at_hour:g} lies past the judged window of {suite.days * 24:g} "
                "hours; move it earlier or raise days"
            )
        if offset + duration_s > total_s:
            raise ConfigError(
                f"suite {path.name}: scenario {entry.name!r}: {what} at_hour = "
                f"{at_hour:g} lasting {duration_s:g} s runs past the end of the "
                f"judged window ({suite.days * 24:g} hours); start it earlier or "
                "shorten it"
            )
        return offset / total_s

    merged["name"] = entry.name
    merged["days"] = days
    if entry.description:
        merged["description"] = entry.description
    if entry.start is not None:
        merged["start"] = entry.start.isoformat()
    workload["flash_crowds"] = [
        {
            "start": fraction(crowd.at_hour, "flash crowd", crowd.duration_s),
            "duration_s": crowd.duration_s,
            "multiplier": crowd.multiplier,
            "ramp_s": crowd.ramp_s,
        }
        for crowd in entry.flash_crowds
    ]
    merged["faults"] = [
        {
            "kind": fault.kind,
            "target": fault.target,
            "start": fraction(fault.at_hour, f"fault {fault.kind}", fault.duration_s),
            "duration_s": fault.duration_s,
            "intensity": fault.intensity,
            "onset": fault.onset,
            "defect": fault.defect,
        }
        for fault in entry.faults
    ]
    merged.pop("random_faults", None)
    spec = parse_scenario(merged, source=f"{path.name}: {entry.name}")
    judged_from = spec.start + dt.timedelta(days=suite.warmup_days)
    return SuiteScenario(
        name=entry.name,
        description=spec.description,
        spec=spec,
        seed=entry.seed,
        days=days,
        judged_from=judged_from,
    )


def _base_path(base: str, suite_path: Path) -> Path:
    if base in PROFILES:
        return scenarios_dir() / f"{base}.yaml"
    candidate = Path(base)
    if not candidate.is_absolute():
        candidate = suite_path.parent / candidate
    if not candidate.is_file():
        raise ConfigError(
            f"suite {suite_path.name}: base {base!r} is neither a profile "
            f"({', '.join(PROFILES)}) nor a scenario file"
        )
    return candidate


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it; mappings merge, the rest replaces."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged

"""One fault at a time: scenarios that isolate a fault kind, and the views that
show its signature.

Used to check the fault catalogue (every kind must move the metrics it names)
and to draw it; a scenario here keeps the profile's system and workload but
drops its listed and random faults.
"""

from __future__ import annotations

import pandas as pd

from aiops.simulator.catalogue import FAULT_CATALOGUE, is_counter
from aiops.simulator.spec import FaultSpec, ScenarioSpec, _eligible_targets
from aiops.simulator.telemetry import Telemetry


def without_faults(spec: ScenarioSpec) -> ScenarioSpec:
    """The same system and workload with no listed or random faults."""
    return spec.model_copy(update={"faults": [], "random_faults": None})


def with_one_fault(
    spec: ScenarioSpec,
    kind: str,
    target: str,
    days: float,
    start: float = 0.5,
    hours: float = 3.0,
    intensity: float = 0.8,
) -> ScenarioSpec:
    """Only one fault: ``kind`` on ``target`` for ``hours`` of a ``days`` run,
    from ``start`` (a fraction of the run)."""
    # Durations are given at the scenario's nominal length and shrink with it.
    fault = FaultSpec.model_validate(
        {
            "kind": kind,
            "target": target,
            "start": start,
            "duration_s": hours * 3600.0 * spec.days / days,
            "intensity": intensity,
        }
    )
    return spec.model_copy(update={"faults": [fault], "random_faults": None})


def fault_targets(spec: ScenarioSpec, kind: str) -> list[str]:
    """Targets in ``spec`` that a ``kind`` fault may hit and show in."""
    return _eligible_targets(spec, kind)


def target_kind(spec: ScenarioSpec, target: str) -> str:
    """The catalogue's kind of a fault target: a service kind or ``region``."""
    return "region" if target in spec.region_names else spec.services[target].kind


def signatures(
    spec: ScenarioSpec, kind: str, target: str
) -> tuple[tuple[str, int], ...]:
    """(metric, direction) pairs in which ``kind`` shows on ``target``."""
    return FAULT_CATALOGUE[kind].signatures[target_kind(spec, target)]


def per_step(telemetry: Telemetry, target: str) -> pd.DataFrame:
    """Wide per-step metrics of a service (summed over regions) or of the app
    fleet in a region; counters as increments per step."""
    metrics = telemetry.metrics
    if target in set(metrics["service"]):
        chosen = metrics[metrics["service"] == target]
    else:
        chosen = metrics[(metrics["region"] == target) & (metrics["service"] == "app")]
    wide = chosen.pivot_table(
        index="timestamp", columns="metric", values="value", aggfunc="sum"
    )
    for metric in wide.columns:
        if is_counter(metric):
            wide[metric] = wide[metric].diff().fillna(wide[metric])
    return wide

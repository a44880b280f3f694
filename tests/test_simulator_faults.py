"""Every fault kind on every target it may hit: its label span is exact, the
metrics before it are untouched, and its signature shows while it lasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aiops.simulator import Telemetry, load_scenario, simulate
from aiops.simulator.catalogue import FAULT_CATALOGUE, FAULT_KINDS, is_counter
from aiops.simulator.spec import FaultSpec, ScenarioSpec, _eligible_targets

SEED = 3
DAYS = 1.0
PROFILES = ("production", "experimental")
# Smallest relative move of a signature metric over the incident's span.
MIN_CHANGE = 0.05


def quiet(profile: str, faults: list[FaultSpec]) -> ScenarioSpec:
    """The profile with only ``faults``: no random draws, no planned releases."""
    spec = load_scenario(profile)
    return spec.model_copy(update={"faults": faults, "random_faults": None})


def one_fault(profile: str, kind: str, target: str) -> FaultSpec:
    spec = load_scenario(profile)
    # three hours of a one-day run; durations are given at the nominal length
    return FaultSpec(
        kind=kind,
        target=target,
        start=0.5,
        duration_s=3 * 3600.0 * spec.days / DAYS,
        intensity=0.8,
    )


CASES = [
    pytest.param(profile, kind, target, id=f"{profile}-{kind}-{target}")
    for profile in PROFILES
    for kind in FAULT_KINDS
    for target in _eligible_targets(load_scenario(profile), kind)
]


@pytest.fixture(scope="module")
def baselines() -> dict[str, Telemetry]:
    return {p: simulate(quiet(p, []), days=DAYS, seed=SEED) for p in PROFILES}


def per_step(telemetry: Telemetry, target: str) -> pd.DataFrame:
    """Wide per-step metrics of a service (summed over regions), or of the
    app fleet in a region; counters as increments per step."""
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


def test_every_kind_has_a_target_somewhere() -> None:
    covered = {kind for _, kind, _ in (case.values for case in CASES)}
    assert covered == set(FAULT_KINDS)


@pytest.mark.parametrize(("profile", "kind", "target"), CASES)
def test_fault_signature_and_label_span(
    baselines: dict[str, Telemetry], profile: str, kind: str, target: str
) -> None:
    fault = one_fault(profile, kind, target)
    telemetry = simulate(quiet(profile, [fault]), days=DAYS, seed=SEED)

    (incident,) = telemetry.incidents.itertuples()
    assert (incident.kind, incident.target) == (kind, target)
    lasted = incident.end - incident.start
    if kind == "bad_deploy":
        # an automated rollback ends a bad release early
        assert pd.Timedelta(minutes=5) <= lasted <= pd.Timedelta(hours=3)
    else:
        assert lasted == pd.Timedelta(hours=3)
    labels = telemetry.labels.set_index("timestamp")
    inside = (labels.index >= incident.start) & (labels.index < incident.end)
    assert (labels["anomaly"].to_numpy() == inside).all()
    assert set(labels.loc[inside, "incident_id"]) == {incident.id}

    faulty = per_step(telemetry, target)
    quiet_run = per_step(baselines[profile], target)
    before = faulty.index < incident.start
    np.testing.assert_allclose(faulty[before], quiet_run[before], rtol=1e-9)

    span = (faulty.index >= incident.start) & (faulty.index < incident.end)
    target_kind = (
        "region" if target in load_scenario(profile).region_names else None
    ) or load_scenario(profile).services[target].kind
    signatures = FAULT_CATALOGUE[kind].signatures[target_kind]
    if kind == "bad_deploy":
        # the default defect of a bad release is an error spike
        signatures = (("http_request_errors_total", 1),)
    shown = [(m, d) for m, d in signatures if m in faulty.columns]
    assert shown, f"{target} emits no signature metric of {kind}"
    for metric, direction in shown:
        was = quiet_run.loc[span, metric].mean()
        now = faulty.loc[span, metric].mean()
        # a metric quiet in the baseline (a lag of zero) is judged in its units
        change = direction * (now - was) / (abs(was) or 1.0)
        assert change > MIN_CHANGE, f"{metric}: {was:.4g} -> {now:.4g}"

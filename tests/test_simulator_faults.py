"""Every fault kind on every target it may hit: its label span is exact, the
metrics before it are untouched, and its signature shows while it lasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aiops.simulator import Telemetry, load_scenario, simulate
from aiops.simulator.catalogue import FAULT_KINDS
from aiops.simulator.showcase import (
    fault_targets,
    per_step,
    signatures,
    with_one_fault,
    without_faults,
)

SEED = 3
DAYS = 1.0
PROFILES = ("production", "experimental")
# Smallest relative move of a signature metric over the incident's span.
MIN_CHANGE = 0.05

CASES = [
    pytest.param(profile, kind, target, id=f"{profile}-{kind}-{target}")
    for profile in PROFILES
    for kind in FAULT_KINDS
    for target in fault_targets(load_scenario(profile), kind)
]


@pytest.fixture(scope="module")
def baselines() -> dict[str, Telemetry]:
    return {
        p: simulate(without_faults(load_scenario(p)), days=DAYS, seed=SEED)
        for p in PROFILES
    }


def test_every_kind_has_a_target_somewhere() -> None:
    covered = {case.values[1] for case in CASES}
    assert covered == set(FAULT_KINDS)


@pytest.mark.parametrize(("profile", "kind", "target"), CASES)
def test_fault_signature_and_label_span(
    baselines: dict[str, Telemetry], profile: str, kind: str, target: str
) -> None:
    spec = load_scenario(profile)
    telemetry = simulate(with_one_fault(spec, kind, target, DAYS), DAYS, SEED)

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
    quiet = per_step(baselines[profile], target)
    before = faulty.index < incident.start
    np.testing.assert_allclose(faulty[before], quiet[before], rtol=1e-9)

    span = (faulty.index >= incident.start) & (faulty.index < incident.end)
    shown = signatures(spec, kind, target)
    if kind == "bad_deploy":
        # the default defect of a bad release is an error spike
        shown = (("http_request_errors_total", 1),)
    shown = tuple((m, d) for m, d in shown if m in faulty.columns)
    assert shown, f"{target} emits no signature metric of {kind}"
    for metric, direction in shown:
        was = quiet.loc[span, metric].mean()
        now = faulty.loc[span, metric].mean()
        # a metric quiet in the baseline (a lag of zero) is judged in its units
        change = direction * (now - was) / (abs(was) or 1.0)
        assert change > MIN_CHANGE, f"{metric}: {was:.4g} -> {now:.4g}"

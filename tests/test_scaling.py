"""Scaling policies: the Kubernetes HPA algorithm and predictive scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aiops.scaling import (
    HorizontalPodAutoscaler,
    Observation,
    PredictiveScaling,
    ScalingPolicy,
)


def observe(
    replicas: int = 10,
    utilization: float = 0.6,
    time_s: float = 0.0,
    ready: int | None = None,
    step: int = 0,
    request_rate: float = 600.0,
    share: float = 1.0,
) -> Observation:
    return Observation(
        step=step,
        time_s=time_s,
        service="app",
        replicas=replicas,
        ready_replicas=replicas if ready is None else ready,
        utilization=utilization,
        request_rate=request_rate,
        capacity_per_replica=100.0,
        target_utilization=0.6,
        min_replicas=2,
        max_replicas=30,
        traffic_share=share,
    )


@pytest.mark.parametrize(
    ("utilization", "expected"),
    [
        (0.60, 10),  # on target
        (0.65, 10),  # ratio 1.083: inside the 10 % tolerance
        (0.54, 10),  # ratio 0.9: on the tolerance edge, no change
        (0.70, 12),  # ceil(10 * 0.7 / 0.6) = ceil(11.67)
        (0.90, 15),  # ceil(10 * 1.5)
        (1.00, 17),  # ceil(16.67)
    ],
)
def test_hpa_follows_the_kubernetes_formula(utilization: float, expected: int) -> None:
    assert HorizontalPodAutoscaler().decide(observe(10, utilization)) == expected


def test_hpa_clamps_to_min_and_max_replicas() -> None:
    assert HorizontalPodAutoscaler().decide(observe(25, 1.0)) == 30
    assert (
        HorizontalPodAutoscaler(scale_down_stabilization_s=0).decide(observe(4, 0.05))
        == 2
    )


def test_hpa_scale_down_waits_for_the_stabilisation_window() -> None:
    hpa = HorizontalPodAutoscaler(scale_down_stabilization_s=300.0)
    assert hpa.decide(observe(10, 0.9, time_s=0)) == 15  # scale-up is immediate
    # load falls: the recommendation is 5, but 15 is still inside the window
    assert hpa.decide(observe(15, 0.2, time_s=60)) == 15
    assert hpa.decide(observe(15, 0.2, time_s=300)) == 15
    # at t=360 the t=0 recommendation has left the window: all recent ones say 5
    assert hpa.decide(observe(15, 0.2, time_s=360)) == 5


def test_hpa_counts_booting_replicas_as_idle_when_scaling_up() -> None:
    hpa = HorizontalPodAutoscaler()
    # 5 of 10 ready at 90 %: with the booting 5 at 0 % the ratio is 0.75 < 1
    assert hpa.decide(observe(10, 0.9, ready=5)) == 10
    # all ready at 90 %: scale up
    assert hpa.decide(observe(10, 0.9, ready=10)) == 15


def test_hpa_target_override_and_reset() -> None:
    hpa = HorizontalPodAutoscaler(target_utilization=0.5)
    assert hpa.decide(observe(10, 0.6)) == 12
    hpa.reset()
    assert isinstance(hpa, ScalingPolicy)


def test_predictive_scales_ahead_of_the_forecast() -> None:
    forecast = np.array([1800.0, 1800.0])
    policy = PredictiveScaling(forecast, lead_steps=2)
    policy.reset()
    # ceil(1800 / (100 * 0.6)) = 30 > reactive 10
    assert policy.decide(observe(10, 0.6, step=0)) == 30
    # traffic share scales the entry forecast to the fleet
    assert policy.decide(observe(10, 0.6, step=1, share=0.5)) == 15


def test_predictive_never_scales_below_the_reactive_policy() -> None:
    policy = PredictiveScaling(np.array([10.0, 10.0, 10.0]), lead_steps=1)
    policy.reset()
    reactive = HorizontalPodAutoscaler()
    for step, utilization in enumerate([0.9, 0.6, 0.7]):
        obs = observe(10, utilization, step=step, time_s=60.0 * step)
        assert policy.decide(obs) == reactive.decide(obs)


@pytest.mark.parametrize(
    ("forecast", "step", "staleness", "falls_back"),
    [
        (np.array([math.nan, 3000.0]), 0, 0, True),  # NaN
        (np.array([3000.0]), 5, 0, True),  # past the end of the forecast
        (np.array([3000.0, math.nan]), 1, 0, True),  # stale, not allowed
        (np.array([3000.0, math.nan]), 1, 1, False),  # one step old is fine
    ],
)
def test_predictive_falls_back_on_missing_or_stale_forecasts(
    forecast: np.ndarray, step: int, staleness: int, falls_back: bool
) -> None:
    policy = PredictiveScaling(
        forecast,
        lead_steps=2,
        max_staleness_steps=staleness,
        fallback=HorizontalPodAutoscaler(),
    )
    policy.reset()
    decided = policy.decide(observe(10, 0.6, step=step))
    assert decided == (10 if falls_back else 30)
    assert policy.fallback_decisions == (1 if falls_back else 0)

"""Scaling policies: the Kubernetes HPA algorithm and predictive scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aiops.errors import ConfigError
from aiops.scaling import (
    HorizontalPodAutoscaler,
    LargestOf,
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


def test_predictive_never_scales_in_on_the_forecast_alone() -> None:
    # the forecast says 60 req/s ahead, but 600 req/s are arriving now
    policy = PredictiveScaling(np.full(10, 60.0), lead_steps=1, surprise_ratio=math.inf)
    policy.reset()
    assert policy.decide(observe(10, 0.6, step=0, request_rate=600.0)) == 10
    # both agree the load is gone, but a request for 10 is still in the window
    quiet = observe(10, 0.06, step=1, time_s=60.0, request_rate=60.0)
    assert policy.decide(quiet) == 10
    # once the scale-in window has passed, it scales in to what both need
    later = observe(10, 0.06, step=6, time_s=360.0, request_rate=60.0)
    assert policy.decide(later) == 2  # ceil(60 / 60) = 1, clamped to min 2


def test_predictive_adds_the_reactive_request_when_surprised() -> None:
    # forecast 600 for every step; 900 arrive at step 3 (1.5x the forecast)
    policy = PredictiveScaling(
        np.full(10, 600.0), lead_steps=2, target_utilization=0.9, surprise_ratio=1.1
    )
    policy.reset()
    calm = observe(10, 0.6, step=3, time_s=180.0, request_rate=600.0)
    assert not policy.is_surprised(calm)
    assert policy.decide(calm) == 7  # ceil(600 / 90)
    surge = observe(7, 1.0, step=4, time_s=240.0, request_rate=900.0)
    assert policy.is_surprised(surge)
    # the present load at the fallback HPA's headroom: ceil(900 / 60) = 15
    assert policy.decide(surge) == 15
    assert policy.surprised_decisions == 1


def test_predictive_calibrates_a_biased_forecast_online() -> None:
    # the forecast is 20 % short of the 600 req/s that arrive, until it
    # foresees a rise to 1000 at the last step
    n = 200
    forecast = np.full(n, 500.0)
    forecast[-1] = 1000.0
    policy = PredictiveScaling(
        forecast,
        lead_steps=1,
        target_utilization=1.0,
        surprise_ratio=math.inf,
        calibration_window_s=3600.0 * 6,
        calibration_quantile=0.99,
    )
    policy.reset()
    decided = [
        policy.decide(observe(10, 0.6, step=k, time_s=60.0 * k, request_rate=600.0))
        for k in range(n)
    ]
    # uncalibrated it would ask for ceil(1000 / 100) = 10; calibrated, the
    # forecast is scaled by 600 / 500
    assert decided[-1] == 12
    assert policy.calibration(observe(step=n, time_s=60.0 * n)) == pytest.approx(1.2)
    uncalibrated = PredictiveScaling(
        forecast, lead_steps=1, target_utilization=1.0, surprise_ratio=math.inf
    )
    uncalibrated.reset()
    assert uncalibrated.decide(observe(10, step=n - 1, request_rate=600.0)) == 10


def test_largest_of_takes_the_larger_request() -> None:
    forecast = np.full(5, 1800.0)
    combined = LargestOf(
        HorizontalPodAutoscaler(), PredictiveScaling(forecast, lead_steps=1)
    )
    combined.reset()
    assert combined.decide(observe(10, 0.9)) == 30  # forecast 30 > HPA 15
    with pytest.raises(ConfigError, match="at least one policy"):
        LargestOf()


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


def test_a_surge_does_not_inflate_the_calibration() -> None:
    # the forecast is right (ratio 1.0) except for 30 steps of a surge at 2x
    n = 200
    rates = np.full(n, 500.0)
    rates[100:130] = 1000.0

    def calibration_after(max_ratio: float) -> float:
        policy = PredictiveScaling(
            np.full(n, 500.0),
            lead_steps=1,
            surprise_ratio=math.inf,
            calibration_window_s=3600.0 * 6,
            calibration_quantile=0.99,
            calibration_max_ratio=max_ratio,
        )
        policy.reset()
        for k in range(n):
            policy.decide(observe(10, step=k, time_s=60.0 * k, request_rate=rates[k]))
        return policy.calibration(observe(step=n, time_s=60.0 * n, request_rate=500.0))

    assert calibration_after(math.inf) == pytest.approx(2.0)  # held up for hours
    assert calibration_after(1.3) == pytest.approx(1.0)

"""Scaling policies the simulator calls in closed loop.

Every decision interval the simulator hands each autoscaled service's policy an
:class:`Observation` and applies the desired replica count it returns; new
replicas become ready only after the service's start-up delay.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from aiops.errors import ConfigError


@dataclass(frozen=True)
class Observation:
    """What a policy sees about one service at one decision step.

    ``utilization`` is the average CPU utilisation of the ready replicas (0-1);
    ``request_rate`` the offered load of this service in req/s; and
    ``traffic_share`` the fraction of the entry traffic this fleet receives
    (1.0 for a single-region fleet), so a forecast of the entry load can be
    scaled to it.
    """

    step: int
    time_s: float
    service: str
    replicas: int
    ready_replicas: int
    utilization: float
    request_rate: float
    capacity_per_replica: float
    target_utilization: float
    min_replicas: int
    max_replicas: int
    traffic_share: float = 1.0


@runtime_checkable
class ScalingPolicy(Protocol):
    """A policy maps an observation to a desired replica count."""

    name: str

    def decide(self, obs: Observation) -> int: ...

    def reset(self) -> None: ...


def clamp_replicas(desired: int, obs: Observation) -> int:
    return max(obs.min_replicas, min(obs.max_replicas, desired))


def stabilise(
    window: deque[tuple[float, int]],
    obs: Observation,
    desired: int,
    stabilization_s: float,
) -> int:
    """Scale in only to the highest request of the last ``stabilization_s``
    seconds (``window`` keeps them); scale out at once."""
    window.append((obs.time_s, desired))
    while window and window[0][0] < obs.time_s - stabilization_s:
        window.popleft()
    if desired < obs.replicas:
        highest = max(requested for _, requested in window)
        return min(obs.replicas, highest)
    return desired


class HorizontalPodAutoscaler:
    """The Kubernetes HPA algorithm on CPU utilisation.

    ``desired = ceil(replicas * utilization / target)``, left unchanged while
    the ratio is within ``tolerance`` of 1. Replicas that are not ready yet
    count as idle when scaling up, as Kubernetes does, so the policy does not
    keep adding pods while earlier ones boot. Scale-up is immediate; scale-down
    takes the highest recommendation of the last ``scale_down_stabilization_s``
    seconds. The result is clamped to the service's min/max replicas.

    Parameters
    ----------
    target_utilization : overrides the service's target when given.
    tolerance : relative band around the target with no change.
    scale_down_stabilization_s : look-back window for scale-down decisions.
    """

    name = "hpa"

    def __init__(
        self,
        target_utilization: float | None = None,
        tolerance: float = 0.1,
        scale_down_stabilization_s: float = 300.0,
    ) -> None:
        self.target_utilization = target_utilization
        self.tolerance = tolerance
        self.scale_down_stabilization_s = scale_down_stabilization_s
        self._recommendations: deque[tuple[float, int]] = deque()

    def reset(self) -> None:
        self._recommendations.clear()

    def recommend(self, obs: Observation) -> int:
        """Raw recommendation before stabilisation and clamping."""
        target = self.target_utilization or obs.target_utilization
        if obs.ready_replicas <= 0:
            # nothing ready to measure: keep what is already on its way
            return obs.replicas
        ratio = obs.utilization / target
        if ratio > 1.0 and obs.ready_replicas < obs.replicas:
            # pods still starting are assumed idle
            ratio = obs.utilization * obs.ready_replicas / obs.replicas / target
            if ratio <= 1.0:
                return obs.replicas
        if abs(ratio - 1.0) <= self.tolerance:
            return obs.replicas
        return math.ceil(obs.replicas * ratio - 1e-9)

    def decide(self, obs: Observation) -> int:
        desired = stabilise(
            self._recommendations,
            obs,
            self.recommend(obs),
            self.scale_down_stabilization_s,
        )
        return clamp_replicas(desired, obs)


class PredictiveScaling:
    """Scale ahead of a load forecast, with AWS-style safeguards.

    ``forecast[step]`` is the load (req/s at the entry, scaled by the fleet's
    traffic share) predicted at ``step`` for ``step + lead_steps``; a Series is
    read by position, aligned with the simulation steps. The policy asks for
    enough replicas to serve that load at ``target_utilization``, and because
    it provisions ahead it can run hotter than a reactive policy, which needs
    headroom for the load that arrives while its replicas boot.

    Two safeguards, as in AWS predictive scaling:

    * a forecast alone never scales in: the request also covers the load
      observed now, so the fleet shrinks only when the forecast and the
      present agree, and then only to the highest request of the last
      ``scale_in_stabilization_s`` seconds;
    * where the forecast is missing, NaN, or its last value is older than
      ``max_staleness_steps``, the reactive ``fallback`` decides alone;
    * where the load now is more than ``surprise_ratio`` times what the
      forecast made ``lead_steps`` ago expected for now (a surge nobody
      forecast), the forecast is wrong for the moment: the policy also asks
      for what the fallback asks and for the present load at the fallback's
      headroom, until the scale-in window has passed.

    Parameters
    ----------
    forecast : load forecast per step, req/s.
    lead_steps : how far ahead each forecast looks (for reporting; the caller
        aligns the array).
    target_utilization : overrides the service's target when given.
    max_staleness_steps : how many steps an earlier forecast may stand in for
        a missing one.
    fallback : the reactive policy; a fresh HPA when omitted.
    scale_in_stabilization_s : look-back window for scale-in requests.
    surprise_ratio : present load over its forecast beyond which the policy
        stops trusting the forecast; ``inf`` trusts it always.
    """

    name = "predictive"

    def __init__(
        self,
        forecast: np.ndarray | pd.Series,
        lead_steps: int,
        target_utilization: float | None = None,
        max_staleness_steps: int = 0,
        fallback: HorizontalPodAutoscaler | None = None,
        scale_in_stabilization_s: float = 300.0,
        surprise_ratio: float = 1.1,
        calibration_window_s: float = 0.0,
        calibration_quantile: float = 0.99,
        calibration_max_ratio: float = math.inf,
    ) -> None:
        self.forecast = forecast
        self.lead_steps = lead_steps
        self.target_utilization = target_utilization
        self.max_staleness_steps = max_staleness_steps
        self.fallback = fallback
        self.scale_in_stabilization_s = scale_in_stabilization_s
        self.surprise_ratio = surprise_ratio
        self.calibration_window_s = calibration_window_s
        self.calibration_quantile = calibration_quantile
        self.calibration_max_ratio = calibration_max_ratio
        self._errors: deque[tuple[float, float]] = deque()
        self._ranked: list[float] = []  # the same ratios, sorted
        self._values: np.ndarray | None = None
        self._reactive: HorizontalPodAutoscaler | None = None
        self._requests: deque[tuple[float, int]] = deque()
        self.fallback_decisions = 0
        self.surprised_decisions = 0

    def _prepare(self) -> None:
        values = np.asarray(self.forecast, dtype=float).reshape(-1)
        if self.lead_steps < 0:
            raise ConfigError(
                f"lead_steps = {self.lead_steps}; expected an integer >= 0"
            )
        self._values = values
        self._reactive = self.fallback or HorizontalPodAutoscaler()

    def reset(self) -> None:
        self._prepare()
        assert self._reactive is not None
        self._reactive.reset()
        self._requests.clear()
        self._errors.clear()
        self._ranked.clear()
        self.fallback_decisions = 0
        self.surprised_decisions = 0

    def forecast_at(self, step: int) -> float | None:
        """The usable forecast for ``step``, or None when missing or stale."""
        if self._values is None:
            self._prepare()
        values = self._values
        assert values is not None
        oldest = max(0, step - self.max_staleness_steps)
        for index in range(min(step, values.size - 1), oldest - 1, -1):
            if np.isfinite(values[index]):
                return float(values[index])
        return None

    def recommend(self, obs: Observation) -> int | None:
        """Replicas for the forecast and the present load, before
        stabilisation; None when the forecast is missing or stale."""
        predicted_load = self.forecast_at(obs.step)
        if predicted_load is None:
            return None
        target = self.target_utilization or obs.target_utilization
        per_replica = obs.capacity_per_replica * target
        ahead = max(predicted_load, 0.0) * obs.traffic_share * self.calibration(obs)
        load = max(ahead, obs.request_rate, 0.0)
        return math.ceil(load / per_replica - 1e-9)

    def calibration(self, obs: Observation) -> float:
        """Factor that makes the forecast cover the load it should.

        Over the last ``calibration_window_s`` the policy compares the load
        it saw with what was forecast for that moment; the factor is the
        ``calibration_quantile`` of their ratio, so the forecast times the
        factor would have covered that share of recent load. Off (1.0) with a
        zero window, and until an hour of ratios has been seen.
        """
        if self.calibration_window_s <= 0 or obs.step < self.lead_steps:
            return 1.0
        errors, ranked = self._errors, self._ranked
        expected = self.forecast_at(obs.step - self.lead_steps)
        if expected is not None and expected > 0 and obs.traffic_share > 0:
            ratio = obs.request_rate / (expected * obs.traffic_share)
            # a surge far past the forecast is not its everyday error: left
            # in, it would hold the fleet up for a whole window after
            if ratio <= self.calibration_max_ratio:
                errors.append((obs.time_s, ratio))
                bisect.insort(ranked, ratio)
        while errors and errors[0][0] < obs.time_s - self.calibration_window_s:
            _, gone = errors.popleft()
            del ranked[bisect.bisect_left(ranked, gone)]
        if len(ranked) < 60:
            return 1.0
        # numpy's linear-interpolation quantile, on the ratios kept sorted
        position = self.calibration_quantile * (len(ranked) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ranked) - 1)
        return ranked[low] + (ranked[high] - ranked[low]) * (position - low)

    def is_surprised(self, obs: Observation) -> bool:
        """Whether the load now is beyond what was forecast for now."""
        if not math.isfinite(self.surprise_ratio) or obs.step < self.lead_steps:
            return False
        expected = self.forecast_at(obs.step - self.lead_steps)
        if expected is None:
            return False
        return obs.request_rate > self.surprise_ratio * expected * obs.traffic_share

    def decide(self, obs: Observation) -> int:
        if self._reactive is None:
            self._prepare()
        assert self._reactive is not None
        # the fallback sees every observation, so it is warm when needed
        reactive = self._reactive.decide(obs)
        desired = self.recommend(obs)
        if desired is None:
            self.fallback_decisions += 1
            self._requests.clear()
            return reactive
        if self.is_surprised(obs):
            self.surprised_decisions += 1
            headroom = self._reactive.target_utilization or obs.target_utilization
            present = obs.request_rate / (obs.capacity_per_replica * headroom)
            desired = max(desired, reactive, math.ceil(present - 1e-9))

        desired = stabilise(self._requests, obs, desired, self.scale_in_stabilization_s)
        return clamp_replicas(desired, obs)


class LargestOf:
    """The larger of several policies' requests: predictive scaling with a
    reactive policy beside it, so load the forecast missed is still met."""

    def __init__(self, *policies: ScalingPolicy, name: str = "combined") -> None:
        if not policies:
            raise ConfigError("LargestOf needs at least one policy; got none")
        self.policies = policies
        self.name = name

    def reset(self) -> None:
        for policy in self.policies:
            policy.reset()

    def decide(self, obs: Observation) -> int:
        return max(policy.decide(obs) for policy in self.policies)

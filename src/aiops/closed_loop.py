"""Judge scaling policies in closed loop on a scenario suite.

Every policy runs every scenario with the scenario's seed, so two runs differ
only in who decides the replica counts. Each run is scored on its judged
window (after the warm-up) by what an operator pays and what users feel:

* cost of the autoscaled fleet: replica-hours, and dollars by cloud at each
  region's price (the fixed services cost the same under every policy and
  are left out so they do not dilute the comparison);
* SLO-violation minutes against the scenario's p99-latency and error-ratio
  objectives, measured at the entry point;
* requests dropped for want of capacity, and scaling actions taken;
* the policy's own time per decision.

The load is exogenous in the simulator (replicas do not change demand), so a
forecast made for every origin at once from the observed load equals one made
online, one decision at a time, without looking ahead.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aiops.errors import ConfigError
from aiops.policies import ScalingPolicyDocument, build_policy, forecast_quantile
from aiops.scaling import HorizontalPodAutoscaler, Observation, ScalingPolicy
from aiops.simulator import Telemetry, simulate
from aiops.suite import Suite, SuiteScenario

logger = logging.getLogger(__name__)

# figures summed over a suite; the rest are averaged or recomputed
ADDITIVE = (
    "replica_hours",
    "cost_usd",
    "slo_violation_minutes",
    "latency_slo_minutes",
    "error_slo_minutes",
    "dropped_requests",
    "scaling_actions",
    "decisions",
    "decision_seconds",
    "fallback_decisions",
)


class Stopwatch:
    """Time and counts shared by every copy of a :class:`TimedPolicy` (the
    simulator runs its own copy of the policy per fleet); decisions before
    ``from_s`` (the warm-up) are not counted."""

    def __init__(self, from_s: float = 0.0) -> None:
        self.from_s = from_s
        self.seconds = 0.0
        self.decisions = 0
        self.fallbacks = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> Stopwatch:
        return self

    def as_dict(self) -> dict[str, float]:
        return {
            "decisions": float(self.decisions),
            "decision_seconds": self.seconds,
            "fallback_decisions": float(self.fallbacks),
        }


class TimedPolicy:
    """Wraps a policy and measures the time its decisions take."""

    def __init__(self, policy: ScalingPolicy, stopwatch: Stopwatch) -> None:
        self.policy = policy
        self.name = policy.name
        self.stopwatch = stopwatch
        self._fallbacks = 0

    def reset(self) -> None:
        self.policy.reset()
        self._fallbacks = 0

    def decide(self, obs: Observation) -> int:
        began = time.perf_counter()
        desired = self.policy.decide(obs)
        spent = time.perf_counter() - began
        fallbacks = _fallbacks(self.policy)
        if obs.time_s >= self.stopwatch.from_s:
            self.stopwatch.seconds += spent
            self.stopwatch.decisions += 1
            self.stopwatch.fallbacks += fallbacks - self._fallbacks
        self._fallbacks = fallbacks
        return desired


def _fallbacks(policy: Any) -> int:
    """Decisions a predictive policy (or one inside a combination) left to
    its reactive fallback."""
    own = int(getattr(policy, "fallback_decisions", 0))
    return own + sum(_fallbacks(inner) for inner in getattr(policy, "policies", ()))


@dataclass
class PolicyOutcome:
    """One policy on one scenario."""

    scenario: str
    policy: str
    metrics: dict[str, float]
    cost_by_cloud: dict[str, float]
    replicas: pd.Series
    load: pd.Series
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            **self.metrics,
            "cost_usd_by_cloud": self.cost_by_cloud,
            **self.extra,
        }


def forecast_load(
    forecaster: Any, load: pd.Series, lead_steps: int, quantile: float
) -> np.ndarray:
    """Forecast of the entry load ``lead_steps`` ahead, at every origin."""
    forecast = forecaster.forecast_at_lead(load, lead_steps, quantile=quantile)
    return np.asarray(forecast.to_numpy(dtype="float64"))


def lead_steps_of(scenario: SuiteScenario) -> int:
    """Steps from a decision to serving replicas: start-up delay plus one
    decision interval."""
    spec = scenario.spec
    app = spec.services[spec.service_of_kind("app") or ""]
    lead_s = app.startup_delay_s + spec.decision_interval_s
    return max(1, math.ceil(lead_s / spec.step_s))


def run_scaling_suite(
    suite: Suite,
    policies: Mapping[str, ScalingPolicyDocument],
    forecaster: Any | None = None,
) -> list[PolicyOutcome]:
    """Run every scaling policy on every scenario of ``suite``."""
    needs_forecast = {
        name: quantile
        for name, document in policies.items()
        if (quantile := forecast_quantile(document)) is not None
    }
    if needs_forecast and forecaster is None:
        raise ConfigError(
            f"policies {sorted(needs_forecast)} scale on a load forecast; "
            "train and register a forecaster first (`aiops train forecaster`)"
        )

    for scenario in suite.scenarios:
        app = scenario.spec.services[scenario.spec.service_of_kind("app") or ""]
        if app.autoscaling is None:
            raise ConfigError(
                f"scenario {scenario.name!r}: its app fleet is not autoscaled, so "
                "a scaling policy has nothing to decide; give it autoscaling or "
                "leave it out (--scenarios)"
            )
    outcomes: list[PolicyOutcome] = []
    for scenario in suite.scenarios:
        began = time.perf_counter()
        forecasts: dict[float, np.ndarray] = {}
        lead = lead_steps_of(scenario)
        if needs_forecast:
            load = observed_load(scenario)
            for quantile in sorted(set(needs_forecast.values())):
                forecasts[quantile] = forecast_load(forecaster, load, lead, quantile)
        for name, document in policies.items():
            quantile = forecast_quantile(document)
            policy = build_policy(
                document,
                forecast=None if quantile is None else forecasts[quantile],
                lead_steps=lead,
            )
            outcomes.append(run_policy(scenario, name, policy))
        logger.info(
            "scenario %s: %d policies in %.2f s",
            scenario.name,
            len(policies),
            time.perf_counter() - began,
        )
    return outcomes


def observed_load(scenario: SuiteScenario) -> pd.Series:
    """The entry's request rate over the whole run (any policy sees the same)."""
    telemetry = simulate(
        scenario.spec,
        days=scenario.days,
        seed=scenario.seed,
        policy=HorizontalPodAutoscaler(),
        logs=False,
    )
    return telemetry.request_rate()


def run_policy(
    scenario: SuiteScenario, name: str, policy: ScalingPolicy
) -> PolicyOutcome:
    """Simulate ``scenario`` under ``policy`` and score its judged window."""
    warmup_s = (scenario.judged_from - scenario.spec.start).total_seconds()
    stopwatch = Stopwatch(from_s=warmup_s)
    telemetry = simulate(
        scenario.spec,
        days=scenario.days,
        seed=scenario.seed,
        policy=TimedPolicy(policy, stopwatch),
        logs=False,
    )
    return score_run(scenario, name, telemetry, decisions=stopwatch.as_dict())


def score_run(
    scenario: SuiteScenario,
    name: str,
    telemetry: Telemetry,
    decisions: Mapping[str, float] | None = None,
) -> PolicyOutcome:
    """Cost, SLO and scaling figures of a run's judged window."""
    spec = scenario.spec
    judged = telemetry.index >= pd.Timestamp(scenario.judged_from)
    wide = telemetry.wide().loc[judged]
    step_h = telemetry.step_s / 3600.0
    app = spec.service_of_kind("app") or ""
    entry = spec.service_of_kind("entry") or ""

    clouds = {region.name: region.cloud for region in spec.regions}
    prices = {region.name: region.price_per_replica_hour for region in spec.regions}
    prefix = f"{app}:kube_deployment_replicas"
    replica_hours = 0.0
    cost_by_cloud: dict[str, float] = {}
    replicas = pd.Series(0.0, index=wide.index)
    for column in wide.columns:
        if column != prefix and not column.startswith(prefix + ":"):
            continue
        region = (
            column.split(":")[2] if column.count(":") == 2 else spec.regions[0].name
        )
        hours = float(wide[column].sum() * step_h)
        replica_hours += hours
        cloud = clouds[region]
        cost_by_cloud[cloud] = cost_by_cloud.get(cloud, 0.0) + hours * prices[region]
        replicas = replicas + wide[column]

    requests = wide[f"{entry}:http_requests_total"].to_numpy()
    errors = wide[f"{entry}:http_request_errors_total"].to_numpy()
    p99 = wide[f"{entry}:http_request_duration_seconds_p99"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        error_ratio = np.where(requests > 0, errors / requests, 0.0)
    slow = p99 > spec.slo.p99_latency_seconds
    failing = error_ratio > spec.slo.error_ratio
    step_min = telemetry.step_s / 60.0

    dropped = [c for c in wide.columns if c.endswith(":http_requests_dropped_total")]
    dropped_requests = float(wide[dropped].to_numpy().sum() * telemetry.step_s)
    events = telemetry.events
    stamps = pd.DatetimeIndex(pd.to_datetime(events["timestamp"], utc=True))
    in_window = np.asarray(stamps >= pd.Timestamp(scenario.judged_from))
    actions = int(
        (events["kind"].isin(["scale_up", "scale_down"]).to_numpy() & in_window).sum()
    )

    metrics = {
        "replica_hours": round(replica_hours, 3),
        "cost_usd": round(sum(cost_by_cloud.values()), 4),
        "slo_violation_minutes": float((slow | failing).sum() * step_min),
        "latency_slo_minutes": float(slow.sum() * step_min),
        "error_slo_minutes": float(failing.sum() * step_min),
        "dropped_requests": round(dropped_requests, 1),
        "scaling_actions": float(actions),
        "requests": round(float(requests.sum() * telemetry.step_s), 1),
        **dict(decisions or {}),
    }
    return PolicyOutcome(
        scenario=scenario.name,
        policy=name,
        metrics=metrics,
        cost_by_cloud={k: round(v, 4) for k, v in sorted(cost_by_cloud.items())},
        replicas=replicas.rename(name),
        load=wide[f"{entry}:http_requests_total"].rename("load"),
    )


def totals(outcomes: list[PolicyOutcome]) -> dict[str, dict[str, Any]]:
    """Per policy: the additive figures summed over the suite, dollars by
    cloud, and the cost and SLO minutes relative to the first policy."""
    by_policy: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        total = by_policy.setdefault(
            outcome.policy, {"scenarios": 0, "cost_usd_by_cloud": {}}
        )
        total["scenarios"] += 1
        for key in ADDITIVE:
            if key in outcome.metrics:
                total[key] = total.get(key, 0.0) + outcome.metrics[key]
        clouds = total["cost_usd_by_cloud"]
        for cloud, dollars in outcome.cost_by_cloud.items():
            clouds[cloud] = round(clouds.get(cloud, 0.0) + dollars, 4)
    for total in by_policy.values():
        if total.get("decisions"):
            total["decision_us"] = round(
                1e6 * total.pop("decision_seconds", 0.0) / total["decisions"], 2
            )
    return by_policy

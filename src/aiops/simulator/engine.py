"""Run a scenario: workload, faults, the scaling loop, then the system model.

Randomness comes from separate generators, one per concern (workload, faults,
measurement noise), each seeded from ``(seed, stream)``; the scaling policy
draws nothing, so two policies run with one seed see the same workload and the
same faults.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiops.errors import ConfigError
from aiops.scaling import LargestOf, PredictiveScaling, ScalingPolicy
from aiops.simulator.access import generate_access_log
from aiops.simulator.catalogue import is_counter
from aiops.simulator.control import (
    FleetTrace,
    default_policy,
    resolve_policy,
    run_fleet,
)
from aiops.simulator.deployments import (
    canary_frame,
    deploy_frame,
    plan_releases,
    rollout_frame,
    traffic_split,
)
from aiops.simulator.faults import Effects, build_effects, place_faults
from aiops.simulator.loading import load_scenario
from aiops.simulator.logs import generate_logs
from aiops.simulator.model import QUANTILES, model_dependencies, queue
from aiops.simulator.spec import FailoverSpec, ScenarioSpec, ServiceSpec
from aiops.simulator.telemetry import SeriesData, Telemetry, assemble, timestamps
from aiops.simulator.timeline import build_timeline
from aiops.simulator.workload import request_rate

logger = logging.getLogger(__name__)

_WORKLOAD_STREAM, _FAULT_STREAM, _NOISE_STREAM = 1, 2, 3
_LOG_STREAM, _ACCESS_STREAM, _CANARY_STREAM = 4, 5, 6
# relative measurement noise (standard deviation) by metric family
_NOISE_SD = {"duration": 0.03, "memory": 0.002, "default": 0.005}


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def simulate(
    scenario: ScenarioSpec | str | Path,
    days: float | None = None,
    seed: int = 0,
    step_s: int | None = None,
    policy: ScalingPolicy | Mapping[str, ScalingPolicy] | None = None,
    logs: bool = True,
    canary: Any | None = None,
) -> Telemetry:
    """Simulate ``days`` of the scenario and return its labelled telemetry.

    Parameters
    ----------
    scenario : a validated spec, a profile name or a YAML path.
    days : run length; the scenario's nominal ``days`` when omitted.
    seed : seeds workload, random faults (unless the scenario fixes their
        seed) and measurement noise.
    step_s : seconds per step; the scenario's ``step_s`` when omitted.
    policy : scaling policy for every autoscaled fleet (each fleet gets its own
        copy), or a mapping from fleet name (``app`` or ``app:<region>``) or
        service name to policy; None uses the scenario's built-in HPA.
    logs : also write the log and access-log lines; closed-loop evaluation,
        which reads metrics and events only, turns them off to save time.
    canary : a canary analysis (:class:`aiops.canary.CanaryAnalysis`) that
        judges every canary release from cohort samples and promotes or rolls
        it back; None keeps the scenario's built-in rollback controller.
    """
    spec = scenario if isinstance(scenario, ScenarioSpec) else load_scenario(scenario)
    days = spec.days if days is None else days
    step_s = spec.step_s if step_s is None else step_s
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed = {seed!r}; expected an integer >= 0")
    if isinstance(step_s, bool) or not isinstance(step_s, int) or step_s < 1:
        raise ConfigError(f"step_s = {step_s!r}; expected an integer >= 1 (seconds)")
    if not days > 0:
        raise ConfigError(f"days = {days!r}; expected a number > 0")
    n_steps = round(days * 86400.0 / step_s)
    if n_steps < 2:
        raise ConfigError(
            f"days = {days!r} at step_s = {step_s} gives {n_steps} step(s); "
            "expected a run of at least two steps"
        )
    began = time.perf_counter()
    seed = int(seed)

    times_s = np.arange(n_steps, dtype=float) * step_s
    run_s = n_steps * step_s
    offered = request_rate(
        spec.workload, spec.start, times_s, run_s, _rng(seed, _WORKLOAD_STREAM)
    )
    fault_seed = (
        spec.random_faults.seed
        if spec.random_faults is not None and spec.random_faults.seed is not None
        else None
    )
    fault_rng = (
        np.random.default_rng(fault_seed)
        if fault_seed is not None
        else _rng(seed, _FAULT_STREAM)
    )
    incidents = place_faults(spec, n_steps, step_s, fault_rng)
    start_hour_s = (
        spec.start - spec.start.replace(hour=0, minute=0, second=0, microsecond=0)
    ).total_seconds()
    releases, incidents = plan_releases(
        spec,
        incidents,
        n_steps,
        step_s,
        start_hour_s,
        canary=canary,
        offered_rps=offered,
        rng=_rng(seed, _CANARY_STREAM),
    )
    impacts = {r.incident.id: r.impact for r in releases if r.incident is not None}
    effects = build_effects(spec, incidents, n_steps, impacts)

    shares = _traffic_shares(spec, effects, step_s)
    app_name = spec.service_of_kind("app")
    entry_name = spec.service_of_kind("entry")
    assert app_name is not None and entry_name is not None
    app = spec.services[app_name]
    ordinary = offered
    # attack traffic (credential stuffing, scraping) comes on top of the users'
    offered = offered + effects.get("extra_rps", app_name)
    capacity = app.capacity_rps * effects.get("capacity", app_name)
    decide_every = max(1, round(spec.decision_interval_s / step_s))

    fleets: dict[str, FleetTrace] = {}
    policy_name = "static"
    for region in spec.region_names:
        load = offered * shares[region]
        fleet = _fleet_name(spec, app_name, region)
        if app.autoscaling is None:
            constant = np.full(n_steps, app.initial_replicas, dtype=np.int64)
            fleets[region] = FleetTrace(constant, constant.copy())
            continue
        chosen = resolve_policy(policy, fleet, app_name, app)
        if policy is None and app.autoscaling.predictive:
            chosen = seasonal_predictive_policy(
                offered, app, spec.decision_interval_s, step_s
            )
        policy_name = getattr(chosen, "name", type(chosen).__name__)
        fleets[region] = run_fleet(
            chosen,
            app_name,
            app,
            load,
            capacity,
            shares[region],
            step_s,
            decide_every,
        )

    series = _model_system(
        spec, offered, shares, fleets, times_s, step_s, effects, seed
    )
    versions, events = build_timeline(
        spec, incidents, releases, fleets, shares, n_steps, step_s
    )
    index = timestamps(spec.start, n_steps, step_s)
    old, new, share = traffic_split(spec, releases, versions)
    log_lines = access_log = None
    if logs:
        log_lines = generate_logs(
            spec,
            index,
            step_s,
            series,
            incidents,
            events,
            versions,
            _rng(seed, _LOG_STREAM),
        )
        entry = _lookup(series, entry_name, step_s)
        access_log = generate_access_log(
            spec,
            index,
            step_s,
            ordinary,
            entry["error_ratio"],
            entry["http_request_duration_seconds_p50"],
            entry["http_request_duration_seconds_p99"],
            old,
            new,
            share,
            incidents,
            _rng(seed, _ACCESS_STREAM),
        )
    telemetry = assemble(
        spec=spec,
        series=series,
        app_versions=versions,
        incidents=incidents,
        events=events,
        n_steps=n_steps,
        step_s=step_s,
        seed=seed,
        days=float(days),
        policy_name=policy_name,
        logs=log_lines,
        access_log=access_log,
        rollouts=rollout_frame(index, releases),
        deploys=deploy_frame(index, releases, offered, spec, step_s),
        canary_samples=canary_frame(index, releases),
    )
    logger.info(
        "simulated %s: %.1f days, %d steps, %d incidents, %d series in %.2f s",
        spec.name,
        days,
        n_steps,
        len(incidents),
        len(series),
        time.perf_counter() - began,
    )
    return telemetry


def _lookup(series: list[SeriesData], service: str, step_s: int) -> dict[str, Any]:
    """One service's series by metric, counters as rates, plus its error ratio."""
    found: dict[str, Any] = {}
    for item in series:
        if item.service == service:
            values = item.values
            if is_counter(item.metric):
                values = np.diff(values, prepend=0.0) / step_s
            found[item.metric] = found.get(item.metric, 0.0) + values
    requests = found.get("http_requests_total")
    errors = found.get("http_request_errors_total")
    if requests is not None and errors is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            found["error_ratio"] = np.where(requests > 0, errors / requests, 0.0)
    n_steps = series[0].values.size
    found.setdefault("error_ratio", np.zeros(n_steps))
    p99 = found.setdefault("http_request_duration_seconds_p99", np.full(n_steps, 0.2))
    found.setdefault("http_request_duration_seconds_p50", p99 / 3.0)
    return found


def _fleet_name(spec: ScenarioSpec, app_name: str, region: str) -> str:
    return f"{app_name}:{region}" if len(spec.regions) > 1 else app_name


def seasonal_predictive_policy(
    offered: np.ndarray, app: ServiceSpec, decision_interval_s: float, step_s: float
) -> LargestOf:
    """The built-in predictive scaler of a fleet flagged ``predictive``.

    Like AWS predictive scaling it forecasts from the load's own history: the
    load a day before the target step (seasonal naive), looked up at the lead
    a new replica needs (start-up delay plus one decision interval), with the
    fleet's HPA beside it taking over wherever it asks for more. Before a day
    of history it is the HPA.
    """
    settings = app.autoscaling
    assert settings is not None
    lead = math.ceil((app.startup_delay_s + decision_interval_s) / step_s)
    day = round(86_400 / step_s)
    forecast = np.full(offered.size, np.nan)
    # made at step t for t + lead, from the value at t + lead - day
    if offered.size > day - lead:
        forecast[day - lead :] = offered[: offered.size - (day - lead)]
    predictive = PredictiveScaling(
        forecast,
        lead_steps=lead,
        target_utilization=settings.target_utilization,
        fallback=default_policy(app),
    )
    return LargestOf(default_policy(app), predictive, name="predictive")


def _traffic_shares(
    spec: ScenarioSpec, effects: Effects, step_s: float
) -> dict[str, np.ndarray]:
    """GeoDNS split per region. A region stays in rotation until its health
    checks have failed for the failover delay; then it gets nothing until it
    is healthy again, and its traffic goes to the others."""
    entry_name = spec.service_of_kind("entry")
    assert entry_name is not None
    failover = spec.services[entry_name].failover or FailoverSpec()
    delay_steps = math.ceil(failover.delay_s / step_s)
    weights = {}
    for region in spec.regions:
        failing = effects.get("region_up", region.name) < failover.health_threshold
        # drained once every check of the last delay_steps + 1 steps failed
        drained = (
            pd.Series(failing)
            .rolling(delay_steps + 1, min_periods=delay_steps + 1)
            .min()
            .fillna(0)
            .to_numpy(dtype=bool)
        )
        weights[region.name] = region.traffic_share * ~drained
    total = sum(weights.values())
    total = np.where(total > 0, total, 1.0)
    return {name: weight / total for name, weight in weights.items()}


def _model_system(
    spec: ScenarioSpec,
    offered: np.ndarray,
    shares: dict[str, np.ndarray],
    fleets: dict[str, FleetTrace],
    times_s: np.ndarray,
    step_s: float,
    effects: Effects,
    seed: int,
) -> list[SeriesData]:
    app_name = spec.service_of_kind("app")
    entry_name = spec.service_of_kind("entry")
    assert app_name is not None and entry_name is not None
    app = spec.services[app_name]
    start_hour_s = (
        spec.start - spec.start.replace(hour=0, minute=0, second=0, microsecond=0)
    ).total_seconds()

    # app fleets first: what they serve drives every dependency
    states = {}
    for region in spec.region_names:
        trace = fleets[region]
        states[region] = queue(
            offered * shares[region],
            trace.ready,
            app.capacity_rps * effects.get("capacity", app_name),
            app.latency_seconds * effects.get("latency", app_name),
            app.timeout_s,
            effects.get("latency_add_s", app_name),
        )
    served_total = sum(state.served_rps for state in states.values())
    assert isinstance(served_total, np.ndarray)
    deps = model_dependencies(
        spec, served_total, times_s, step_s, effects, start_hour_s
    )

    primary = spec.region_names[0]
    series: list[SeriesData] = []
    entry_latency = {name: np.zeros(offered.size) for name in QUANTILES}
    entry_errors = np.zeros(offered.size)
    reachable = np.zeros(offered.size)
    cpu_factor = effects.get("cpu_per_request", app_name)
    leak = effects.get("memory_ratio", app_name)
    for region in spec.region_names:
        state, trace, share = states[region], fleets[region], shares[region]
        load = offered * share
        # requests routed to the dead part of a region fail outright
        unreachable = 1.0 - effects.get("region_up", region)
        error_ratio = np.clip(
            state.overload_error_ratio
            + app.base_error_ratio
            + effects.get("error_ratio", app_name)
            + deps.error_ratio
            + unreachable,
            0.0,
            1.0,
        )
        latency = {
            name: np.minimum(state.latency[name] + deps.latency[name], app.timeout_s)
            for name in QUANTILES
        }
        cpu = np.cumsum(
            (
                state.served_rps * app.cpu_seconds_per_request * cpu_factor
                + 0.01 * trace.replicas
            )
            * step_s
        )
        memory = app.memory_bytes * (1.0 + leak)
        values = {
            "http_requests_total": np.cumsum(load * step_s),
            "http_request_errors_total": np.cumsum(load * error_ratio * step_s),
            "http_requests_dropped_total": np.cumsum(state.dropped_rps * step_s),
            "process_cpu_seconds_total": cpu,
            "process_resident_memory_bytes": memory,
            "kube_deployment_replicas": trace.replicas.astype(float),
            "kube_deployment_status_replicas_available": trace.ready.astype(float),
        }
        for name in QUANTILES:
            values[f"http_request_duration_seconds_{name}"] = latency[name]
        series += [
            SeriesData(app_name, region, metric, values[metric])
            for metric in app.metric_names
        ]
        entry_errors += share * error_ratio
        reachable += share
        for name in QUANTILES:
            entry_latency[name] += share * latency[name]

    # with every region down GeoDNS has nowhere to send traffic: all of it fails
    entry_errors = np.where(reachable > 0, entry_errors, 1.0)
    entry = spec.services[entry_name]
    entry_values = {
        "http_requests_total": np.cumsum(offered * step_s),
        "http_request_errors_total": np.cumsum(offered * entry_errors * step_s),
    }
    for name in QUANTILES:
        extra = entry.latency_seconds + effects.get("latency_add_s", entry_name)
        entry_values[f"http_request_duration_seconds_{name}"] = np.where(
            reachable > 0, entry_latency[name] + extra, entry.timeout_s
        )
    series = [
        SeriesData(entry_name, "global", metric, entry_values[metric])
        for metric in entry.metric_names
    ] + series

    for service_name, metric, dependency_values in deps.series:
        service = spec.services[service_name]
        if metric in service.metric_names:
            series.append(SeriesData(service_name, primary, metric, dependency_values))
    for service_name, service in spec.services.items():
        if service.kind in ("cache", "database", "queue") and (
            "kube_deployment_replicas" in service.metric_names
        ):
            count = service.initial_replicas + (service.read_replicas or 0)
            series.append(
                SeriesData(
                    service_name,
                    primary,
                    "kube_deployment_replicas",
                    np.full(offered.size, float(count)),
                )
            )
    return _add_noise(series, seed)


def _add_noise(series: list[SeriesData], seed: int) -> list[SeriesData]:
    """Measurement noise on gauges; one draw per series in a fixed order."""
    rng = _rng(seed, _NOISE_STREAM)
    noisy = []
    for item in series:
        shocks = rng.standard_normal(item.values.size)
        metric = item.metric
        if is_counter(metric) or metric.startswith("kube_"):
            noisy.append(item)
            continue
        if metric == "redis_cache_hit_ratio":
            values = np.clip(item.values + 0.004 * shocks, 0.0, 1.0)
        else:
            family = (
                "duration"
                if "duration" in metric
                else "memory"
                if "memory" in metric
                else "default"
            )
            values = item.values * np.exp(_NOISE_SD[family] * shocks)
        noisy.append(SeriesData(item.service, item.region, metric, values))
    return noisy

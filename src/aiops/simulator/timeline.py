"""Discrete events of a run (deployments, rollbacks, scaling, failover,
backups, restarts) and the app version in service at each step."""

from __future__ import annotations

import math

import numpy as np

from aiops.simulator.control import FleetTrace
from aiops.simulator.faults import Incident
from aiops.simulator.model import DAY_S, backup_window
from aiops.simulator.spec import ScenarioSpec

Event = tuple[int, str, str, str]  # (step, kind, target, detail)


def _bump(version: str, number: int) -> str:
    """The ``number``-th release after ``version`` (patch level)."""
    parts = version.split(".")
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        return f"{parts[0]}.{parts[1]}.{int(parts[2]) + number}"
    return f"{version}.{number}"


def _routine_deploy_steps(
    spec: ScenarioSpec, n_steps: int, step_s: float, start_hour_s: float
) -> list[int]:
    every = spec.deployment.every_days
    if every is None:
        return []
    steps = []
    for k in range(1, math.floor(n_steps * step_s / (every * DAY_S)) + 1):
        day = math.floor(k * every)
        time_s = day * DAY_S + spec.deployment.hour_utc * 3600.0 - start_hour_s
        step = round(time_s / step_s)
        if 0 < step < n_steps:
            steps.append(step)
    return steps


def build_timeline(
    spec: ScenarioSpec,
    incidents: list[Incident],
    fleets: dict[str, FleetTrace],
    n_steps: int,
    step_s: float,
) -> tuple[np.ndarray, list[Event]]:
    """App version per step (object array) and the sorted event list."""
    app_name = spec.service_of_kind("app")
    assert app_name is not None
    start_hour_s = (
        spec.start - spec.start.replace(hour=0, minute=0, second=0, microsecond=0)
    ).total_seconds()
    events: list[Event] = []
    strategy = spec.deployment.strategy

    # releases: routine ones outside bad-deploy spans, plus the bad deploys
    bad = [i for i in incidents if i.kind == "bad_deploy" and i.target == app_name]
    releases: list[tuple[int, Incident | None]] = [
        (step, None)
        for step in _routine_deploy_steps(spec, n_steps, step_s, start_hour_s)
        if not any(i.start_step <= step < i.end_step for i in bad)
    ]
    releases += [(incident.start_step, incident) for incident in bad]
    releases.sort(key=lambda release: release[0])

    versions = np.empty(n_steps, dtype=object)
    current = spec.services[app_name].version
    versions[:] = current
    for number, (step, incident) in enumerate(releases, start=1):
        new = _bump(spec.services[app_name].version, number)
        how = (
            f"canary {spec.deployment.canary_fraction:.0%} then promote"
            if strategy == "canary"
            else f"{strategy} update"
        )
        events.append((step, "deployment", app_name, f"{how} {current} -> {new}"))
        if incident is None:
            versions[step:] = new
            current = new
            continue
        versions[step : incident.end_step] = new
        if incident.end_step < n_steps:
            how_back = (
                "automated rollback on error ratio"
                if spec.deployment.automated_rollback
                else "manual rollback"
            )
            events.append(
                (
                    incident.end_step,
                    "rollback",
                    app_name,
                    f"{how_back} {new} -> {current}",
                )
            )

    for incident in incidents:
        if incident.kind == "region_outage":
            events.append(
                (
                    incident.start_step,
                    "failover",
                    incident.target,
                    f"GeoDNS drains {incident.target}",
                )
            )
            if incident.end_step < n_steps:
                events.append(
                    (
                        incident.end_step,
                        "failover",
                        incident.target,
                        f"GeoDNS returns {incident.target} to rotation",
                    )
                )
        elif incident.kind == "memory_leak" and incident.end_step < n_steps:
            events.append(
                (
                    incident.end_step,
                    "restart",
                    incident.target,
                    "restarted after memory grew past its limit",
                )
            )

    db_name = spec.service_of_kind("database")
    if db_name is not None and spec.services[db_name].backup is not None:
        times_s = np.arange(n_steps) * step_s
        window = backup_window(spec, spec.services[db_name], times_s, start_hour_s)
        starts = np.flatnonzero(np.diff(window, prepend=0.0) > 0)
        events += [(int(s), "backup", db_name, "nightly backup") for s in starts]

    multi_region = len(fleets) > 1
    for region, trace in fleets.items():
        where = f" in {region}" if multi_region else ""
        events += [
            (step, kind, app_name, f"{old} -> {new} replicas{where}")
            for step, kind, old, new in trace.actions
        ]
    events.sort(key=lambda event: (event[0], event[1], event[2], event[3]))
    return versions, events

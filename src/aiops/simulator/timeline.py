"""Discrete events of a run (deployments, rollbacks, scaling, failover,
backups, restarts) and the app version in service at each step."""

from __future__ import annotations

import numpy as np

from aiops.simulator.control import FleetTrace
from aiops.simulator.deployments import Release, version_labels
from aiops.simulator.faults import Incident
from aiops.simulator.model import backup_window
from aiops.simulator.spec import ScenarioSpec

Event = tuple[int, str, str, str]  # (step, kind, target, detail)


def _how(spec: ScenarioSpec) -> str:
    deployment = spec.deployment
    if deployment.strategy == "canary":
        return f"canary {deployment.canary_fraction:.0%} then promote"
    if deployment.strategy == "rolling":
        return f"rolling update, max surge {deployment.max_surge:.0%}"
    return f"{deployment.strategy} update"


def build_timeline(
    spec: ScenarioSpec,
    incidents: list[Incident],
    releases: list[Release],
    fleets: dict[str, FleetTrace],
    shares: dict[str, np.ndarray],
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
    versions = version_labels(spec, releases, n_steps)

    for release in releases:
        events.append(
            (
                release.step,
                "deployment",
                app_name,
                _how(spec) + f" {release.old} -> {release.new}",
            )
        )
        if release.end_step is not None:
            detail = f"{release.reason} {release.new} -> {release.old}"
            events.append((release.end_step, "rollback", app_name, detail))
        events += [
            (step, "restart", app_name, f"OOMKilled: pod of {release.new} restarted")
            for step in release.oom_steps
        ]

    for region, share in shares.items():
        # GeoDNS drains a region when its share drops to 0, and returns it
        routed = np.r_[True, share > 0]
        for step in np.flatnonzero(routed[:-1] & ~routed[1:]).tolist():
            events.append((step, "failover", region, f"GeoDNS drains {region}"))
        for step in np.flatnonzero(~routed[:-1] & routed[1:]).tolist():
            detail = f"GeoDNS returns {region} to rotation"
            events.append((step, "failover", region, detail))

    for incident in incidents:
        if incident.kind == "memory_leak" and incident.end_step < n_steps:
            events.append(
                (
                    incident.end_step,
                    "restart",
                    incident.target,
                    "restarted after memory grew past its limit",
                )
            )

    db_name = spec.service_of_kind("database")
    if db_name is not None and spec.services[db_name].seed_data is not None:
        events.append((0, "seed", db_name, "database seeded with fixtures"))
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

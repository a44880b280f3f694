"""The simulator's output: tidy metrics, incidents, labels and events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aiops.simulator.catalogue import is_counter
from aiops.simulator.faults import Incident
from aiops.simulator.spec import ScenarioSpec

METRIC_COLUMNS = (
    "timestamp",
    "metric",
    "service",
    "region",
    "cloud",
    "env",
    "version",
    "value",
)
INCIDENT_COLUMNS = ("id", "kind", "target", "start", "end", "onset", "intensity")
LABEL_COLUMNS = ("timestamp", "anomaly", "incident_id")
EVENT_COLUMNS = ("timestamp", "kind", "target", "detail")
LOG_COLUMNS = (
    "timestamp",
    "level",
    "service",
    "dataset",
    "message",
    "trace_id",
    "version",
    "incident_id",
    "incident_kind",
    "anomalous",
)
ACCESS_COLUMNS = (
    "timestamp",
    "client_address",
    "user",
    "method",
    "path",
    "status",
    "bytes",
    "latency_seconds",
    "user_agent",
    "version",
    "attack",
    "incident_id",
    "sample_weight",
)
ROLLOUT_COLUMNS = ("timestamp", "version", "traffic_ratio")
CANARY_COLUMNS = (
    "timestamp",
    "version",
    "baseline_version",
    "cohort",
    "error_ratio",
    "latency_p99_seconds",
    "cpu_seconds_per_request",
    "memory_ratio",
)
DEPLOY_COLUMNS = (
    "timestamp",
    "old_version",
    "version",
    "bad",
    "defect",
    "judged",
    "verdict",
    "seconds_to_verdict",
    "rolled_back",
    "reason",
    "requests_on_new_version",
)


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


@dataclass(frozen=True)
class SeriesData:
    service: str
    region: str
    metric: str
    values: np.ndarray


@dataclass
class Telemetry:
    """Labelled telemetry of one simulated run.

    Attributes
    ----------
    metrics : tidy long frame, one row per (timestamp, series); counters are
        cumulative since the start of the run.
    incidents : one row per injected fault; ``end`` is exclusive.
    labels : per step, ``anomaly`` = 1 while any incident is active and
        ``incident_id`` the active ids joined by ``,`` ("" when none).
    events : deployments, rollbacks, scaling actions, failovers, backups.
    logs : sampled structured log lines (see :mod:`aiops.simulator.logs`).
    access_log : sampled HTTP access lines with ``attack`` labels.
    rollouts : traffic share of each app version while a release splits it.
    deploys : one row per release: bad or good, the canary verdict, how long
        it took, and the requests the new version served.
    canary_samples : per-step samples of each canary release's canary and
        baseline cohorts (what a canary analysis judges).
    """

    metrics: pd.DataFrame
    incidents: pd.DataFrame
    labels: pd.DataFrame
    events: pd.DataFrame
    scenario: ScenarioSpec
    seed: int
    step_s: int
    days: float
    policy_name: str = "hpa"
    logs: pd.DataFrame = field(default_factory=lambda: _empty(LOG_COLUMNS))
    access_log: pd.DataFrame = field(default_factory=lambda: _empty(ACCESS_COLUMNS))
    rollouts: pd.DataFrame = field(default_factory=lambda: _empty(ROLLOUT_COLUMNS))
    deploys: pd.DataFrame = field(default_factory=lambda: _empty(DEPLOY_COLUMNS))
    canary_samples: pd.DataFrame = field(default_factory=lambda: _empty(CANARY_COLUMNS))
    _wide: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.labels["timestamp"])

    def wide(self) -> pd.DataFrame:
        """One float column per series on the regular time grid.

        Columns are ``service:metric``, with ``:region`` appended where the
        same service and metric exist in several regions. Counters become
        per-second rates: ``(c[t] - c[t-1]) / step_s``, counting from zero
        before the first step.
        """
        if self._wide is None:
            self._wide = _to_wide(self.metrics, self.step_s, self.index)
        return self._wide.copy()

    def request_rate(self) -> pd.Series:
        """Offered load at the entry point, req/s (the forecaster's target)."""
        entry = self.scenario.service_of_kind("entry")
        column = f"{entry}:http_requests_total"
        rate = self.wide()[column].rename("request_rate")
        return rate

    def replicas(self) -> pd.Series:
        """Desired app replicas per step, summed over regions."""
        app = self.scenario.service_of_kind("app")
        wide = self.wide()
        prefix = f"{app}:kube_deployment_replicas"
        columns = [c for c in wide.columns if c == prefix or c.startswith(prefix + ":")]
        return wide[columns].sum(axis=1).rename("replicas")

    def scaling_lead_seconds(self) -> tuple[float, float]:
        """(app start-up delay, decision interval) in seconds: how long a
        scaling decision takes to turn into serving capacity."""
        app = self.scenario.services[self.scenario.service_of_kind("app") or ""]
        return float(app.startup_delay_s), float(self.scenario.decision_interval_s)

    def summary(
        self, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> dict[str, Any]:
        """Cost, SLO and scaling figures of the run, or of ``start <= t < end``."""
        index = self.index
        keep = np.ones(len(index), dtype=bool)
        if start is not None:
            keep &= index >= pd.Timestamp(start)
        if end is not None:
            keep &= index < pd.Timestamp(end)
        wide = self.wide().loc[keep]
        step_h = self.step_s / 3600.0

        prices = {r.name: r.price_per_replica_hour for r in self.scenario.regions}
        replica_hours = 0.0
        cost = 0.0
        for column in wide.columns:
            service, metric, *region = column.split(":")
            if metric != "kube_deployment_replicas":
                continue
            hours = float(wide[column].sum() * step_h)
            where = region[0] if region else self._region_of(service)
            replica_hours += hours
            cost += hours * prices.get(where, 0.0)

        entry = self.scenario.service_of_kind("entry")
        requests = wide[f"{entry}:http_requests_total"].to_numpy()
        errors = wide[f"{entry}:http_request_errors_total"].to_numpy()
        p99 = wide[f"{entry}:http_request_duration_seconds_p99"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            error_ratio = np.where(requests > 0, errors / requests, 0.0)
        slo = self.scenario.slo
        broken = (p99 > slo.p99_latency_seconds) | (error_ratio > slo.error_ratio)

        dropped_columns = [
            c for c in wide.columns if c.split(":")[1] == "http_requests_dropped_total"
        ]
        dropped = float(wide[dropped_columns].to_numpy().sum() * self.step_s)

        events = self.events
        in_span = np.isin(
            events["timestamp"].values, wide.index.tz_localize(None).values
        )
        scaling = events["kind"].isin(["scale_up", "scale_down"]).to_numpy() & in_span
        incidents = self.incidents
        if len(incidents):
            first, last = wide.index[0], wide.index[-1]
            overlaps = (incidents["end"] > first) & (incidents["start"] <= last)
            incidents = incidents[overlaps.to_numpy()]
        return {
            "scenario": self.scenario.name,
            "policy": self.policy_name,
            "days": round(len(wide) * self.step_s / 86400.0, 6),
            "replica_hours": round(replica_hours, 3),
            "cost_usd": round(cost, 2),
            "slo_violation_minutes": float(broken.sum() * self.step_s / 60.0),
            "dropped_requests": round(dropped, 1),
            "scaling_actions": int(scaling.sum()),
            "n_incidents": len(incidents),
            "incident_kinds": sorted(set(incidents["kind"])),
            "mean_p99_latency_seconds": round(float(np.mean(p99)), 4),
        }

    def _region_of(self, service: str) -> str:
        rows = self.metrics["service"] == service
        return str(self.metrics.loc[rows, "region"].iloc[0]) if rows.any() else ""


def _to_wide(
    metrics: pd.DataFrame, step_s: int, index: pd.DatetimeIndex
) -> pd.DataFrame:
    # integer series codes instead of a groupby over three string columns:
    # an order of magnitude faster on the ~1e6-row frames a month produces
    services, service_names = pd.factorize(metrics["service"], sort=False)
    names, metric_names = pd.factorize(metrics["metric"], sort=False)
    regions, region_names = pd.factorize(metrics["region"], sort=False)
    code = (services.astype(np.int64) * len(metric_names) + names) * len(
        region_names
    ) + regions
    unique_codes, first_rows = np.unique(code, return_index=True)
    appearance = unique_codes[np.argsort(first_rows, kind="stable")]

    keys = []
    for series_code in appearance:
        rest, region = divmod(int(series_code), len(region_names))
        service, metric = divmod(rest, len(metric_names))
        keys.append(
            (service_names[service], metric_names[metric], region_names[region])
        )
    region_count: dict[tuple[str, str], int] = {}
    for service, metric, _ in keys:
        region_count[(service, metric)] = region_count.get((service, metric), 0) + 1

    order = np.argsort(code, kind="stable")
    sorted_codes = code[order]
    bounds = np.searchsorted(sorted_codes, appearance, side="left")
    ends = np.searchsorted(sorted_codes, appearance, side="right")
    # .values gives datetime64[ns] (UTC); .to_numpy() would box every row
    stamps = metrics["timestamp"].values
    values = metrics["value"].to_numpy(dtype=float)
    grid = index.tz_convert("UTC").tz_localize(None).values

    columns: dict[str, np.ndarray] = {}
    for (service, metric, region), low, high in zip(keys, bounds, ends, strict=True):
        rows = order[low:high]
        block = values[rows]
        block_stamps = stamps[rows]
        if block.size != grid.size or not np.array_equal(block_stamps, grid):
            block = pd.Series(block, index=block_stamps).reindex(grid).to_numpy(float)
        name = f"{service}:{metric}"
        if region_count[(service, metric)] > 1:
            name += f":{region}"
        if is_counter(str(metric)):
            block = np.diff(block, prepend=0.0) / step_s
        columns[name] = block
    return pd.DataFrame(columns, index=index)


def timestamps(start: dt.datetime, n_steps: int, step_s: int) -> pd.DatetimeIndex:
    first = pd.Timestamp(start).tz_convert("UTC")
    return pd.date_range(first, periods=n_steps, freq=pd.Timedelta(seconds=step_s))


def assemble(
    spec: ScenarioSpec,
    series: list[SeriesData],
    app_versions: np.ndarray,
    incidents: list[Incident],
    events: list[tuple[int, str, str, str]],
    n_steps: int,
    step_s: int,
    seed: int,
    days: float,
    policy_name: str,
    logs: pd.DataFrame | None = None,
    access_log: pd.DataFrame | None = None,
    rollouts: pd.DataFrame | None = None,
    deploys: pd.DataFrame | None = None,
    canary_samples: pd.DataFrame | None = None,
) -> Telemetry:
    """Build the four frames from the simulated series."""
    index = timestamps(spec.start, n_steps, step_s)
    clouds: dict[str, str] = {region.name: region.cloud for region in spec.regions}
    # the GeoDNS entry is global: it runs on every cloud the regions use
    all_clouds = sorted(set(clouds.values()))
    clouds["global"] = all_clouds[0] if len(all_clouds) == 1 else "multi"
    app_name = spec.service_of_kind("app")
    n_series = len(series)

    versions = [
        app_versions
        if item.service == app_name
        else np.full(n_steps, spec.services[item.service].version, dtype=object)
        for item in series
    ]
    metrics = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(
                np.tile(index.asi8, n_series), tz="UTC"
            ).as_unit("ns"),
            "metric": np.repeat(np.array([s.metric for s in series], object), n_steps),
            "service": np.repeat(
                np.array([s.service for s in series], object), n_steps
            ),
            "region": np.repeat(np.array([s.region for s in series], object), n_steps),
            "cloud": np.repeat(
                np.array([clouds.get(s.region, "multi") for s in series], object),
                n_steps,
            ),
            "env": np.full(n_steps * n_series, spec.env, dtype=object),
            "version": np.concatenate(versions),
            "value": np.concatenate([s.values.astype(np.float64) for s in series]),
        },
        # fresh arrays: no need for pandas to copy them into one block (a
        # 90-day multi-region run would hold every string column twice)
        copy=False,
    )

    incident_frame = pd.DataFrame(
        {
            "id": [i.id for i in incidents],
            "kind": [i.kind for i in incidents],
            "target": [i.target for i in incidents],
            "start": pd.DatetimeIndex(
                [
                    index[0] + pd.Timedelta(seconds=i.start_step * step_s)
                    for i in incidents
                ],
                tz="UTC",
            ).as_unit("ns"),
            "end": pd.DatetimeIndex(
                [
                    index[0] + pd.Timedelta(seconds=i.end_step * step_s)
                    for i in incidents
                ],
                tz="UTC",
            ).as_unit("ns"),
            "onset": [i.onset for i in incidents],
            "intensity": np.array([i.intensity for i in incidents], dtype=float),
        },
        columns=list(INCIDENT_COLUMNS),
    )

    active = np.zeros(n_steps, dtype=np.int8)
    ids = np.full(n_steps, "", dtype=object)
    for incident in incidents:
        span = slice(incident.start_step, incident.end_step)
        active[span] = 1
        ids[span] = [
            f"{old},{incident.id}" if old else incident.id for old in ids[span]
        ]
    labels = pd.DataFrame({"timestamp": index, "anomaly": active, "incident_id": ids})

    event_frame = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(
                [index[0] + pd.Timedelta(seconds=e[0] * step_s) for e in events],
                tz="UTC",
            ).as_unit("ns"),
            "kind": [e[1] for e in events],
            "target": [e[2] for e in events],
            "detail": [e[3] for e in events],
        },
        columns=list(EVENT_COLUMNS),
    )
    return Telemetry(
        metrics=metrics,
        incidents=incident_frame,
        labels=labels,
        events=event_frame,
        scenario=spec,
        seed=seed,
        step_s=step_s,
        days=days,
        policy_name=policy_name,
        logs=_or_empty(logs, LOG_COLUMNS),
        access_log=_or_empty(access_log, ACCESS_COLUMNS),
        rollouts=_or_empty(rollouts, ROLLOUT_COLUMNS),
        deploys=_or_empty(deploys, DEPLOY_COLUMNS),
        canary_samples=_or_empty(canary_samples, CANARY_COLUMNS),
    )


def _or_empty(frame: pd.DataFrame | None, columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns)) if frame is None else frame

"""Sampled structured logs (ELK-style) driven by the simulated system.

Each service writes a few routine lines a minute from templates of what it
is (Express, PostgreSQL, Redis, Kafka, GeoDNS); a fault adds a burst of the
lines it would really cause (slow-query lines, pool errors, OOM kills, ...)
in proportion to its strength; every event of the timeline (deployments,
rollbacks, scaling, failover, backups, restarts) gets its own line. Lines are
sampled, not one per request, so a month stays a few megabytes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from string import Formatter

import numpy as np
import pandas as pd

from aiops.simulator.faults import Incident, envelope, progress
from aiops.simulator.spec import ScenarioSpec
from aiops.simulator.telemetry import LOG_COLUMNS, SeriesData

LEVELS = ("debug", "info", "warning", "error")

QUERY = (
    "SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE c.region = $1 ORDER BY o.created_at DESC LIMIT 50"
)
PATHS = (
    "/",
    "/api/products/{id}",
    "/api/cart",
    "/api/search?q=shoes",
    "/catalogue/shoes/{id}",
    "/api/orders/{id}",
    "/health",
)
# (dataset, level, template) of routine lines by service kind
ROUTINE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "entry": (
        ("geodns.log", "info", "health check ok for {region} ({ms} ms)"),
        ("geodns.log", "info", "answered A query for shop.example.com from {ip}"),
    ),
    "app": (
        (
            "express.access",
            "info",
            '{ip} - {user} "GET {path} HTTP/1.1" {status} {bytes} - {ms} ms',
        ),
        (
            "express.access",
            "info",
            '{ip} - {user} "POST /api/cart HTTP/1.1" {status} {bytes} - {ms} ms',
        ),
        ("express.app", "info", "order {id} checked out in {ms} ms"),
        ("express.app", "info", "session refreshed for {user}"),
        ("express.app", "debug", "db query orders.findById took {ms} ms"),
        ("express.app", "debug", "redis GET product:{id} hit"),
    ),
    "cache": (
        ("redis.log", "info", "{pid}:M * {n} changes in 300 seconds. Saving..."),
        ("redis.log", "info", "{pid}:M * Background saving started by pid {pid}"),
        ("redis.log", "info", "{pid}:C * DB saved on disk"),
    ),
    "database": (
        (
            "postgresql.log",
            "info",
            "LOG:  connection received: host={host} port={port}",
        ),
        (
            "postgresql.log",
            "info",
            "LOG:  connection authorized: user=app database=shop",
        ),
        (
            "postgresql.log",
            "info",
            "LOG:  checkpoint complete: wrote {n} buffers ({pct}%); write={sec} s",
        ),
        ("postgresql.log", "debug", "LOG:  duration: {ms} ms  statement: " + QUERY),
    ),
    "queue": (
        (
            "kafka.log",
            "info",
            "[GroupCoordinator 1]: Stabilized group app-events generation {n}",
        ),
        (
            "kafka.log",
            "info",
            "[Log partition=events-{k}] Rolled new log segment at offset {n}",
        ),
    ),
}
# fault kind -> (which service logs it, dataset, level, template, lines/minute)
# "target" means the faulted service, "app"/"entry" the service of that kind
BURSTS: dict[str, tuple[tuple[str, str, str, str, float], ...]] = {
    "memory_leak": (
        ("target", "", "warning", "heap usage {pct}% of the memory limit after GC", 2),
    ),
    "cpu_saturation": (
        ("target", "", "warning", "CPU throttled in {pct}% of CFS periods", 2),
        ("app", "express.app", "warning", "event loop lag {ms} ms", 2),
    ),
    "slow_queries": (
        (
            "target",
            "",
            "warning",
            "LOG:  duration: {slow_ms} ms  statement: " + QUERY,
            8,
        ),
        ("app", "express.app", "warning", "slow query orders.search {slow_ms} ms", 3),
    ),
    "connection_pool_exhaustion": (
        ("target", "", "error", "FATAL:  sorry, too many clients already", 6),
        (
            "app",
            "express.app",
            "error",
            "TimeoutError: ResourceRequest timed out ({n} waiting for a connection)",
            6,
        ),
    ),
    "cache_stampede": (
        ("target", "", "warning", "{pid}:M # keyspace misses at {n}/s", 2),
        (
            "app",
            "express.app",
            "warning",
            "cache miss storm: {n} concurrent rebuilds of product:{id}",
            4,
        ),
    ),
    "network_latency": (
        ("entry", "geodns.log", "warning", "upstream RTT {ms} ms over budget", 3),
        ("app", "express.app", "error", "Error: connect ETIMEDOUT {host}:{port}", 1),
    ),
    "bad_deploy": (
        (
            "app",
            "express.app",
            "error",
            "TypeError: Cannot read properties of undefined (reading 'price') "
            "at checkout.js:{n}",
            8,
        ),
    ),
    "region_outage": (
        (
            "entry",
            "geodns.log",
            "error",
            "health check failed for {target}: 3 timeouts; out of rotation",
            2,
        ),
    ),
    "replication_lag": (
        (
            "target",
            "",
            "warning",
            "LOG:  standby replica-{k} replay lag {lag} s behind the primary",
            3,
        ),
    ),
    "kafka_consumer_stall": (
        (
            "target",
            "",
            "warning",
            "consumer group app-events lag {n} on events-{k}: consumer fell behind",
            4,
        ),
    ),
    "disk_fill_backup": (
        (
            "target",
            "",
            "error",
            'ERROR:  could not extend file "base/16384/{id}": No space left on device',
            6,
        ),
    ),
    "credential_stuffing": (
        (
            "app",
            "express.app",
            "warning",
            "login failed for {user} from {attacker}: invalid password",
            20,
        ),
    ),
    "scraping": (
        (
            "app",
            "express.app",
            "warning",
            "rate limit exceeded for {attacker}: GET /catalogue/{id}",
            6,
        ),
    ),
}
EVENT_LINES = {
    "deployment": ("info", "Deployment {target}: {detail}"),
    "rollback": ("warning", "Deployment {target}: {detail}"),
    "scale_up": (
        "info",
        "HorizontalPodAutoscaler {target}: {detail}, cpu above target",
    ),
    "scale_down": ("info", "HorizontalPodAutoscaler {target}: {detail}"),
    "failover": ("warning", "GeoDNS failover: {detail}"),
    "backup": ("info", "pg_basebackup: {detail} started"),
    "seed": ("info", "psql: {detail} (db/seed.sql)"),
    "restart": ("error", "Container {target} {detail} (exit code 137)"),
}
KIND_DATASET = {
    "entry": "geodns.log",
    "app": "express.app",
    "cache": "redis.log",
    "database": "postgresql.log",
    "queue": "kafka.log",
}


@dataclass
class _Source:
    service: str
    dataset: str
    level: str
    template: str
    rate: np.ndarray  # expected lines per step
    incident: Incident | None = None


def generate_logs(
    spec: ScenarioSpec,
    index: pd.DatetimeIndex,
    step_s: int,
    series: Sequence[SeriesData],
    incidents: list[Incident],
    events: list[tuple[int, str, str, str]],
    versions: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Sampled log lines of a run, sorted by time (see :data:`LOG_COLUMNS`)."""
    n_steps = len(index)
    per_step = spec.logging.lines_per_minute * step_s / 60.0
    floor = LEVELS.index(spec.logging.level)
    app_name = spec.service_of_kind("app") or ""
    entry_name = spec.service_of_kind("entry") or ""
    app_p99 = _series(series, app_name, "http_request_duration_seconds_p99", n_steps)

    sources: list[_Source] = []
    for name, service in spec.services.items():
        templates = [t for t in ROUTINE[service.kind] if _kept(t[1], floor)]
        for dataset, level, template in templates:
            weight = 0.5 if level == "debug" and not spec.logging.verbose else 1.0
            rate = np.full(n_steps, per_step * weight / max(1, len(templates)))
            sources.append(_Source(name, dataset, level, template, rate))
    for incident in incidents:
        strength = incident.intensity * envelope(incident, n_steps)
        if incident.kind == "disk_fill_backup":
            strength = (progress(incident, n_steps) > 0.85).astype(float)
        for who, dataset, level, template, per_minute in BURSTS[incident.kind]:
            owner = {"target": incident.target, "app": app_name}.get(who, entry_name)
            if owner not in spec.services:  # a region: GeoDNS reports it
                owner = entry_name
            kind = spec.services[owner].kind
            rate = strength * per_minute * step_s / 60.0
            sources.append(
                _Source(
                    owner,
                    dataset or KIND_DATASET[kind],
                    level,
                    template,
                    rate,
                    incident,
                )
            )

    frames = [_draw(sources, index, step_s, app_p99, versions, app_name, rng)]
    frames.append(_event_lines(spec, index, events, versions, app_name, rng))
    logs = pd.concat(frames, ignore_index=True)
    logs = logs.sort_values("timestamp", kind="stable", ignore_index=True)
    _label_windows(logs, index, step_s, incidents)
    return logs


def _kept(level: str, floor: int) -> bool:
    return LEVELS.index(level) >= floor


def _series(
    series: Sequence[SeriesData], service: str, metric: str, n_steps: int
) -> np.ndarray:
    for item in series:
        if item.service == service and item.metric == metric:
            return item.values
    return np.full(n_steps, 0.05)


def _draw(
    sources: list[_Source],
    index: pd.DatetimeIndex,
    step_s: int,
    app_p99: np.ndarray,
    versions: np.ndarray,
    app_name: str,
    rng: np.random.Generator,
) -> pd.DataFrame:
    counts = [rng.poisson(source.rate) for source in sources]
    totals = [int(c.sum()) for c in counts]
    steps = np.concatenate(
        [np.repeat(np.arange(c.size), c) for c in counts] or [np.zeros(0, int)]
    )
    which = np.repeat(np.arange(len(sources)), totals)
    n = steps.size
    offset_ms = rng.integers(0, step_s * 1000, n)

    # draw only the fields a template names, source by source
    messages: list[str] = []
    first = 0
    for source, total in zip(sources, totals, strict=True):
        names = [
            name
            for _, name, _, _ in Formatter().parse(source.template)
            if name and name != "target"
        ]
        lines = slice(first, first + total)
        first += total
        fields = {
            name: _field(name, total, app_p99[steps[lines]], rng) for name in names
        }
        if source.incident is not None:
            fields["target"] = [source.incident.target] * total
        keys = list(fields)
        template = source.template
        messages += (
            [
                template.format(**dict(zip(keys, row, strict=True)))
                for row in zip(*fields.values(), strict=True)
            ]
            if keys
            else [template] * total
        )

    service = np.array([s.service for s in sources], dtype=object)[which]
    trace = rng.integers(0, 2**63, (n, 2))
    traces = np.full(n, "", dtype=object)
    on_app = np.flatnonzero(service == app_name)
    traces[on_app] = [f"{a:016x}{b:016x}" for a, b in trace[on_app].tolist()]
    stamps = index.asi8[steps] + offset_ms * 1_000_000
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(stamps, tz="UTC").as_unit("ns"),
            "level": np.array([s.level for s in sources], dtype=object)[which],
            "service": service,
            "dataset": np.array([s.dataset for s in sources], dtype=object)[which],
            "message": np.array(messages, dtype=object),
            "trace_id": traces,
            "version": np.where(service == app_name, versions[steps], ""),
            "incident_id": np.array(
                [s.incident.id if s.incident else "" for s in sources], dtype=object
            )[which],
            "incident_kind": np.array(
                [s.incident.kind if s.incident else "" for s in sources], dtype=object
            )[which],
            "anomalous": np.array([s.incident is not None for s in sources])[which],
        },
        columns=list(LOG_COLUMNS),
    )


def _field(name: str, n: int, p99_s: np.ndarray, rng: np.random.Generator) -> list:
    """``n`` random values for template field ``name``."""
    if name == "ms":
        return np.round(p99_s * 1000.0 * rng.lognormal(-1.0, 0.5, n), 3).tolist()
    if name == "ip":
        return address_pool()[rng.integers(0, 3 * 254 - 62, n)].tolist()
    if name == "attacker":
        return address_pool()[rng.integers(0, 4, n) + 700].tolist()
    if name == "user":
        return [f"user{u}" for u in rng.integers(1000, 9999, n).tolist()]
    if name == "path":
        paths = rng.integers(0, len(PATHS), n).tolist()
        ids = rng.integers(1, 5000, n).tolist()
        return [
            PATHS[p].replace("{id}", str(i)) for p, i in zip(paths, ids, strict=True)
        ]
    if name == "host":
        return [f"10.0.{a}.{b}" for a, b in rng.integers(1, 250, (n, 2)).tolist()]
    if name == "region":
        return rng.choice(["us-east-1", "westeurope", "nyc3"], n).tolist()
    if name == "status":
        return rng.choice([200, 200, 200, 200, 304, 404], n).tolist()
    if name in _UNIFORM:
        low, high, digits = _UNIFORM[name]
        if digits is None:
            return rng.integers(int(low), int(high), n).tolist()
        return np.round(rng.uniform(low, high, n), digits).tolist()
    raise KeyError(f"no generator for log template field {name!r}")


# field -> (low, high, decimals or None for integers)
_UNIFORM: dict[str, tuple[float, float, int | None]] = {
    "slow_ms": (1000.0, 12000.0, 3),
    "bytes": (200, 40000, None),
    "id": (1, 100000, None),
    "n": (2, 5000, None),
    "k": (0, 12, None),
    "pid": (100, 32000, None),
    "pct": (60, 100, None),
    "sec": (0.5, 30.0, 3),
    "lag": (30.0, 600.0, 1),
    "port": (32768, 60999, None),
}


@functools.cache
def address_pool(size: int = 8192) -> np.ndarray:
    """Addresses for codes ``0..size-1`` (see :func:`documentation_addresses`)."""
    return np.array(documentation_addresses(np.arange(size)), dtype=object)


def documentation_addresses(codes: np.ndarray) -> list[str]:
    """Map integer codes to addresses in the documentation-only ranges.

    Codes ``0..761`` land in 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24
    (254 hosts each); larger codes become 2001:db8::/32 addresses.
    """
    prefixes = ("192.0.2.", "198.51.100.", "203.0.113.")
    out = []
    for code in np.asarray(codes).tolist():
        if code < 3 * 254:
            block, host = divmod(int(code), 254)
            out.append(f"{prefixes[block]}{host + 1}")
        else:
            out.append(f"2001:db8:{code >> 16 & 0xFFFF:x}::{code & 0xFFFF:x}")
    return out


def _event_lines(
    spec: ScenarioSpec,
    index: pd.DatetimeIndex,
    events: list[tuple[int, str, str, str]],
    versions: np.ndarray,
    app_name: str,
    rng: np.random.Generator,
) -> pd.DataFrame:
    rows = []
    for step, kind, target, detail in events:
        level, template = EVENT_LINES.get(kind, ("info", "{kind} {target}: {detail}"))
        service = target if target in spec.services else app_name
        if kind == "failover":
            service = spec.service_of_kind("entry") or app_name
        message = template.format(kind=kind, target=target, detail=detail)
        rows.append((step, level, service, "kubernetes.event", message))
        if kind == "restart" and "OOM" in detail:
            pid = int(rng.integers(100, 32000))
            rows.append(
                (
                    step,
                    "error",
                    service,
                    "kernel.log",
                    f"Out of memory: Killed process {pid} (node) "
                    f"total-vm:{int(rng.integers(900_000, 1_400_000))}kB",
                )
            )
    steps = np.array([row[0] for row in rows], dtype=np.int64)
    services = np.array([row[2] for row in rows], dtype=object)
    n = len(rows)
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(index.asi8[steps], tz="UTC").as_unit("ns"),
            "level": np.array([row[1] for row in rows], dtype=object),
            "service": services,
            "dataset": np.array([row[3] for row in rows], dtype=object),
            "message": np.array([row[4] for row in rows], dtype=object),
            "trace_id": np.full(n, "", dtype=object),
            "version": np.where(services == app_name, versions[steps], ""),
            "incident_id": np.full(n, "", dtype=object),
            "incident_kind": np.full(n, "", dtype=object),
            "anomalous": np.zeros(n, dtype=bool),
        },
        columns=list(LOG_COLUMNS),
    )


def _label_windows(
    logs: pd.DataFrame, index: pd.DatetimeIndex, step_s: int, incidents: list[Incident]
) -> None:
    """Lines inside an incident's span carry its id and kind even when they are
    routine; ``anomalous`` still tells the fault-driven lines apart."""
    if logs.empty or not incidents:
        return
    step = (pd.DatetimeIndex(logs["timestamp"]).asi8 - index.asi8[0]) // (
        step_s * 1_000_000_000
    )
    ids = logs["incident_id"].to_numpy(dtype=object).copy()
    kinds = logs["incident_kind"].to_numpy(dtype=object).copy()
    for incident in incidents:
        inside = (
            (step >= incident.start_step) & (step < incident.end_step) & (ids == "")
        )
        ids[inside] = incident.id
        kinds[inside] = incident.kind
    logs["incident_id"] = ids
    logs["incident_kind"] = kinds

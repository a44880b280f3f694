"""Vectorised system model: queues, dependencies and the metrics they emit.

Every service is treated as an M/M/c-like queue. Utilisation is
``rho = load / (ready_replicas * capacity)``; waiting time follows Sakasegawa's
approximation ``rho ** (sqrt(2 (c + 1)) - 1) / (c (1 - rho))`` times the service
time, so latency rises like ``1 / (1 - rho)`` and saturates at the timeout;
load beyond capacity is dropped. A caller's latency quantile adds each
dependency's quantile weighted by how often a request calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiops.simulator.faults import Effects
from aiops.simulator.spec import ScenarioSpec, ServiceSpec

QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
# (service-time multiple, waiting-time multiple) per quantile
_QUANTILE_SHAPE = {"p50": (0.9, 0.7), "p95": (2.2, 3.0), "p99": (3.5, 4.6)}
DAY_S = 86400.0


@dataclass
class QueueState:
    rho: np.ndarray
    served_rps: np.ndarray
    dropped_rps: np.ndarray
    latency: dict[str, np.ndarray]
    overload_error_ratio: np.ndarray


def queue(
    load_rps: np.ndarray,
    servers: np.ndarray,
    capacity_rps: np.ndarray,
    service_s: np.ndarray,
    timeout_s: float,
    latency_add_s: np.ndarray,
) -> QueueState:
    """Latency quantiles, throughput and drops of a c-server queue per step."""
    servers = np.asarray(servers, dtype=float)
    total_capacity = servers * capacity_rps
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(total_capacity > 0, load_rps / total_capacity, np.inf)
    rho = np.where(load_rps > 0, rho, 0.0)
    served = np.minimum(load_rps, total_capacity)
    dropped = load_rps - served
    with np.errstate(divide="ignore", invalid="ignore"):
        overload = np.where(load_rps > 0, dropped / load_rps, 0.0)

    bounded = np.clip(rho, 0.0, 0.995)
    c = np.maximum(servers, 1.0)
    waiting = service_s * bounded ** (np.sqrt(2.0 * (c + 1.0)) - 1.0)
    waiting /= c * (1.0 - bounded)
    # past saturation the queue fills up and latency heads for the timeout
    saturation = np.clip((rho - 1.0) * 5.0, 0.0, 1.0)
    latency = {}
    for name, (service_multiple, wait_multiple) in _QUANTILE_SHAPE.items():
        value = service_multiple * service_s + wait_multiple * waiting + latency_add_s
        value = value + (timeout_s - value) * saturation
        latency[name] = np.minimum(value, timeout_s)
    return QueueState(rho, served, dropped, latency, overload)


def dependency_weight(calls_per_request: np.ndarray | float, quantile: float) -> object:
    """How much of a dependency's quantile shows up in the caller's quantile.

    One or more sequential calls add the dependency latency that many times; a
    call made by a fraction f of requests reaches the caller's q-quantile in
    proportion to f / (1 - q), capped at one.
    """
    calls = np.asarray(calls_per_request, dtype=float)
    return np.where(calls >= 1.0, calls, np.minimum(1.0, calls / (1.0 - quantile)))


@dataclass
class Dependencies:
    """What the app's dependencies add to each request, per step."""

    latency: dict[str, np.ndarray]
    error_ratio: np.ndarray
    series: list[tuple[str, str, np.ndarray]]  # (service, metric, values)


def model_dependencies(
    spec: ScenarioSpec,
    served_rps: np.ndarray,
    times_s: np.ndarray,
    step_s: float,
    effects: Effects,
    start_hour_s: float,
) -> Dependencies:
    """Cache, database and queue driven by the app's total served load."""
    n_steps = served_rps.size
    latency = {name: np.zeros(n_steps) for name in QUANTILES}
    error_ratio = np.zeros(n_steps)
    series: list[tuple[str, str, np.ndarray]] = []
    hit_ratio = np.zeros(n_steps)

    cache_name = spec.service_of_kind("cache")
    if cache_name is not None:
        cache = spec.services[cache_name]
        calls = served_rps * cache.calls_per_request
        baseline = cache.hit_ratio if cache.hit_ratio is not None else 0.9
        # slow drift of the working set around the nominal hit ratio
        drift = 0.01 * np.sin(2 * np.pi * times_s / DAY_S + 1.0)
        hit_ratio = np.clip(
            (baseline + drift) * effects.get("hit_ratio", cache_name), 0.0, 1.0
        )
        state = _service_queue(cache_name, cache, calls, effects)
        weight = cache.calls_per_request
        for name, q in QUANTILES.items():
            latency[name] += dependency_weight(weight, q) * state.latency[name]
        error_ratio += state.overload_error_ratio
        memory = cache.memory_bytes * cache.initial_replicas * (0.55 + 0.3 * hit_ratio)
        memory *= 1.0 + effects.get("memory_ratio", cache_name)
        series += [
            (cache_name, "redis_commands_total", np.cumsum(calls * step_s)),
            (cache_name, "redis_cache_hit_ratio", hit_ratio),
            (cache_name, "redis_command_duration_seconds_p99", state.latency["p99"]),
            (cache_name, "redis_memory_used_bytes", memory),
        ]

    db_name = spec.service_of_kind("database")
    if db_name is not None:
        db_latency, db_errors, db_series, db_calls = _model_database(
            spec,
            db_name,
            served_rps,
            hit_ratio,
            cache_name is not None,
            times_s,
            step_s,
            effects,
            start_hour_s,
        )
        for name, q in QUANTILES.items():
            latency[name] += dependency_weight(db_calls, q) * db_latency[name]
        error_ratio += np.minimum(db_calls, 1.0) * db_errors
        series += db_series

    queue_name = spec.service_of_kind("queue")
    if queue_name is not None:
        series += _model_queue(spec, queue_name, served_rps, step_s, effects)
        produce_s = spec.services[queue_name].latency_seconds
        for name in QUANTILES:
            latency[name] += produce_s
    return Dependencies(latency, np.clip(error_ratio, 0.0, 1.0), series)


def _service_queue(
    name: str,
    service: ServiceSpec,
    load_rps: np.ndarray,
    effects: Effects,
    servers: float | None = None,
) -> QueueState:
    count = float(servers if servers is not None else service.initial_replicas)
    return queue(
        load_rps,
        np.full(load_rps.size, count),
        service.capacity_rps * effects.get("capacity", name),
        service.latency_seconds * effects.get("latency", name),
        service.timeout_s,
        effects.get("latency_add_s", name),
    )


def backup_window(
    spec: ScenarioSpec, db: ServiceSpec, times_s: np.ndarray, start_hour_s: float
) -> np.ndarray:
    """1.0 while the nightly backup runs, else 0.0."""
    if db.backup is None:
        return np.zeros(times_s.size)
    since_midnight = (times_s + start_hour_s) % DAY_S
    begin = db.backup.hour_utc * 3600.0
    offset = (since_midnight - begin) % DAY_S
    return (offset < db.backup.duration_s).astype(float)


def seed_window(db: ServiceSpec, times_s: np.ndarray) -> np.ndarray:
    """1.0 while the database is seeded at the start of the run, else 0.0."""
    if db.seed_data is None:
        return np.zeros(times_s.size)
    return (times_s < db.seed_data.duration_s).astype(float)


def _model_database(
    spec: ScenarioSpec,
    name: str,
    served_rps: np.ndarray,
    hit_ratio: np.ndarray,
    has_cache: bool,
    times_s: np.ndarray,
    step_s: float,
    effects: Effects,
    start_hour_s: float,
) -> tuple[
    dict[str, np.ndarray], np.ndarray, list[tuple[str, str, np.ndarray]], np.ndarray
]:
    db = spec.services[name]
    write_ratio = db.write_ratio if db.write_ratio is not None else 0.2
    read_replicas = db.read_replicas or 0
    instances = 1 + read_replicas
    miss = 1.0 - hit_ratio if has_cache else np.ones(served_rps.size)
    writes = served_rps * db.calls_per_request * write_ratio
    if db.seed_data is not None:
        # the seed job's inserts, as a share of one instance's capacity
        writes = writes + db.seed_data.extra_load_ratio * db.capacity_rps * (
            seed_window(db, times_s)
        )
    reads = served_rps * db.calls_per_request * (1.0 - write_ratio) * miss
    calls_per_request = db.calls_per_request * (write_ratio + (1 - write_ratio) * miss)

    # replicas share the reads; with multi-master they share the writes too
    if db.replication == "multi_master":
        primary_load = (reads + writes) / instances
    else:
        primary_load = writes + reads / instances
    backup = backup_window(spec, db, times_s, start_hour_s)
    extra = db.backup.extra_load_ratio if db.backup is not None else 0.0
    capacity = db.capacity_rps * effects.get("capacity", name) / (1.0 + extra * backup)
    state = queue(
        primary_load,
        np.ones(served_rps.size),
        capacity,
        db.latency_seconds * effects.get("latency", name),
        db.timeout_s,
        effects.get("latency_add_s", name),
    )

    disk = db.disk_bytes or 100 * 2**30
    used = 0.45 + 0.002 * times_s / DAY_S + 0.05 * backup
    if db.seed_data is not None:
        # the fixtures land on disk as the seed job runs, then stay
        loaded = np.minimum(times_s / db.seed_data.duration_s, 1.0)
        used = used + db.seed_data.disk_fraction * loaded
    fill = effects.get("disk_fill", name)
    used = np.clip(used + (1.0 - used) * fill, 0.0, 1.0)
    avail = disk * (1.0 - used)
    disk_full = (avail < 0.02 * disk).astype(float)
    errors = np.clip(
        state.overload_error_ratio
        + db.base_error_ratio
        + effects.get("error_ratio", name)
        + write_ratio * disk_full,
        0.0,
        1.0,
    )

    max_connections = db.max_connections or 100
    in_flight = (reads + writes) * state.latency["p50"] + 8.0 * instances
    pool = effects.get("pool_saturation", name)
    connections = np.minimum(in_flight, max_connections)
    connections = connections + (max_connections - connections) * pool

    if read_replicas > 0:
        # A replica replays the primary's writes with what its reads leave
        # free: lag builds as the write stream nears that spare capacity.
        replica_reads = reads / instances
        spare = np.maximum(capacity - replica_reads, 0.05 * capacity)
        write_pressure = np.clip(writes / spare, 0.0, 1.5)
        lag = 0.05 + 2.0 * write_pressure**4 + 1.5 * backup
        lag = lag + effects.get("replication_lag_s", name)
    else:
        lag = np.zeros(served_rps.size)
    cpu_factor = effects.get("cpu_per_request", name)
    cpu = np.cumsum(
        (primary_load * db.cpu_seconds_per_request * cpu_factor + 0.02) * step_s
    )
    memory = db.memory_bytes * (0.8 + 0.1 * np.clip(state.rho, 0, 1) + 0.1 * backup)
    memory = memory * (1.0 + effects.get("memory_ratio", name))
    series = [
        (name, "pg_queries_total", np.cumsum((reads + writes) * step_s)),
        (name, "pg_query_duration_seconds_p99", state.latency["p99"]),
        (name, "pg_stat_activity_count", connections),
        (name, "pg_replication_lag_seconds", lag),
        (name, "node_filesystem_avail_bytes", avail),
        (name, "process_cpu_seconds_total", cpu),
        (name, "process_resident_memory_bytes", memory),
    ]
    return state.latency, errors, series, calls_per_request


def _model_queue(
    spec: ScenarioSpec,
    name: str,
    served_rps: np.ndarray,
    step_s: float,
    effects: Effects,
) -> list[tuple[str, str, np.ndarray]]:
    broker = spec.services[name]
    per_request = broker.events_per_request or 1.0
    produced = served_rps * per_request * step_s
    consume_capacity = (
        broker.initial_replicas
        * broker.capacity_rps
        * effects.get("capacity", name)
        * effects.get("consumer_rate", name)
        * step_s
    )
    # Lindley recursion lag_t = max(0, lag_{t-1} + in_t - out_t), closed form
    walk = np.cumsum(produced - consume_capacity)
    lag = walk - np.minimum(np.minimum.accumulate(walk), 0.0)
    consumed = produced - np.diff(lag, prepend=0.0)
    return [
        (name, "kafka_messages_in_total", np.cumsum(produced)),
        (name, "kafka_messages_consumed_total", np.cumsum(consumed)),
        (name, "kafka_consumergroup_lag", lag),
    ]

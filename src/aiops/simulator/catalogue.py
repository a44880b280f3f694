"""What the simulator knows how to model: component kinds, their metrics, and faults.

The spec validates scenarios against these tables and the engine reads them, so
adding a metric or a fault kind starts here.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_KINDS = ("entry", "app", "cache", "database", "queue")
CLOUDS = ("aws", "azure", "gcp", "digitalocean", "local")

# Prometheus-style names; a name ending in ``_total`` is a counter (cumulative
# since the start of the run), anything else is a gauge.
METRICS_BY_KIND: dict[str, tuple[str, ...]] = {
    "entry": (
        "http_requests_total",
        "http_request_errors_total",
        "http_request_duration_seconds_p50",
        "http_request_duration_seconds_p95",
        "http_request_duration_seconds_p99",
    ),
    "app": (
        "http_requests_total",
        "http_request_errors_total",
        "http_requests_dropped_total",
        "http_request_duration_seconds_p50",
        "http_request_duration_seconds_p95",
        "http_request_duration_seconds_p99",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "kube_deployment_replicas",
        "kube_deployment_status_replicas_available",
    ),
    "cache": (
        "redis_commands_total",
        "redis_cache_hit_ratio",
        "redis_command_duration_seconds_p99",
        "redis_memory_used_bytes",
        "kube_deployment_replicas",
    ),
    "database": (
        "pg_queries_total",
        "pg_query_duration_seconds_p99",
        "pg_stat_activity_count",
        "pg_replication_lag_seconds",
        "node_filesystem_avail_bytes",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "kube_deployment_replicas",
    ),
    "queue": (
        "kafka_messages_in_total",
        "kafka_messages_consumed_total",
        "kafka_consumergroup_lag",
        "kube_deployment_replicas",
    ),
}


def is_counter(metric: str) -> bool:
    """Prometheus convention: counters end in ``_total``."""
    return metric.endswith("_total")


@dataclass(frozen=True)
class FaultKind:
    """One entry of the fault catalogue.

    ``targets`` lists the service kinds the fault may hit (``"region"`` for a
    region name). An ``exclusive`` fault may not overlap any other fault on the
    same target; any two faults of the same kind on one target may not overlap.
    """

    name: str
    targets: tuple[str, ...]
    exclusive: bool
    description: str


FAULT_CATALOGUE: dict[str, FaultKind] = {
    fault.name: fault
    for fault in (
        FaultKind(
            "memory_leak",
            ("app", "cache", "database"),
            True,
            "resident memory climbs until the process is restarted at the end",
        ),
        FaultKind(
            "cpu_saturation",
            ("app", "cache", "database", "queue"),
            False,
            "noisy neighbour steals CPU: capacity per replica drops",
        ),
        FaultKind(
            "slow_queries",
            ("database",),
            False,
            "a bad plan multiplies query time and database CPU",
        ),
        FaultKind(
            "connection_pool_exhaustion",
            ("database",),
            False,
            "connections saturate; callers wait for the pool and then fail",
        ),
        FaultKind(
            "cache_stampede",
            ("cache",),
            False,
            "hit ratio collapses, misses pile onto the database",
        ),
        FaultKind(
            "network_latency",
            ("entry", "app", "cache", "database", "queue"),
            False,
            "extra round-trip time on every call to the target",
        ),
        FaultKind(
            "bad_deploy",
            ("app",),
            True,
            "a new version raises errors and latency until it is rolled back",
        ),
        FaultKind(
            "region_outage",
            ("region",),
            True,
            "a region goes dark and GeoDNS shifts its traffic elsewhere",
        ),
        FaultKind(
            "replication_lag",
            ("database",),
            False,
            "read replicas fall behind the primary",
        ),
        FaultKind(
            "kafka_consumer_stall",
            ("queue",),
            False,
            "consumers stop keeping up and the group lag grows",
        ),
        FaultKind(
            "disk_fill_backup",
            ("database",),
            True,
            "a runaway backup fills the data disk; writes fail when it is full",
        ),
        FaultKind(
            "credential_stuffing",
            ("app",),
            False,
            "a few addresses replay leaked passwords: POST /login 401 floods",
        ),
        FaultKind(
            "scraping",
            ("app",),
            False,
            "bots crawl the catalogue fast from a few addresses",
        ),
    )
}

FAULT_KINDS = tuple(FAULT_CATALOGUE)

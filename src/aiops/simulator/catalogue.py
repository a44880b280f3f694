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

    An ``exclusive`` fault may not overlap any other fault on the same target;
    any two faults of the same kind on one target may not overlap.
    ``signatures`` names, per kind of target it may hit (a service kind, or
    ``"region"`` for a region name), the target's metrics in which the fault
    shows and which way they move (``+1`` up, ``-1`` down): a target that
    emits none of them would carry a label with nothing behind it.
    """

    name: str
    exclusive: bool
    description: str
    signatures: dict[str, tuple[tuple[str, int], ...]]

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.signatures)

    def signature_metrics(self, target_kind: str) -> tuple[str, ...]:
        return tuple(metric for metric, _ in self.signatures.get(target_kind, ()))


FAULT_CATALOGUE: dict[str, FaultKind] = {
    fault.name: fault
    for fault in (
        FaultKind(
            "memory_leak",
            True,
            "resident memory climbs until the process is restarted at the end",
            {
                "app": (("process_resident_memory_bytes", 1),),
                "cache": (("redis_memory_used_bytes", 1),),
                "database": (("process_resident_memory_bytes", 1),),
            },
        ),
        FaultKind(
            "cpu_saturation",
            False,
            "noisy neighbour steals CPU: each request takes longer, capacity drops",
            {
                "app": (
                    ("process_cpu_seconds_total", 1),
                    ("http_request_duration_seconds_p99", 1),
                ),
                "cache": (("redis_command_duration_seconds_p99", 1),),
                "database": (
                    ("process_cpu_seconds_total", 1),
                    ("pg_query_duration_seconds_p99", 1),
                ),
            },
        ),
        FaultKind(
            "slow_queries",
            False,
            "a bad plan multiplies query time and database CPU",
            {"database": (("pg_query_duration_seconds_p99", 1),)},
        ),
        FaultKind(
            "connection_pool_exhaustion",
            False,
            "connections saturate; callers wait for the pool and then fail",
            {"database": (("pg_stat_activity_count", 1),)},
        ),
        FaultKind(
            "cache_stampede",
            False,
            "hit ratio collapses, misses pile onto the database",
            {"cache": (("redis_cache_hit_ratio", -1),)},
        ),
        FaultKind(
            "network_latency",
            False,
            "extra round-trip time on every call to the target",
            {
                "entry": (("http_request_duration_seconds_p99", 1),),
                "app": (("http_request_duration_seconds_p99", 1),),
                "cache": (("redis_command_duration_seconds_p99", 1),),
                "database": (("pg_query_duration_seconds_p99", 1),),
            },
        ),
        FaultKind(
            "bad_deploy",
            True,
            "a new version raises errors and latency until it is rolled back",
            {
                "app": (
                    ("http_request_errors_total", 1),
                    ("http_request_duration_seconds_p99", 1),
                    ("process_resident_memory_bytes", 1),
                )
            },
        ),
        FaultKind(
            "region_outage",
            True,
            "a region goes dark and GeoDNS shifts its traffic elsewhere",
            {"region": (("http_requests_total", -1),)},
        ),
        FaultKind(
            "replication_lag",
            False,
            "read replicas fall behind the primary",
            {"database": (("pg_replication_lag_seconds", 1),)},
        ),
        FaultKind(
            "kafka_consumer_stall",
            False,
            "consumers stop keeping up and the group lag grows",
            {"queue": (("kafka_consumergroup_lag", 1),)},
        ),
        FaultKind(
            "disk_fill_backup",
            True,
            "a runaway backup fills the data disk; writes fail when it is full",
            {"database": (("node_filesystem_avail_bytes", -1),)},
        ),
        FaultKind(
            "credential_stuffing",
            False,
            "a few addresses replay leaked passwords: POST /login 401 floods",
            {"app": (("http_requests_total", 1), ("http_request_errors_total", 1))},
        ),
        FaultKind(
            "scraping",
            False,
            "bots crawl the catalogue fast from a few addresses",
            {"app": (("http_requests_total", 1),)},
        ),
    )
}

FAULT_KINDS = tuple(FAULT_CATALOGUE)

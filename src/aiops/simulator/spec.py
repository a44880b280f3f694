"""Declarative scenario specification, validated with pydantic.

A scenario names the components (a dependency graph of services), the regions
they run in, the workload, the service-level objectives and the faults to
inject. :func:`load_scenario` reads one from YAML and turns every validation
failure into a one-line :class:`~aiops.errors.ConfigError`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from aiops.simulator.catalogue import FAULT_CATALOGUE, METRICS_BY_KIND

PROFILES = ("production", "development", "experimental")

FaultKindName = Literal[
    "memory_leak",
    "cpu_saturation",
    "slow_queries",
    "connection_pool_exhaustion",
    "cache_stampede",
    "network_latency",
    "bad_deploy",
    "region_outage",
    "replication_lag",
    "kafka_consumer_stall",
    "disk_fill_backup",
    "credential_stuffing",
    "scraping",
]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
RunFraction = Annotated[float, Field(ge=0.0, lt=1.0)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionSpec(_Strict):
    name: str = Field(min_length=1)
    cloud: Literal["aws", "azure", "gcp", "digitalocean", "local"]
    price_per_replica_hour: float = Field(ge=0.0)
    traffic_share: float = Field(default=1.0, gt=0.0)


class AutoscalingSpec(_Strict):
    policy: Literal["hpa"] = "hpa"
    target_utilization: float = Field(default=0.6, gt=0.0, le=1.0)
    tolerance: float = Field(default=0.1, ge=0.0, lt=1.0)
    scale_down_stabilization_s: float = Field(default=300.0, ge=0.0)
    predictive: bool = False


class BackupSpec(_Strict):
    hour_utc: float = Field(default=2.0, ge=0.0, lt=24.0)
    duration_s: float = Field(default=3600.0, gt=0.0, le=6 * 3600.0)
    extra_load_ratio: float = Field(default=0.3, ge=0.0, le=2.0)


class SeedSpec(_Strict):
    """Fixtures loaded into the database when the run starts (development's
    seeded database): inserts at ``extra_load_ratio`` of one instance's
    capacity for ``duration_s``, which then take ``disk_fraction`` of the
    disk."""

    duration_s: float = Field(default=900.0, gt=0.0, le=6 * 3600.0)
    extra_load_ratio: float = Field(default=0.8, ge=0.0, le=2.0)
    disk_fraction: Fraction = 0.05


class FailoverSpec(_Strict):
    """GeoDNS health checking: a region whose healthy share stays below
    ``health_threshold`` for ``delay_s`` (health-check interval plus DNS TTL)
    is drained; until then the requests sent to its dead part fail."""

    health_threshold: Fraction = 0.5
    delay_s: float = Field(default=120.0, ge=0.0, le=3600.0)


class ServiceSpec(_Strict):
    kind: Literal["entry", "app", "cache", "database", "queue"]
    ports: list[Port] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    version: str = "1.0.0"
    capacity_rps: float = Field(gt=0.0)
    cpu_seconds_per_request: float = Field(default=0.0, ge=0.0)
    memory_bytes: int = Field(gt=0)
    startup_delay_s: float = Field(default=60.0, ge=0.0)
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=1, ge=1)
    replicas: int | None = Field(default=None, ge=1)
    latency_seconds: float = Field(default=0.01, gt=0.0)
    timeout_s: float = Field(default=10.0, gt=0.0)
    base_error_ratio: float = Field(default=0.0005, ge=0.0, lt=1.0)
    calls_per_request: float = Field(default=1.0, ge=0.0)
    autoscaling: AutoscalingSpec | None = None
    metrics: list[str] | None = None
    # kind-specific settings; the scenario validator refuses them elsewhere
    hit_ratio: Fraction | None = None
    read_replicas: int | None = Field(default=None, ge=0)
    replication: Literal["none", "primary_replica", "multi_master"] | None = None
    write_ratio: Fraction | None = None
    max_connections: int | None = Field(default=None, ge=1)
    disk_bytes: int | None = Field(default=None, gt=0)
    backup: BackupSpec | None = None
    seed_data: SeedSpec | None = None
    cluster: bool | None = None
    events_per_request: float | None = Field(default=None, ge=0.0)
    failover: FailoverSpec | None = None

    @property
    def initial_replicas(self) -> int:
        return self.replicas if self.replicas is not None else self.min_replicas

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(self.metrics) if self.metrics else METRICS_BY_KIND[self.kind]


_KIND_ONLY_FIELDS = {
    "hit_ratio": "cache",
    "cluster": "cache",
    "read_replicas": "database",
    "replication": "database",
    "write_ratio": "database",
    "max_connections": "database",
    "disk_bytes": "database",
    "backup": "database",
    "seed_data": "database",
    "events_per_request": "queue",
    "failover": "entry",
}


class FlashCrowdSpec(_Strict):
    start: RunFraction
    duration_s: float = Field(gt=0.0)
    multiplier: float = Field(gt=1.0, le=20.0)
    ramp_s: float = Field(default=300.0, ge=0.0)


class HolidaySpec(_Strict):
    date: dt.date
    factor: float = Field(gt=0.0, le=1.0)


class TraceSpec(_Strict):
    """Offered load replayed from a CSV of counts per interval.

    ``path`` is absolute or relative to the real datasets folder. The trace's
    first row lands on the run's first step; counts become req/s over the
    trace's own interval and are interpolated onto the simulation grid.
    """

    path: str = Field(min_length=1)
    column: str = "value"
    time_column: str = "timestamp"
    rescale_peak_rps: float | None = Field(default=None, gt=0.0)
    skip_days: float = Field(default=0.0, ge=0.0)
    gaps: Literal["interpolate", "zero", "error"] = "interpolate"


class WorkloadSpec(_Strict):
    """Synthetic load, or a replayed ``trace``: with a trace the seasonal and
    trend terms are ignored (the trace has its own), its mean is scaled to
    ``base_rps`` unless ``trace.rescale_peak_rps`` sets the peak, and flash
    crowds and noise still apply (``noise: 0`` replays the trace as it is)."""

    base_rps: float = Field(gt=0.0)
    daily_amplitude: float = Field(default=0.4, ge=0.0, lt=1.0)
    weekly_amplitude: float = Field(default=0.15, ge=0.0, lt=1.0)
    peak_hour_utc: float = Field(default=15.0, ge=0.0, lt=24.0)
    trend_per_day: float = Field(default=0.0, ge=-0.05, le=0.1)
    noise: float = Field(default=0.05, ge=0.0, lt=1.0)
    noise_correlation_s: float = Field(default=600.0, ge=0.0)
    flash_crowds: list[FlashCrowdSpec] = Field(default_factory=list)
    holidays: list[HolidaySpec] = Field(default_factory=list)
    trace: TraceSpec | None = None


class SloSpec(_Strict):
    p99_latency_seconds: float = Field(gt=0.0)
    error_ratio: float = Field(gt=0.0, lt=1.0)


class DeploymentSpec(_Strict):
    """How releases reach the app fleet.

    ``rolling`` replaces ``max_surge`` of the fleet per batch, each batch
    taking the app's start-up delay; ``canary`` sends ``canary_fraction`` of
    the traffic to the new version for ``canary_duration_s`` before promoting
    it; ``recreate`` and ``compose`` switch at once. With
    ``automated_rollback`` a release is rolled back once the error ratio it
    causes stays above ``rollback_error_ratio`` (the SLO's when omitted) for
    ``rollback_after_s``; a canary is also rolled back when its p99 latency
    drifts past ``canary_latency_ratio`` times the stable version's. A canary
    analysis given to the simulator replaces that controller; it reads cohort
    samples whose measurement noise is ``canary_metric_noise`` (relative).
    """

    strategy: Literal["rolling", "canary", "recreate", "compose"] = "rolling"
    canary_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    canary_duration_s: float = Field(default=1800.0, ge=0.0)
    canary_latency_ratio: float = Field(default=1.5, gt=1.0)
    canary_metric_noise: float = Field(default=0.05, ge=0.0, le=1.0)
    max_surge: float = Field(default=0.25, gt=0.0, le=1.0)
    every_days: float | None = Field(default=None, gt=0.0)
    hour_utc: float = Field(default=10.0, ge=0.0, lt=24.0)
    automated_rollback: bool = True
    rollback_error_ratio: float | None = Field(default=None, gt=0.0, lt=1.0)
    rollback_after_s: float = Field(default=300.0, ge=0.0)


class LoggingSpec(_Strict):
    """Sampled logs: ``lines_per_minute`` per service in quiet times (debug
    lines come on top with level debug), plus fault-driven bursts; the access
    log keeps ``access_lines_per_minute`` at ``base_rps`` and scales with the
    traffic."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    verbose: bool = False
    lines_per_minute: float = Field(default=1.0, ge=0.0, le=600.0)
    access_lines_per_minute: float = Field(default=6.0, ge=0.0, le=6000.0)


class FaultSpec(_Strict):
    """One fault. ``start`` is a fraction of the run (0 = first step), so the
    same layout holds for any run length; ``duration_s`` is the duration at the
    scenario's nominal ``days`` and shrinks in proportion for shorter runs."""

    kind: FaultKindName
    target: str = Field(min_length=1)
    start: RunFraction
    duration_s: float = Field(gt=0.0)
    intensity: float = Field(default=1.0, gt=0.0, le=1.0)
    onset: Literal["abrupt", "gradual"] = "abrupt"
    # what is wrong with the release of a bad_deploy
    defect: Literal["errors", "latency_creep", "memory_leak"] = "errors"


class RandomFaultsSpec(_Strict):
    """Faults drawn with ``seed`` (the simulation seed when omitted): one per
    equal slot of ``window`` (fractions of the run), so they never overlap."""

    count: int = Field(ge=1, le=50)
    kinds: list[FaultKindName] = Field(min_length=1)
    seed: int | None = Field(default=None, ge=0)
    window: tuple[RunFraction, Fraction] = (0.5, 0.95)
    duration_s: tuple[float, float] = (1800.0, 10800.0)
    intensity: tuple[float, float] = (0.5, 1.0)

    @model_validator(mode="after")
    def _check_ranges(self) -> RandomFaultsSpec:
        for name in ("window", "duration_s", "intensity"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise ValueError(
                    f"random_faults.{name} = [{low}, {high}]; expected 0 <= low <= high"
                )
        if self.intensity[1] > 1.0 or self.intensity[0] <= 0.0:
            raise ValueError(
                f"random_faults.intensity = {list(self.intensity)}; expected "
                "values in (0, 1]"
            )
        return self


class ScenarioSpec(_Strict):
    name: str = Field(min_length=1)
    env: Literal["production", "development", "experimental"]
    description: str = ""
    start: AwareDatetime
    days: float = Field(default=14.0, gt=0.0, le=366.0)
    step_s: int = Field(default=60, ge=1, le=3600)
    decision_interval_s: int = Field(default=60, ge=1)
    regions: list[RegionSpec] = Field(min_length=1)
    services: dict[str, ServiceSpec] = Field(min_length=2)
    workload: WorkloadSpec
    slo: SloSpec
    deployment: DeploymentSpec = Field(default_factory=DeploymentSpec)
    logging: LoggingSpec = Field(default_factory=LoggingSpec)
    faults: list[FaultSpec] = Field(default_factory=list)
    random_faults: RandomFaultsSpec | None = None

    @field_validator("start")
    @classmethod
    def _to_utc(cls, value: dt.datetime) -> dt.datetime:
        return value.astimezone(dt.UTC)

    def service_of_kind(self, kind: str) -> str | None:
        """Name of the (single) service of ``kind``, or None."""
        names = [name for name, svc in self.services.items() if svc.kind == kind]
        return names[0] if names else None

    @property
    def region_names(self) -> list[str]:
        return [region.name for region in self.regions]

    @model_validator(mode="after")
    def _check_references(self) -> ScenarioSpec:
        _check_regions(self)
        _check_services(self)
        _check_faults(self)
        return self


def _check_regions(spec: ScenarioSpec) -> None:
    names = spec.region_names
    if len(set(names)) != len(names):
        raise ValueError(f"regions = {names}; expected unique region names")


def _check_services(spec: ScenarioSpec) -> None:
    counts = {kind: 0 for kind in METRICS_BY_KIND}
    for svc in spec.services.values():
        counts[svc.kind] += 1
    for kind in ("entry", "app"):
        if counts[kind] != 1:
            raise ValueError(
                f"services has {counts[kind]} of kind {kind!r}; expected exactly one"
            )
    for kind in ("cache", "database", "queue"):
        if counts[kind] > 1:
            raise ValueError(
                f"services has {counts[kind]} of kind {kind!r}; expected at most one"
            )

    known = ", ".join(spec.services)
    for name, svc in spec.services.items():
        where = f"services.{name}"
        for dependency in svc.depends_on:
            if dependency not in spec.services or dependency == name:
                raise ValueError(
                    f"{where}.depends_on = {dependency!r}; expected another "
                    f"service: one of {known}"
                )
        if svc.max_replicas < svc.min_replicas:
            raise ValueError(
                f"{where}.max_replicas = {svc.max_replicas}; expected >= "
                f"min_replicas ({svc.min_replicas})"
            )
        if not svc.min_replicas <= svc.initial_replicas <= svc.max_replicas:
            raise ValueError(
                f"{where}.replicas = {svc.replicas}; expected between "
                f"min_replicas ({svc.min_replicas}) and max_replicas "
                f"({svc.max_replicas})"
            )
        for field, kind in _KIND_ONLY_FIELDS.items():
            if getattr(svc, field) is not None and svc.kind != kind:
                raise ValueError(
                    f"{where}.{field} is set on a service of kind {svc.kind!r}; "
                    f"expected it only on kind {kind!r}"
                )
        allowed = METRICS_BY_KIND[svc.kind]
        for metric in svc.metrics or ():
            if metric not in allowed:
                raise ValueError(
                    f"{where}.metrics = {metric!r}; expected one of "
                    f"{', '.join(allowed)}"
                )

    app = spec.services[spec.service_of_kind("app") or ""]
    entry_name = spec.service_of_kind("entry")
    for name, svc in spec.services.items():
        if svc.kind in ("cache", "database", "queue") and name not in app.depends_on:
            raise ValueError(
                f"services.{name} is not reached: the app service does not list it "
                "in depends_on; add it there or remove the service"
            )
    if entry_name is not None:
        entry = spec.services[entry_name]
        if spec.service_of_kind("app") not in entry.depends_on:
            raise ValueError(
                f"services.{entry_name}.depends_on = {entry.depends_on}; expected "
                "it to name the app service"
            )


def _fault_target_kind(spec: ScenarioSpec, target: str) -> str | None:
    if target in spec.services:
        return spec.services[target].kind
    if target in spec.region_names:
        return "region"
    return None


def _check_faults(spec: ScenarioSpec) -> None:
    nominal_s = spec.days * 86400.0
    for index, fault in enumerate(spec.faults):
        where = f"faults[{index}]"
        _check_fault_target(spec, fault.kind, fault.target, where)
        if fault.defect != "errors" and fault.kind != "bad_deploy":
            raise ValueError(
                f"{where}.defect = {fault.defect!r} on a {fault.kind} fault; "
                "expected defect only on bad_deploy faults"
            )
        end_s = fault.start * nominal_s + fault.duration_s
        if end_s > nominal_s + 1e-6:
            raise ValueError(
                f"{where}.duration_s = {fault.duration_s:g}; the fault would end "
                f"after the {spec.days:g}-day run; expected start * days + "
                "duration to fit inside it"
            )

    for index, first in enumerate(spec.faults):
        for later_index in range(index + 1, len(spec.faults)):
            second = spec.faults[later_index]
            if first.target != second.target:
                continue
            exclusive = (
                first.kind == second.kind
                or FAULT_CATALOGUE[first.kind].exclusive
                or FAULT_CATALOGUE[second.kind].exclusive
            )
            start_a = first.start * nominal_s
            start_b = second.start * nominal_s
            overlap = (
                start_a < start_b + second.duration_s
                and start_b < start_a + first.duration_s
            )
            if exclusive and overlap:
                raise ValueError(
                    f"faults[{index}] ({first.kind}) and faults[{later_index}] "
                    f"({second.kind}) overlap on target {first.target!r}; "
                    "expected exclusive faults on one target to be disjoint in time"
                )

    if spec.random_faults is not None:
        for kind in spec.random_faults.kinds:
            if not _eligible_targets(spec, kind):
                allowed = ", ".join(FAULT_CATALOGUE[kind].targets)
                raise ValueError(
                    f"random_faults.kinds = {kind!r}; the scenario has no "
                    f"target for it (needs a {allowed})"
                )


def _check_fault_target(spec: ScenarioSpec, kind: str, target: str, where: str) -> None:
    target_kind = _fault_target_kind(spec, target)
    allowed = FAULT_CATALOGUE[kind].targets
    if target_kind is None:
        names = ", ".join([*spec.services, *spec.region_names])
        raise ValueError(
            f"{where}.target = {target!r}; expected a service or region: one of {names}"
        )
    if target_kind not in allowed:
        raise ValueError(
            f"{where}.target = {target!r} (kind {target_kind}); a {kind} fault "
            f"needs a target of kind {' or '.join(allowed)}"
        )
    hidden = _hidden_signature(spec, kind, target)
    if hidden:
        raise ValueError(
            f"{where}.target = {target!r}; a {kind} fault shows in "
            f"{' or '.join(hidden)}, which {target} does not emit; add one to "
            f"services.{target}.metrics or pick another target"
        )
    if kind == "region_outage" and len(spec.regions) < 2:
        raise ValueError(
            f"{where}.kind = 'region_outage'; expected at least two regions so "
            "that GeoDNS has somewhere to send the traffic"
        )


def _hidden_signature(spec: ScenarioSpec, kind: str, target: str) -> list[str]:
    """The signature metrics of ``kind`` when ``target`` emits none of them,
    else an empty list. A region shows through its app fleet, which always
    reports its request counter."""
    if target not in spec.services:
        return []
    service = spec.services[target]
    wanted = FAULT_CATALOGUE[kind].signature_metrics(service.kind)
    if any(metric in service.metric_names for metric in wanted):
        return []
    return list(wanted)


def _eligible_targets(spec: ScenarioSpec, kind: str) -> list[str]:
    """Targets a fault of ``kind`` may hit in this scenario and show in its
    metrics, in spec order."""
    allowed = FAULT_CATALOGUE[kind].targets
    if kind == "region_outage":
        return spec.region_names if len(spec.regions) >= 2 else []
    return [
        name
        for name, svc in spec.services.items()
        if svc.kind in allowed and not _hidden_signature(spec, kind, name)
    ]

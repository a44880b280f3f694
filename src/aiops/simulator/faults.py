"""Place faults in time and turn them into per-step effects on the system model.

Explicit faults start at a fraction of the run; their durations are given for
the scenario's nominal length and shrink in proportion for shorter runs (never
grow), so a 3-day run of a 14-day scenario keeps the same layout. Random faults
are drawn one per equal slot of a window of the run, so they never overlap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from aiops.simulator.catalogue import FAULT_CATALOGUE
from aiops.simulator.spec import ScenarioSpec, _eligible_targets

logger = logging.getLogger(__name__)

# attack traffic at full strength, as a share of the workload's base_rps; the
# access log draws its attack lines from the same rates
ATTACK_SHARE = {"credential_stuffing": 0.1, "scraping": 0.15}
# fraction of an incident spent ramping up when its onset is gradual
GRADUAL_RAMP_FRACTION = 0.3

# A fault before it is placed on the grid:
# (start_s, duration_s, kind, target, onset, intensity, defect)
Draft = tuple[float, float, str, str, str, float, str]


@dataclass(frozen=True)
class Incident:
    """One injected fault, in steps: active on ``start_step <= step < end_step``."""

    id: str
    kind: str
    target: str
    start_step: int
    end_step: int
    onset: str
    intensity: float
    defect: str = "errors"  # what a bad_deploy's release gets wrong


def place_faults(
    spec: ScenarioSpec,
    n_steps: int,
    step_s: float,
    rng: np.random.Generator,
) -> list[Incident]:
    """Explicit faults plus random ones, sorted by start, with ids ``inc-001``..."""
    run_s = n_steps * step_s
    shrink = min(1.0, run_s / (spec.days * 86400.0))
    drafts: list[Draft] = []
    for fault in spec.faults:
        drafts.append(
            (
                fault.start * run_s,
                fault.duration_s * shrink,
                fault.kind,
                fault.target,
                fault.onset,
                fault.intensity,
                fault.defect,
            )
        )
    if spec.random_faults is not None:
        drafts.extend(_draw_random(spec, run_s, shrink, rng, drafts))

    incidents = []
    drafts.sort(key=lambda draft: (draft[0], draft[2], draft[3]))
    for number, draft in enumerate(drafts, start=1):
        start_s, duration_s, kind, target, onset, intensity, defect = draft
        start_step = min(round(start_s / step_s), n_steps - 1)
        end_step = round((start_s + duration_s) / step_s)
        end_step = min(max(end_step, start_step + 1), n_steps)
        incidents.append(
            Incident(
                id=f"inc-{number:03d}",
                kind=kind,
                target=target,
                start_step=start_step,
                end_step=end_step,
                onset=onset,
                intensity=round(float(intensity), 4),
                defect=defect,
            )
        )
    return incidents


def _clashes(
    kind: str, target: str, start_s: float, end_s: float, other: Draft
) -> bool:
    """Whether a fault would overlap ``other`` where the catalogue forbids it:
    on one target, when either is exclusive or both are of one kind."""
    other_start, other_duration, other_kind, other_target = other[:4]
    if target != other_target:
        return False
    exclusive = (
        kind == other_kind
        or FAULT_CATALOGUE[kind].exclusive
        or FAULT_CATALOGUE[other_kind].exclusive
    )
    return exclusive and start_s < other_start + other_duration and other_start < end_s


def _draw_random(
    spec: ScenarioSpec,
    run_s: float,
    shrink: float,
    rng: np.random.Generator,
    listed: list[Draft],
) -> list[Draft]:
    """One random fault per slot, on a target where it clashes with none of
    the ``listed`` faults; a slot where every target clashes stays empty."""
    config = spec.random_faults
    assert config is not None  # checked by the caller
    # cycle through a shuffled kind list so every kind shows up when count allows
    order = [config.kinds[i] for i in rng.permutation(len(config.kinds))]
    kinds = [order[i % len(order)] for i in range(config.count)]

    window_start_s = config.window[0] * run_s
    slot_s = (config.window[1] - config.window[0]) * run_s / config.count
    drafts = []
    for slot, kind in enumerate(kinds):
        duration_s = rng.uniform(*config.duration_s) * shrink
        duration_s = min(duration_s, 0.8 * slot_s)
        start_s = window_start_s + slot * slot_s + rng.uniform(0, slot_s - duration_s)
        pick = rng.random()
        onset = (
            "gradual"
            if kind == "memory_leak"
            else str(rng.choice(["abrupt", "gradual"]))
        )
        intensity = rng.uniform(*config.intensity)
        targets = [
            target
            for target in _eligible_targets(spec, kind)
            if not any(
                _clashes(kind, target, start_s, start_s + duration_s, other)
                for other in listed
            )
        ]
        if not targets:
            logger.warning(
                "random %s in slot %d left out: it would overlap a listed fault "
                "on every target it may hit",
                kind,
                slot,
            )
            continue
        target = targets[int(pick * len(targets))]
        drafts.append((start_s, duration_s, kind, target, onset, intensity, "errors"))
    return drafts


class Effects:
    """Per-step modifiers of the system model, keyed by (effect, target).

    Factors multiply (default 1), additions add (default 0). Arrays are created
    on first write so a quiet scenario costs nothing.
    """

    FACTORS = frozenset(
        {
            "capacity",
            "latency",
            "hit_ratio",
            "region_up",
            "consumer_rate",
            "cpu_per_request",
        }
    )

    def __init__(self, n_steps: int) -> None:
        self.n_steps = n_steps
        self._arrays: dict[tuple[str, str], np.ndarray] = {}

    def get(self, effect: str, target: str) -> np.ndarray:
        found = self._arrays.get((effect, target))
        if found is not None:
            return found
        neutral = 1.0 if effect in self.FACTORS else 0.0
        return np.full(self.n_steps, neutral)

    def apply(self, effect: str, target: str, change: np.ndarray) -> None:
        current = self._arrays.get((effect, target))
        if current is None:
            current = self.get(effect, target).copy()
            self._arrays[(effect, target)] = current
        if effect in self.FACTORS:
            current *= change
        else:
            current += change


def envelope(incident: Incident, n_steps: int) -> np.ndarray:
    """Strength of an incident per step, in [0, 1]; zero outside its span."""
    shape = np.zeros(n_steps)
    length = incident.end_step - incident.start_step
    if incident.onset == "abrupt":
        ramp = np.ones(length)
    else:
        ramp_steps = max(1.0, GRADUAL_RAMP_FRACTION * length)
        ramp = np.minimum((np.arange(length) + 1.0) / ramp_steps, 1.0)
    shape[incident.start_step : incident.end_step] = ramp
    return shape


def progress(incident: Incident, n_steps: int) -> np.ndarray:
    """Linear 0 -> 1 over the incident (for quantities that accumulate)."""
    shape = np.zeros(n_steps)
    length = incident.end_step - incident.start_step
    shape[incident.start_step : incident.end_step] = (np.arange(length) + 1.0) / length
    return shape


def build_effects(
    spec: ScenarioSpec,
    incidents: list[Incident],
    n_steps: int,
    release_impacts: dict[str, dict[str, np.ndarray]] | None = None,
) -> Effects:
    """Translate incidents into the modifiers the engine reads.

    ``release_impacts`` maps a bad-deploy incident id to the fleet-wide cost
    of its release (see :mod:`aiops.simulator.deployments`).
    """
    effects = Effects(n_steps)
    impacts = release_impacts or {}
    cache_name = spec.service_of_kind("cache")
    for incident in incidents:
        if incident.kind not in FAULT_CATALOGUE:
            raise ValueError(f"no effect model for fault kind {incident.kind!r}")
        strength = incident.intensity * envelope(incident, n_steps)
        grow = incident.intensity * progress(incident, n_steps)
        target = incident.target
        kind = incident.kind

        if kind == "memory_leak":
            effects.apply("memory_ratio", target, 1.5 * grow)
            # garbage collection works harder as the heap fills
            effects.apply("latency", target, 1.0 + 0.6 * grow**2)
        elif kind == "cpu_saturation":
            # stolen cycles stretch every request, loaded or not
            effects.apply("capacity", target, 1.0 - 0.55 * strength)
            effects.apply("latency", target, 1.0 + 0.5 * strength)
            effects.apply("cpu_per_request", target, 1.0 + 0.8 * strength)
        elif kind == "slow_queries":
            effects.apply("latency", target, 1.0 + 6.0 * strength)
            effects.apply("capacity", target, 1.0 / (1.0 + 2.0 * strength))
            effects.apply("cpu_per_request", target, 1.0 + 2.0 * strength)
        elif kind == "connection_pool_exhaustion":
            effects.apply("pool_saturation", target, strength)
            effects.apply("error_ratio", target, 0.12 * strength)
            effects.apply("latency_add_s", target, 0.8 * strength)
        elif kind == "cache_stampede":
            effects.apply("hit_ratio", target, 1.0 - 0.85 * strength)
        elif kind == "network_latency":
            effects.apply("latency_add_s", target, 0.25 * strength)
            effects.apply("error_ratio", target, 0.004 * strength)
        elif kind == "bad_deploy":
            for effect, change in impacts.get(incident.id, {}).items():
                effects.apply(effect, target, change)
        elif kind == "region_outage":
            effects.apply("region_up", target, 1.0 - strength)
        elif kind == "replication_lag":
            effects.apply("replication_lag_s", target, 600.0 * grow)
        elif kind == "kafka_consumer_stall":
            effects.apply("consumer_rate", target, 1.0 - 0.95 * strength)
        elif kind == "disk_fill_backup":
            effects.apply("disk_fill", target, grow)
        elif kind == "credential_stuffing":
            # failed logins still hash the password: dear in CPU, light in load
            attack_rps = ATTACK_SHARE[kind] * spec.workload.base_rps * strength
            effects.apply("extra_rps", target, attack_rps)
            effects.apply("cpu_per_request", target, 1.0 + 0.3 * strength)
        elif kind == "scraping":
            # crawlers walk cold catalogue pages the cache does not hold
            attack_rps = ATTACK_SHARE[kind] * spec.workload.base_rps * strength
            effects.apply("extra_rps", target, attack_rps)
            if cache_name is not None:
                effects.apply("hit_ratio", cache_name, 1.0 - 0.1 * strength)
    return effects

"""The closed loop: a scaling policy sets replicas step by step.

This is the only part of the simulation that cannot be vectorised, so it works
on plain Python floats and touches nothing but the autoscaled fleets.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from aiops.errors import ConfigError
from aiops.scaling import HorizontalPodAutoscaler, Observation, ScalingPolicy
from aiops.simulator.spec import ServiceSpec


@dataclass
class FleetTrace:
    """Replica counts per step and the scaling actions taken."""

    replicas: np.ndarray
    ready: np.ndarray
    actions: list[tuple[int, str, int, int]] = field(default_factory=list)


def default_policy(service: ServiceSpec) -> HorizontalPodAutoscaler:
    """The scenario's built-in HPA for an autoscaled service."""
    settings = service.autoscaling
    assert settings is not None
    return HorizontalPodAutoscaler(
        target_utilization=settings.target_utilization,
        tolerance=settings.tolerance,
        scale_down_stabilization_s=settings.scale_down_stabilization_s,
    )


def resolve_policy(
    policy: ScalingPolicy | Mapping[str, ScalingPolicy] | None,
    fleet: str,
    service_name: str,
    service: ServiceSpec,
) -> ScalingPolicy:
    """Pick the policy for one fleet; each fleet gets its own copy (own state)."""
    if policy is None:
        return default_policy(service)
    if isinstance(policy, Mapping):
        for key in (fleet, service_name):
            if key in policy:
                return copy.deepcopy(policy[key])
        return default_policy(service)
    if not callable(getattr(policy, "decide", None)):
        raise ConfigError(
            f"policy = {policy!r}; expected an object with decide(observation) "
            "and reset(), such as aiops.scaling.HorizontalPodAutoscaler()"
        )
    return copy.deepcopy(policy)


def run_fleet(
    policy: ScalingPolicy,
    service_name: str,
    service: ServiceSpec,
    load_rps: np.ndarray,
    capacity_rps: np.ndarray,
    traffic_share: np.ndarray,
    step_s: float,
    decide_every: int,
) -> FleetTrace:
    """Step one autoscaled fleet through the run under ``policy``."""
    settings = service.autoscaling
    assert settings is not None
    n_steps = load_rps.size
    replicas_out = np.empty(n_steps, dtype=np.int64)
    ready_out = np.empty(n_steps, dtype=np.int64)
    actions: list[tuple[int, str, int, int]] = []

    loads = load_rps.tolist()
    capacities = capacity_rps.tolist()
    shares = traffic_share.tolist()
    boot_steps = math.ceil(service.startup_delay_s / step_s - 1e-9)
    pending: deque[int] = deque()  # step at which each pending replica is ready
    replicas = ready = service.initial_replicas
    low, high = service.min_replicas, service.max_replicas
    policy.reset()

    for step in range(n_steps):
        while pending and pending[0] <= step:
            pending.popleft()
            ready += 1

        if step % decide_every == 0:
            load = loads[step]
            if ready > 0:
                utilization = min(load / (ready * capacities[step]), 1.0)
            else:
                utilization = 1.0 if load > 0 else 0.0
            observation = Observation(
                step=step,
                time_s=step * step_s,
                service=service_name,
                replicas=replicas,
                ready_replicas=ready,
                utilization=utilization,
                request_rate=load,
                capacity_per_replica=capacities[step],
                target_utilization=settings.target_utilization,
                min_replicas=low,
                max_replicas=high,
                traffic_share=shares[step],
            )
            desired = max(low, min(high, int(policy.decide(observation))))
            if desired > replicas:
                actions.append((step, "scale_up", replicas, desired))
                if boot_steps == 0:
                    ready += desired - replicas
                else:
                    pending.extend([step + boot_steps] * (desired - replicas))
                replicas = desired
            elif desired < replicas:
                actions.append((step, "scale_down", replicas, desired))
                surplus = replicas - desired
                # cancel replicas still booting before stopping ready ones
                while surplus and pending:
                    pending.pop()
                    surplus -= 1
                ready -= surplus
                replicas = desired

        replicas_out[step] = replicas
        ready_out[step] = ready
    return FleetTrace(replicas_out, ready_out, actions)

"""Scaling policies declared as data, shaped like Kubernetes custom resources.

A policy document is YAML::

    apiVersion: aiops/v1
    kind: ScalingPolicy
    metadata: {name: keda-rps}
    spec:
      type: keda                  # hpa | keda | predictive
      targetRequestsPerReplica: 120
      pollingIntervalSeconds: 30
      cooldownPeriodSeconds: 300

:func:`load_policy` validates it (an unknown field, a wrong type or an
impossible value is refused with the field's path) and :func:`build_policy`
turns it into a :class:`aiops.scaling.ScalingPolicy` the simulator can run.
The reactive HPA and the KEDA-style scaler need nothing else; a predictive
policy also needs the load forecast it scales ahead of.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops.errors import ConfigError
from aiops.scaling import (
    HorizontalPodAutoscaler,
    Observation,
    PredictiveScaling,
    ScalingPolicy,
    clamp_replicas,
)

API_VERSION = "aiops/v1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Metadata(_Strict):
    name: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)


class HPASpec(_Strict):
    """Kubernetes HPA on CPU utilisation, with its defaults."""

    type: Literal["hpa"]
    target_utilization: float | None = Field(
        default=None, gt=0.0, le=1.0, alias="targetUtilization"
    )
    tolerance: float = Field(default=0.1, ge=0.0, lt=1.0)
    scale_down_stabilization_s: float = Field(
        default=300.0, ge=0.0, alias="scaleDownStabilizationSeconds"
    )


class KedaSpec(_Strict):
    """KEDA-style scaler on the request rate: polled, with a cool-down."""

    type: Literal["keda"]
    target_requests_per_replica: float | None = Field(
        default=None, gt=0.0, alias="targetRequestsPerReplica"
    )
    polling_interval_s: float = Field(
        default=30.0, gt=0.0, alias="pollingIntervalSeconds"
    )
    cooldown_period_s: float = Field(
        default=300.0, ge=0.0, alias="cooldownPeriodSeconds"
    )


class PredictiveSpec(_Strict):
    """Scale ahead of the load forecast's quantile, never in on it alone."""

    type: Literal["predictive"]
    quantile: float = Field(default=0.9, gt=0.0, lt=1.0)
    target_utilization: float | None = Field(
        default=None, gt=0.0, le=1.0, alias="targetUtilization"
    )
    max_staleness_steps: int = Field(default=0, ge=0, alias="maxStalenessSteps")
    fallback: HPASpec = Field(default_factory=lambda: HPASpec(type="hpa"))


ScalingSpec = Annotated[
    HPASpec | KedaSpec | PredictiveSpec, Field(discriminator="type")
]


class ScalingPolicyDocument(_Strict):
    api_version: Literal["aiops/v1"] = Field(alias="apiVersion")
    kind: Literal["ScalingPolicy"]
    metadata: Metadata
    spec: ScalingSpec


class KedaScaler:
    """KEDA-style scaling on the request rate.

    Every ``polling_interval_s`` the scaler reads the fleet's request rate and
    asks for ``ceil(rate / target_requests_per_replica)`` replicas (by
    default the target is the service's capacity at its target utilisation).
    It scales up at once; it scales down only once the demand has stayed
    below the current count for ``cooldown_period_s``.
    """

    name = "keda"

    def __init__(
        self,
        target_requests_per_replica: float | None = None,
        polling_interval_s: float = 30.0,
        cooldown_period_s: float = 300.0,
    ) -> None:
        self.target_requests_per_replica = target_requests_per_replica
        self.polling_interval_s = polling_interval_s
        self.cooldown_period_s = cooldown_period_s
        self.reset()

    def reset(self) -> None:
        self._last_poll_s = -math.inf
        self._last_busy_s = -math.inf
        self._desired: int | None = None

    def decide(self, obs: Observation) -> int:
        if obs.time_s - self._last_poll_s >= self.polling_interval_s:
            self._last_poll_s = obs.time_s
            per_replica = self.target_requests_per_replica or (
                obs.capacity_per_replica * obs.target_utilization
            )
            self._desired = math.ceil(max(obs.request_rate, 0.0) / per_replica - 1e-9)
        desired = obs.replicas if self._desired is None else self._desired
        if desired >= obs.replicas:
            self._last_busy_s = obs.time_s
            return clamp_replicas(desired, obs)
        if obs.time_s - self._last_busy_s < self.cooldown_period_s:
            return obs.replicas
        return clamp_replicas(desired, obs)


def load_policy(source: str | Path | dict[str, Any]) -> ScalingPolicyDocument:
    """Read and validate a policy document (a YAML file or a parsed dict)."""
    where = "policy"
    if isinstance(source, dict):
        raw: Any = source
    else:
        path = Path(source)
        where = path.name
        if not path.is_file():
            raise ConfigError(f"policy file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or "invalid YAML"
            raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with apiVersion, kind, spec")
    try:
        return ScalingPolicyDocument.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        value = first.get("input")
        raise ConfigError(
            f"{where}: {field} = {value!r}; {first['msg'].lower()}"
        ) from None


def build_policy(
    document: ScalingPolicyDocument,
    forecast: np.ndarray | None = None,
    lead_steps: int = 0,
) -> ScalingPolicy:
    """The runnable policy a document declares; ``forecast`` (req/s at the
    entry, one value per step, made ``lead_steps`` ahead) for a predictive one."""
    spec = document.spec
    if isinstance(spec, HPASpec):
        return _hpa(spec)
    if isinstance(spec, KedaSpec):
        return KedaScaler(
            spec.target_requests_per_replica,
            spec.polling_interval_s,
            spec.cooldown_period_s,
        )
    if forecast is None:
        raise ConfigError(
            f"policy {document.metadata.name!r} is predictive and needs a load "
            "forecast; train a forecaster first (`aiops train forecaster`)"
        )
    return PredictiveScaling(
        forecast,
        lead_steps=lead_steps,
        target_utilization=spec.target_utilization,
        max_staleness_steps=spec.max_staleness_steps,
        fallback=_hpa(spec.fallback),
    )


def _hpa(spec: HPASpec) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(
        target_utilization=spec.target_utilization,
        tolerance=spec.tolerance,
        scale_down_stabilization_s=spec.scale_down_stabilization_s,
    )

"""Scaling and canary policies declared as data, shaped like Kubernetes
custom resources.

A policy document is YAML::

    apiVersion: aiops/v1
    kind: ScalingPolicy
    metadata: {name: keda-rps}
    spec:
      type: keda                  # hpa | keda | predictive | combined
      targetRequestsPerReplica: 120
      pollingIntervalSeconds: 30
      cooldownPeriodSeconds: 300

:func:`load_document` validates either kind (an unknown field, a wrong type
or an impossible value is refused with the field's path). :func:`build_policy`
turns a ``ScalingPolicy`` into a :class:`aiops.scaling.ScalingPolicy` the
simulator can run. The reactive HPA and the KEDA-style scaler need nothing
else; a predictive policy, and a combined one (the larger of a reactive and a
predictive policy), also need the load forecast they scale ahead of.

A ``CanaryPolicy`` declares how releases are judged (see
:mod:`aiops.canary`); :func:`build_canary_analysis` turns it into a
:class:`aiops.canary.CanaryAnalysis`::

    apiVersion: aiops/v1
    kind: CanaryPolicy
    metadata: {name: canary-kayenta}
    spec:
      judge: kayenta              # kayenta | detector | combined
      intervalSeconds: 300
      count: 6
      metrics:
        - {name: error_ratio, direction: increase, critical: true}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aiops.canary import (
    CanaryAnalysis,
    CombinedJudge,
    DetectorJudge,
    Judge,
    KayentaJudge,
    MetricSpec,
    Scorer,
)
from aiops.config import data_dir, first_validation_error, read_yaml_mapping
from aiops.errors import ConfigError
from aiops.scaling import (
    HorizontalPodAutoscaler,
    LargestOf,
    Observation,
    PredictiveScaling,
    ScalingPolicy,
    clamp_replicas,
)

API_VERSION = "aiops/v1"


class _Strict(BaseModel):
    # strict: "0.5" is not a number nor `true` a count; no infinite settings
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, strict=True, allow_inf_nan=False
    )


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
    scale_in_stabilization_s: float = Field(
        default=300.0, ge=0.0, alias="scaleInStabilizationSeconds"
    )
    surprise_ratio: float = Field(default=1.1, gt=1.0, alias="surpriseRatio")
    calibration_window_s: float = Field(
        default=0.0, ge=0.0, alias="calibrationWindowSeconds"
    )
    calibration_quantile: float = Field(
        default=0.99, gt=0.0, lt=1.0, alias="calibrationQuantile"
    )
    calibration_max_ratio: float | None = Field(
        default=None, gt=1.0, alias="calibrationMaxRatio"
    )
    fallback: HPASpec = Field(default_factory=lambda: HPASpec(type="hpa"))


class CombinedSpec(_Strict):
    """The larger of a reactive and a predictive policy's requests."""

    type: Literal["combined"]
    reactive: HPASpec | KedaSpec = Field(
        default_factory=lambda: HPASpec(type="hpa"), discriminator="type"
    )
    predictive: PredictiveSpec = Field(
        default_factory=lambda: PredictiveSpec(type="predictive")
    )


ScalingSpec = Annotated[
    HPASpec | KedaSpec | PredictiveSpec | CombinedSpec, Field(discriminator="type")
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


KINDS = ("ScalingPolicy", "CanaryPolicy")


def policies_dir() -> Path:
    return data_dir() / "policies"


def resolve_policy_path(name_or_path: str | Path) -> Path:
    """A policy named ``hpa`` lives in ``data/policies/hpa.yaml``; anything
    with a suffix or a slash is a path."""
    text = str(name_or_path)
    if (
        isinstance(name_or_path, Path)
        or text.endswith((".yaml", ".yml"))
        or ("/" in text)
    ):
        return Path(name_or_path)
    path = policies_dir() / f"{text}.yaml"
    if not path.is_file():
        known = sorted(found.stem for found in policies_dir().glob("*.yaml"))
        raise ConfigError(
            f"unknown policy {text!r}; expected one of {', '.join(known)} or a "
            "path to a policy YAML file"
        )
    return path


def load_document(source: str | Path | dict[str, Any]) -> PolicyDocument:
    """Read and validate a policy document of either kind: a parsed dict, a
    YAML file, or the name of one in ``data/policies``."""
    where = "policy"
    if isinstance(source, dict):
        raw: Any = source
    else:
        path = resolve_policy_path(source)
        where = f"policy {path.name}"
        raw = read_yaml_mapping(path, "policy", "apiVersion, kind, spec")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with apiVersion, kind, spec")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(
            f"{where}: kind = {kind!r}; expected one of {', '.join(KINDS)}"
        )
    model = ScalingPolicyDocument if kind == "ScalingPolicy" else CanaryPolicyDocument
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{where}: {first_validation_error(error)}") from None


def load_policy(source: str | Path | dict[str, Any]) -> ScalingPolicyDocument:
    """Read and validate a scaling policy (see :func:`load_document`)."""
    document = load_document(source)
    if not isinstance(document, ScalingPolicyDocument):
        raise ConfigError(
            f"policy {document.metadata.name!r} is a {document.kind}; expected "
            "a ScalingPolicy"
        )
    return document


def build_policy(
    document: ScalingPolicyDocument,
    forecast: np.ndarray | None = None,
    lead_steps: int = 0,
) -> ScalingPolicy:
    """The runnable policy a document declares; ``forecast`` (req/s at the
    entry, one value per step, made ``lead_steps`` ahead) for a predictive or
    combined one."""
    spec = document.spec
    if isinstance(spec, HPASpec | KedaSpec):
        return _reactive(spec)
    if forecast is None:
        raise ConfigError(
            f"policy {document.metadata.name!r} is {spec.type} and needs a load "
            "forecast; train a forecaster first (`aiops train forecaster`)"
        )
    if isinstance(spec, PredictiveSpec):
        return _predictive(spec, forecast, lead_steps)
    return LargestOf(
        _reactive(spec.reactive),
        _predictive(spec.predictive, forecast, lead_steps),
        name=document.metadata.name,
    )


def forecast_quantile(document: ScalingPolicyDocument) -> float | None:
    """The forecast quantile a policy scales on; None for a reactive one."""
    spec = document.spec
    if isinstance(spec, PredictiveSpec):
        return spec.quantile
    if isinstance(spec, CombinedSpec):
        return spec.predictive.quantile
    return None


def _predictive(
    spec: PredictiveSpec, forecast: np.ndarray, lead_steps: int
) -> PredictiveScaling:
    return PredictiveScaling(
        forecast,
        lead_steps=lead_steps,
        target_utilization=spec.target_utilization,
        max_staleness_steps=spec.max_staleness_steps,
        fallback=_hpa(spec.fallback),
        scale_in_stabilization_s=spec.scale_in_stabilization_s,
        surprise_ratio=spec.surprise_ratio,
        calibration_window_s=spec.calibration_window_s,
        calibration_quantile=spec.calibration_quantile,
        calibration_max_ratio=spec.calibration_max_ratio or math.inf,
    )


def _reactive(spec: HPASpec | KedaSpec) -> ScalingPolicy:
    if isinstance(spec, HPASpec):
        return _hpa(spec)
    return KedaScaler(
        spec.target_requests_per_replica,
        spec.polling_interval_s,
        spec.cooldown_period_s,
    )


def _hpa(spec: HPASpec) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(
        target_utilization=spec.target_utilization,
        tolerance=spec.tolerance,
        scale_down_stabilization_s=spec.scale_down_stabilization_s,
    )


# ---------------------------------------------------------------- canaries


class CanaryMetric(_Strict):
    """A :class:`MetricSpec` in a policy document."""

    name: str = Field(min_length=1)
    direction: Literal["increase", "decrease", "either"] = "increase"
    critical: bool = False
    effect_size: float = Field(default=0.1, ge=0.0, alias="effectSize")
    absolute_tolerance: float = Field(default=1e-4, ge=0.0, alias="absoluteTolerance")
    nan_strategy: Literal["remove", "replace"] = Field("remove", alias="nanStrategy")


class DetectorSettings(_Strict):
    """The :class:`DetectorJudge`'s test; ``minSamples`` defaults to the spec's."""

    effect_size: float = Field(default=0.2, ge=0.0, alias="effectSize")
    confidence: float = Field(default=0.98, gt=0.0, lt=1.0)
    min_samples: int | None = Field(default=None, ge=2, alias="minSamples")
    warmup: int = Field(default=0, ge=0)


class CanarySpec(_Strict):
    judge: Literal["kayenta", "detector", "combined"]
    interval_s: float = Field(default=300.0, gt=0.0, alias="intervalSeconds")
    count: int = Field(default=6, ge=1)
    failure_limit: int = Field(default=0, ge=0, alias="failureLimit")
    inconclusive_limit: int = Field(default=1, ge=0, alias="inconclusiveLimit")
    marginal_is_inconclusive: bool = Field(True, alias="marginalIsInconclusive")
    combine_mode: Literal["any_fail", "all_fail"] = Field(
        default="any_fail", alias="combineMode"
    )
    confidence: float = Field(default=0.98, gt=0.0, lt=1.0)
    marginal_threshold: float = Field(75.0, ge=0.0, le=100.0, alias="marginalThreshold")
    pass_threshold: float = Field(95.0, ge=0.0, le=100.0, alias="passThreshold")
    min_samples: int = Field(default=10, ge=2, alias="minSamples")
    metrics: list[CanaryMetric] = Field(default_factory=list)
    detector: DetectorSettings = Field(default_factory=DetectorSettings)

    @model_validator(mode="after")
    def _consistent(self) -> CanarySpec:
        names = [metric.name for metric in self.metrics]
        if self.marginal_threshold > self.pass_threshold:
            raise ValueError(
                f"marginalThreshold {self.marginal_threshold:g} is above "
                f"passThreshold {self.pass_threshold:g}; lower it"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"metric names {names} repeat; declare each metric once")
        if self.judge != "detector" and not names:
            raise ValueError(f"the {self.judge} judge needs at least one metric")
        return self


class CanaryPolicyDocument(_Strict):
    api_version: Literal["aiops/v1"] = Field(alias="apiVersion")
    kind: Literal["CanaryPolicy"]
    metadata: Metadata
    spec: CanarySpec


def load_canary_policy(source: str | Path | dict[str, Any]) -> CanaryPolicyDocument:
    """Read and validate a canary policy (a YAML file or a parsed dict)."""
    document = load_document(source)
    if not isinstance(document, CanaryPolicyDocument):
        raise ConfigError(
            f"policy {document.metadata.name!r} is a {document.kind}; expected "
            "a CanaryPolicy"
        )
    return document


def build_canary_analysis(
    document: CanaryPolicyDocument, scorer: Scorer | None = None
) -> CanaryAnalysis:
    """The analysis a document declares. A detector or combined judge also
    needs ``scorer``: one anomaly score per frame row (see :class:`DetectorJudge`)."""
    spec = document.spec
    judge: Judge
    if spec.judge == "kayenta":
        judge = _kayenta(spec)
    else:
        if scorer is None:
            raise ConfigError(
                f"canary policy {document.metadata.name!r} uses the {spec.judge} "
                "judge, which needs an anomaly detector's scorer; train a detector "
                "first (`aiops train detector`)"
            )
        settings = spec.detector
        judge = DetectorJudge(
            scorer,
            settings.confidence,
            settings.effect_size,
            settings.min_samples or spec.min_samples,
            settings.warmup,
        )
        if spec.judge == "combined":
            parts: list[tuple[str, Judge]] = [("kayenta", _kayenta(spec))]
            parts.append(("detector", judge))
            judge = CombinedJudge(parts, spec.combine_mode)
    return CanaryAnalysis(
        judge,
        spec.interval_s,
        spec.count,
        spec.failure_limit,
        spec.inconclusive_limit,
        spec.marginal_is_inconclusive,
    )


def _kayenta(spec: CanarySpec) -> KayentaJudge:
    return KayentaJudge(
        [MetricSpec(**metric.model_dump()) for metric in spec.metrics],
        spec.confidence,
        spec.marginal_threshold,
        spec.pass_threshold,
        spec.min_samples,
    )


PolicyDocument = ScalingPolicyDocument | CanaryPolicyDocument

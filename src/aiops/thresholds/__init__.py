"""Thresholds that turn continuous anomaly scores into 0/1 alarms.

A threshold is fitted on scores (usually those of a detector's validation part)
and kept apart from the detector, so it can be saved as a plain dict, swapped or
refitted without retraining. Fixed cut-offs (:class:`QuantileThreshold`,
:class:`POTThreshold`) compare every score with one level; adaptive ones
(:class:`SPOTThreshold`, :class:`DynamicThreshold`) move the level as scores
arrive. :func:`postprocess_alarms` then cleans the alarm sequence (minimum
duration, merging of close segments, cool-down).
"""

from __future__ import annotations

from typing import Any

from aiops.errors import ConfigError
from aiops.thresholds.adaptive import DynamicThreshold, SPOTThreshold
from aiops.thresholds.alarms import (
    AlarmFilter,
    alarm_segments,
    anomaly_likelihood,
    onset_likelihood,
    postprocess_alarms,
)
from aiops.thresholds.static import BaseThreshold, POTThreshold, QuantileThreshold

__all__ = [
    "AlarmFilter",
    "BaseThreshold",
    "DynamicThreshold",
    "POTThreshold",
    "QuantileThreshold",
    "SPOTThreshold",
    "alarm_segments",
    "anomaly_likelihood",
    "onset_likelihood",
    "postprocess_alarms",
    "threshold_from_dict",
]

_KINDS: dict[str, type[BaseThreshold]] = {
    kind.kind: kind
    for kind in (QuantileThreshold, POTThreshold, SPOTThreshold, DynamicThreshold)
}


def threshold_from_dict(spec: dict[str, Any]) -> BaseThreshold:
    """Rebuild a threshold from :meth:`BaseThreshold.to_dict` output.

    ``{"kind": "quantile", "q": 0.99}`` gives an unfitted threshold; a dict that
    also holds ``value`` gives a fitted one that can ``predict`` straight away.
    """
    kind = spec.get("kind")
    if kind not in _KINDS:
        raise ConfigError(
            f"threshold kind {kind!r} is not known; use one of {sorted(_KINDS)} "
            "under the key 'kind'"
        )
    cls = _KINDS[kind]
    fitted = {"value", *cls.fitted_keys}
    params = {k: v for k, v in spec.items() if k != "kind" and k not in fitted}
    try:
        threshold = cls(**params)
    except TypeError as error:
        raise ConfigError(f"bad parameters for a {kind} threshold: {error}") from None
    if "value" in spec:
        threshold.value_ = float(spec["value"])
        for key in cls.fitted_keys:
            if key in spec:
                setattr(threshold, f"{key}_", spec[key])
    return threshold

"""Thresholds that turn continuous anomaly scores into 0/1 alarms.

A threshold is fitted on scores (usually those of a detector's validation part)
and kept apart from the detector, so it can be saved as a plain dict, swapped or
refitted without retraining. :func:`postprocess_alarms` then cleans the alarm
sequence (minimum duration, merging of close segments, cool-down).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from aiops.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = [
    "BaseThreshold",
    "POTThreshold",
    "QuantileThreshold",
    "alarm_segments",
    "anomaly_likelihood",
    "onset_likelihood",
    "postprocess_alarms",
    "threshold_from_dict",
]


class BaseThreshold:
    """A fitted cut-off: a score strictly above ``value_`` raises an alarm."""

    kind: str = ""
    value_: float

    def fit(self, scores: np.ndarray) -> BaseThreshold:
        values = _as_finite_scores(scores)
        self.value_ = float(self._fit_value(values))
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """Return an int8 array, 1 where ``scores > value_``."""
        if not hasattr(self, "value_"):
            raise DataError(
                f"{type(self).__name__} is not fitted; call fit(scores) or build it "
                "with threshold_from_dict on a dict that holds 'value'"
            )
        return (np.asarray(scores, dtype=float) > self.value_).astype(np.int8)

    def to_dict(self) -> dict[str, Any]:
        """Parameters, plus the fitted ``value`` when fitted."""
        spec: dict[str, Any] = {"kind": self.kind, **self._params()}
        if hasattr(self, "value_"):
            spec["value"] = self.value_
            spec.update(self._fitted_extras())
        return spec

    def _fit_value(self, scores: np.ndarray) -> float:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    def _fitted_extras(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._params().items())
        return f"{type(self).__name__}({args})"


class QuantileThreshold(BaseThreshold):
    """Cut-off at the ``q`` quantile of the fitted scores (linear interpolation).

    With ``q=0.995`` about 0.5 % of scores like the fitted ones raise an alarm.
    """

    kind = "quantile"

    def __init__(self, q: float = 0.995) -> None:
        self.q = q

    def _fit_value(self, scores: np.ndarray) -> float:
        if not 0.0 < self.q < 1.0:
            raise ConfigError(f"quantile q must lie in (0, 1); got {self.q!r}")
        return float(np.quantile(scores, self.q))

    def _params(self) -> dict[str, Any]:
        return {"q": self.q}


class POTThreshold(BaseThreshold):
    """Peaks-over-threshold cut-off from a generalised Pareto tail fit.

    Scores above the ``init_quantile`` level ``t`` are modelled as
    ``t + GPD(shape, scale)``; the cut-off is the level exceeded with probability
    ``risk`` (Siffer et al., KDD 2017, eq. 1). With fewer than ``min_peaks``
    excesses the tail cannot be fitted and the plain ``1 - risk`` quantile is used
    instead, with a :class:`RuntimeWarning`.
    """

    kind = "pot"

    def __init__(
        self, risk: float = 1e-3, init_quantile: float = 0.98, min_peaks: int = 10
    ) -> None:
        self.risk = risk
        self.init_quantile = init_quantile
        self.min_peaks = min_peaks

    def _fit_value(self, scores: np.ndarray) -> float:
        if not 0.0 < self.risk < 1.0 - self.init_quantile:
            raise ConfigError(
                f"POT risk must lie in (0, 1 - init_quantile = "
                f"{1.0 - self.init_quantile:g}); got {self.risk!r}"
            )
        if not 0.0 < self.init_quantile < 1.0:
            raise ConfigError(
                f"POT init_quantile must lie in (0, 1); got {self.init_quantile!r}"
            )
        initial = float(np.quantile(scores, self.init_quantile))
        excesses = scores[scores > initial] - initial
        self.initial_value_ = initial
        self.n_peaks_ = int(excesses.size)

        if excesses.size < self.min_peaks or np.ptp(excesses) == 0.0:
            warnings.warn(
                f"only {excesses.size} distinct scores above the {self.init_quantile} "
                f"quantile (need {self.min_peaks}); using the {1 - self.risk:g} "
                "quantile instead of a tail fit",
                RuntimeWarning,
                stacklevel=3,
            )
            self.shape_, self.scale_ = 0.0, 0.0
            return float(np.quantile(scores, 1.0 - self.risk))

        shape, _, scale = stats.genpareto.fit(excesses, floc=0.0)
        self.shape_, self.scale_ = float(shape), float(scale)
        # Ratio of the target exceedance probability to the empirical one of t.
        ratio = self.risk * scores.size / excesses.size
        if abs(shape) < 1e-9:
            return initial - scale * math.log(ratio)
        return initial + scale / shape * (ratio ** (-shape) - 1.0)

    def _params(self) -> dict[str, Any]:
        return {
            "risk": self.risk,
            "init_quantile": self.init_quantile,
            "min_peaks": self.min_peaks,
        }

    def _fitted_extras(self) -> dict[str, Any]:
        return {
            "initial_value": self.initial_value_,
            "n_peaks": self.n_peaks_,
            "shape": self.shape_,
            "scale": self.scale_,
        }


_KINDS: dict[str, type[BaseThreshold]] = {
    QuantileThreshold.kind: QuantileThreshold,
    POTThreshold.kind: POTThreshold,
}
_FITTED_KEYS = {"value", "initial_value", "n_peaks", "shape", "scale"}


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
    params = {k: v for k, v in spec.items() if k != "kind" and k not in _FITTED_KEYS}
    try:
        threshold = cls(**params)
    except TypeError as error:
        raise ConfigError(f"bad parameters for a {kind} threshold: {error}") from None
    if "value" in spec:
        threshold.value_ = float(spec["value"])
        for key in _FITTED_KEYS - {"value"}:
            if key in spec:
                setattr(threshold, f"{key}_", spec[key])
    return threshold


def alarm_segments(alarms: np.ndarray) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` index pairs (stop exclusive) of runs of ones."""
    flags = np.asarray(alarms).astype(bool).astype(np.int8)
    edges = np.diff(np.concatenate(([0], flags, [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def postprocess_alarms(
    alarms: np.ndarray, min_duration: int = 1, merge_gap: int = 0, cooldown: int = 0
) -> np.ndarray:
    """Clean a 0/1 alarm sequence; returns a new int8 array.

    Steps, in this order:

    1. segments separated by at most ``merge_gap`` quiet steps are merged (the
       gap is filled with ones);
    2. segments shorter than ``min_duration`` steps are dropped;
    3. a segment starting fewer than ``cooldown`` steps after the end of the
       previous kept segment is dropped (one page per incident).
    """
    for name, number in (
        ("min_duration", min_duration),
        ("merge_gap", merge_gap),
        ("cooldown", cooldown),
    ):
        if number < 0 or int(number) != number:
            raise ConfigError(f"{name} must be a whole number >= 0; got {number!r}")
    flags = np.asarray(alarms)
    if flags.ndim != 1:
        raise DataError(f"alarms must be 1-D; got shape {flags.shape}")

    segments = alarm_segments(flags)
    merged: list[list[int]] = []
    for start, stop in segments:
        if merged and start - merged[-1][1] <= merge_gap:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])

    kept: list[list[int]] = []
    for start, stop in merged:
        if stop - start < min_duration:
            continue
        if kept and start - kept[-1][1] < cooldown:
            continue
        kept.append([start, stop])

    cleaned = np.zeros(flags.shape[0], dtype=np.int8)
    for start, stop in kept:
        cleaned[start:stop] = 1
    return cleaned


def _as_finite_scores(scores: np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=float).ravel()
    if values.size == 0:
        raise DataError("cannot fit a threshold on an empty score array")
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise DataError(
            f"scores hold {bad} NaN/inf values out of {values.size}; "
            "fit the threshold on finite scores only"
        )
    return values


def anomaly_likelihood(
    scores: np.ndarray, short_window: int = 10, long_window: int = 2000
) -> np.ndarray:
    """Causal tail probability of the recent scores against their own past.

    The mean of the last ``short_window`` scores is compared with the mean and
    spread of the ``long_window`` scores before it, ``Phi((short - mean) / std)``
    - the idea of Numenta's anomaly likelihood (Ahmad et al., Neurocomputing
    2017). It puts the scores of different series and detectors on one [0, 1]
    scale without labels, which a corpus-wide threshold (NAB) needs. Steps with
    fewer than ``short_window`` past scores get 0.5.
    """
    z, warm = _causal_z(scores, short_window, long_window)
    likelihood = stats.norm.cdf(z)
    likelihood[~warm] = 0.5
    return np.asarray(likelihood, dtype=float)


def onset_likelihood(
    scores: np.ndarray,
    short_window: int = 1,
    long_window: int = 2000,
    quiet_steps: int = 100,
    decades: float = 50.0,
) -> np.ndarray:
    """A [0, 1] score that marks where anomalies begin, for NAB-style scoring.

    Two changes to :func:`anomaly_likelihood`. The tail probability is read
    on a log scale, ``-log10(1 - Phi(z)) / decades``, since ``Phi`` rounds to
    exactly 1 from z of about 8 and a corpus-wide threshold then cannot tell
    a strong anomaly from a weak one. And a step keeps its value only when it
    exceeds every value of the ``quiet_steps`` before it (else 0): one alarm
    at the onset of an episode rather than a run of them, since NAB rewards
    the first detection in a window and charges for every one outside.
    """
    if int(quiet_steps) != quiet_steps or quiet_steps < 0:
        raise ConfigError(f"quiet_steps must be a whole number >= 0; got {quiet_steps}")
    if not decades > 0:
        raise ConfigError(f"decades must be > 0; got {decades!r}")
    z, warm = _causal_z(scores, short_window, long_window)
    level = np.clip(-stats.norm.logsf(z) / np.log(10.0) / decades, 0.0, 1.0)
    level[~warm] = 0.0
    if quiet_steps == 0:
        return np.asarray(level, dtype=float)
    before = (
        pd.Series(level)
        .shift(1)
        .rolling(int(quiet_steps), min_periods=1)
        .max()
        .fillna(-1.0)
        .to_numpy()
    )
    return np.where(level > before, level, 0.0)


def _causal_z(
    scores: np.ndarray, short_window: int, long_window: int
) -> tuple[np.ndarray, np.ndarray]:
    """z of the mean of the last ``short_window`` scores against the
    ``long_window`` before them, and whether that past was long enough."""
    values = _as_finite_scores(scores)
    for name, number in (("short_window", short_window), ("long_window", long_window)):
        if int(number) != number or number < 1:
            raise ConfigError(f"{name} must be a whole number >= 1; got {number!r}")
    cumulative = np.r_[0.0, np.cumsum(values)]
    squares = np.r_[0.0, np.cumsum(values**2)]
    index = np.arange(values.size)

    recent_first = np.maximum(index + 1 - short_window, 0)
    recent = (cumulative[index + 1] - cumulative[recent_first]) / (
        index + 1 - recent_first
    )
    # The long window ends where the short one starts, so a burst does not
    # hide itself by raising its own baseline.
    past_stop = recent_first
    past_first = np.maximum(past_stop - long_window, 0)
    count = np.maximum(past_stop - past_first, 1)
    mean = (cumulative[past_stop] - cumulative[past_first]) / count
    variance = (squares[past_stop] - squares[past_first]) / count - mean**2
    spread = np.sqrt(np.maximum(variance, 0.0))
    floor = 1e-6 * max(float(np.abs(values).max()), 1e-12)
    z = (recent - mean) / np.maximum(spread, floor)
    warm = past_stop - past_first >= short_window
    return z, warm

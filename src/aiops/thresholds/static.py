"""Fixed cut-offs fitted once on calibration scores: a quantile, or the level
from a peaks-over-threshold tail fit."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import stats

from aiops.errors import ConfigError, DataError


class BaseThreshold:
    """A fitted cut-off: a score strictly above ``value_`` raises an alarm.

    ``fitted_keys`` name the fitted attributes (stored with a trailing ``_``)
    that :meth:`to_dict` saves beside ``value`` and that
    :func:`aiops.thresholds.threshold_from_dict` restores.
    """

    kind: str = ""
    fitted_keys: tuple[str, ...] = ()
    value_: float

    def fit(self, scores: np.ndarray) -> BaseThreshold:
        values = _as_finite_scores(scores)
        self.value_ = float(self._fit_value(values))
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """Return an int8 array, 1 where a score is above its cut-off."""
        return self.streaming().predict(scores)

    def streaming(self) -> ThresholdStream:
        """Alarms for one long series fed in consecutive chunks; an adaptive
        threshold carries its state from chunk to chunk."""
        self._check_fitted()
        return FixedStream(self.value_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "value_"):
            raise DataError(
                f"{type(self).__name__} is not fitted; call fit(scores) or build it "
                "with threshold_from_dict on a dict that holds 'value'"
            )

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
        return {key: getattr(self, f"{key}_") for key in self.fitted_keys}

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
    fitted_keys: tuple[str, ...] = ("initial_value", "n_peaks", "shape", "scale")

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


class ThresholdStream:
    """Alarms for consecutive chunks of one series."""

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """0/1 alarms (int8) for the next ``len(scores)`` steps."""
        return (np.asarray(scores, dtype=float) > self.cutoffs(scores)).astype(np.int8)

    def cutoffs(self, scores: np.ndarray) -> np.ndarray:
        """The cut-off in force at each of the next ``len(scores)`` steps."""
        raise NotImplementedError


class FixedStream(ThresholdStream):
    def __init__(self, value: float) -> None:
        self.value = value

    def cutoffs(self, scores: np.ndarray) -> np.ndarray:
        return np.full(np.asarray(scores).shape, self.value, dtype=float)

"""Cut-offs that move as scores arrive.

:class:`SPOTThreshold` is streaming peaks-over-threshold (Siffer et al., KDD
2017, algorithm "SPOT"): the tail model is updated with every new peak that is
not itself an alarm. :class:`DynamicThreshold` is the non-parametric dynamic
threshold of Hundman et al. (KDD 2018): at regular intervals it picks, on the
recent scores, the level whose removal most lowers their mean and spread for
the fewest flagged points. Both are causal: the cut-off at a step depends on
earlier scores only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from aiops.errors import ConfigError
from aiops.thresholds.static import (
    BaseThreshold,
    POTThreshold,
    ThresholdStream,
    _as_finite_scores,
)


def gpd_moments(count: int, total: float, squares: float) -> tuple[float, float]:
    """GPD (shape, scale) of excesses by the method of moments.

    From the count, sum and sum of squares of the excesses, so a stream can
    update it in O(1) per peak (Hosking & Wallis, Technometrics 1987). The
    estimate needs shape < 1/2; a sample with spread 0 gives an exponential
    tail with its mean as scale.
    """
    mean = total / count
    variance = max(squares / count - mean * mean, 0.0)
    if variance <= 0.0 or mean <= 0.0:
        return 0.0, max(mean, 1e-12)
    ratio = mean * mean / variance
    return 0.5 * (1.0 - ratio), 0.5 * mean * (ratio + 1.0)


def tail_quantile(
    initial: float, shape: float, scale: float, risk: float, n: int, n_peaks: int
) -> float:
    """Level exceeded with probability ``risk`` (Siffer et al., eq. 1)."""
    ratio = risk * n / n_peaks
    if abs(shape) < 1e-9:
        return initial - scale * math.log(ratio)
    return initial + scale / shape * (ratio ** (-shape) - 1.0)


class SPOTThreshold(POTThreshold):
    """Streaming POT: fit as :class:`POTThreshold`, then update as scores come.

    A score above the cut-off is an alarm and, as in the paper, leaves the
    model alone; a score above the initial level ``t`` but below the cut-off
    is a new peak and moves the cut-off; any other score only counts. The
    tail is estimated by the method of moments throughout
    (:func:`gpd_moments`), so an update costs O(1). With fewer than
    ``min_peaks`` peaks the cut-off stays at the plain ``1 - risk`` quantile
    of the calibration scores.

    Keeping alarms out of the tail censors it: on scores with no anomaly at
    all the cut-off settles lower than the true ``1 - risk`` level, and the
    alarm rate ends a few times ``risk`` (about 3.5x for exponential scores
    at the defaults). ``learn_alarms=True`` feeds alarms to the tail as well,
    which holds the rate at ``risk`` but lets a long anomaly raise the cut-off
    that should flag it.
    """

    kind = "spot"
    fitted_keys: tuple[str, ...] = (
        "initial_value",
        "n_peaks",
        "shape",
        "scale",
        "n_seen",
        "peak_sum",
        "peak_squares",
    )

    def __init__(
        self,
        risk: float = 1e-3,
        init_quantile: float = 0.98,
        min_peaks: int = 10,
        learn_alarms: bool = False,
    ) -> None:
        super().__init__(risk, init_quantile, min_peaks)
        self.learn_alarms = learn_alarms

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "learn_alarms": self.learn_alarms}

    def _fit_value(self, scores: np.ndarray) -> float:
        value = super()._fit_value(scores)
        excesses = scores[scores > self.initial_value_] - self.initial_value_
        self.n_seen_ = int(scores.size)
        self.peak_sum_ = float(excesses.sum())
        self.peak_squares_ = float((excesses**2).sum())
        if self.n_peaks_ < self.min_peaks or self.shape_ == self.scale_ == 0.0:
            return value
        self.shape_, self.scale_ = gpd_moments(
            self.n_peaks_, self.peak_sum_, self.peak_squares_
        )
        return tail_quantile(
            self.initial_value_,
            self.shape_,
            self.scale_,
            self.risk,
            self.n_seen_,
            self.n_peaks_,
        )

    def streaming(self) -> ThresholdStream:
        self._check_fitted()
        return _SPOTStream(self)


class _SPOTStream(ThresholdStream):
    def __init__(self, fitted: SPOTThreshold) -> None:
        self.risk = fitted.risk
        self.min_peaks = fitted.min_peaks
        self.learn_alarms = bool(fitted.learn_alarms)
        self.initial = float(fitted.initial_value_)
        self.cutoff = float(fitted.value_)
        self.n_seen = int(fitted.n_seen_)
        self.n_peaks = int(fitted.n_peaks_)
        self.total = float(fitted.peak_sum_)
        self.squares = float(fitted.peak_squares_)

    def cutoffs(self, scores: np.ndarray) -> np.ndarray:
        values = np.asarray(scores, dtype=float)
        seen_before = self.n_seen
        alarms = 0
        changes = [(0, self.cutoff)]
        # Only scores above the initial level change anything (the cut-off
        # never falls below it); the rest just count.
        for position in np.flatnonzero(values > self.initial).tolist():
            score = values[position]
            if score > self.cutoff and not self.learn_alarms:
                alarms += 1  # an alarm: neither a peak nor counted
                continue
            excess = score - self.initial
            self.n_peaks += 1
            self.total += excess
            self.squares += excess * excess
            if self.n_peaks >= self.min_peaks:
                n_seen = seen_before + position + 1 - alarms
                shape, scale = gpd_moments(self.n_peaks, self.total, self.squares)
                self.cutoff = tail_quantile(
                    self.initial, shape, scale, self.risk, n_seen, self.n_peaks
                )
                changes.append((position + 1, self.cutoff))
        self.n_seen = seen_before + values.size - alarms

        out = np.empty(values.shape)
        bounds = [position for position, _ in changes[1:]] + [values.size]
        for (first, cutoff), stop in zip(changes, bounds, strict=True):
            out[first:stop] = cutoff
        return out


class DynamicThreshold(BaseThreshold):
    """Non-parametric dynamic threshold (Hundman et al., KDD 2018, sec. 3.2).

    Every ``stride`` steps the cut-off is chosen on the last ``window`` scores
    (calibration scores first, then the stream): among ``mean + z * std`` for
    z in ``z_values``, the one maximising

        (delta_mean / mean + delta_std / std) / (n_above + n_sequences**2)

    where the deltas are the drop in mean and standard deviation once the
    scores above the level are removed, ``n_above`` counts them and
    ``n_sequences`` counts their runs. When no level flags anything the
    largest z is used.
    """

    kind = "dynamic"
    fitted_keys: tuple[str, ...] = ("history",)

    def __init__(
        self,
        window: int = 2000,
        stride: int = 100,
        z_values: tuple[float, ...] = (2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0),
    ) -> None:
        self.window = window
        self.stride = stride
        self.z_values = z_values

    def _fit_value(self, scores: np.ndarray) -> float:
        for name in ("window", "stride"):
            number = getattr(self, name)
            if int(number) != number or number < 2:
                raise ConfigError(f"{name} must be a whole number >= 2; got {number}")
        if not self.z_values or min(self.z_values) <= 0:
            raise ConfigError(
                f"z_values must be positive numbers; got {list(self.z_values)}"
            )
        self.history_ = scores[-int(self.window) :].tolist()
        return dynamic_level(scores[-int(self.window) :], self.z_values)

    def streaming(self) -> ThresholdStream:
        self._check_fitted()
        return _DynamicStream(self)

    def _params(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "stride": self.stride,
            "z_values": list(self.z_values),
        }


def dynamic_level(scores: np.ndarray, z_values: tuple[float, ...]) -> float:
    """The cut-off of :class:`DynamicThreshold` for one window of scores."""
    values = _as_finite_scores(scores)
    mean, spread = float(values.mean()), float(values.std())
    if spread == 0.0:
        return mean
    best_level, best_score = mean + max(z_values) * spread, -math.inf
    for z in sorted(z_values):
        level = mean + z * spread
        above = values > level
        n_above = int(above.sum())
        if n_above == 0 or n_above == values.size:
            continue
        below = values[~above]
        n_sequences = int(np.count_nonzero(np.diff(np.r_[0, above.astype(int)]) == 1))
        gain = (mean - below.mean()) / abs(mean or 1.0) + (spread - below.std()) / (
            spread
        )
        score = gain / (n_above + n_sequences**2)
        if score > best_score:
            best_level, best_score = level, score
    return best_level


class _DynamicStream(ThresholdStream):
    def __init__(self, fitted: DynamicThreshold) -> None:
        self.window = int(fitted.window)
        self.stride = int(fitted.stride)
        self.z_values = tuple(float(z) for z in fitted.z_values)
        self.history = np.asarray(fitted.history_, dtype=float)
        self.cutoff = float(fitted.value_)
        self.since_update = 0

    def cutoffs(self, scores: np.ndarray) -> np.ndarray:
        values = np.asarray(scores, dtype=float)
        out = np.empty(values.shape)
        position = 0
        while position < values.size:
            # steps left before the next update, which sees them all
            take = min(self.stride - self.since_update, values.size - position)
            out[position : position + take] = self.cutoff
            chunk = values[position : position + take]
            self.history = np.r_[self.history, chunk][-self.window :]
            self.since_update += take
            position += take
            if self.since_update == self.stride:
                self.cutoff = dynamic_level(self.history, self.z_values)
                self.since_update = 0
        return out

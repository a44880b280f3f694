"""Common contract of the anomaly detectors.

:class:`BaseDetector` follows the scikit-learn estimator contract: ``__init__``
stores its arguments, ``fit`` learns attributes ending in ``_``. Its public
methods check the input once (shape, dtype, finite values, regular time grid,
length, columns), standardise every column with the training statistics and hand
a float array to the private hooks ``_fit`` / ``_score`` / ``_attribute`` that
each concrete detector implements.

``fit`` holds out the last ``validation_fraction`` of the series: the model
learns on the first part, and ``threshold_`` is fitted on the scores of the held
out part, so the threshold reflects scores of data the model did not train on.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from aiops.errors import ConfigError, DataError
from aiops.thresholds import BaseThreshold, QuantileThreshold, threshold_from_dict

logger = logging.getLogger(__name__)


class BaseDetector(BaseEstimator):
    """Score every time step of a multivariate series; higher = more anomalous.

    Subclasses declare ``validation_fraction``, ``threshold``,
    ``threshold_quantile`` and ``require_regular`` parameters and implement
    ``_fit``, ``_score`` and ``_attribute`` on standardised arrays of shape
    ``(n_steps, n_features)``.

    Attributes
    ----------
    feature_names_in_ : list[str]
        Column names seen in ``fit`` (``x0``, ``x1``, ... for arrays).
    n_features_in_ : int
    mean_, scale_ : np.ndarray
        Per-column training mean and standard deviation (0 replaced by 1).
    step_s_ : float or None
        Grid step of the training index in seconds, ``None`` without a
        ``DatetimeIndex`` or when the grid check is switched off.
    threshold_ : BaseThreshold
        Fitted on the scores of the validation part.
    """

    validation_fraction: float
    threshold: dict[str, Any] | None
    threshold_quantile: float
    require_regular: bool

    # -- public API -----------------------------------------------------------

    def fit(self, X: pd.DataFrame | np.ndarray, y: Any = None) -> BaseDetector:
        """Learn from ``X`` (rows = time steps, columns = metrics); ``y`` unused."""
        self._check_params()
        frame = self._validate(X, fitting=True)
        values = frame.to_numpy(dtype=np.float64)
        n_train = self._train_length(values.shape[0])

        train = values[:n_train]
        self.mean_ = train.mean(axis=0)
        scale = train.std(axis=0)
        # A constant column carries no signal; scale 1 keeps it finite.
        self.scale_ = np.where(scale > 0.0, scale, 1.0)
        standardised = (values - self.mean_) / self.scale_

        self._fit(standardised, n_train)
        validation_scores = self._score(standardised)[n_train:]
        self.threshold_ = self._make_threshold().fit(validation_scores)
        logger.info(
            "%s fitted on %d steps x %d features (%d held out), threshold %.4g",
            type(self).__name__,
            n_train,
            self.n_features_in_,
            values.shape[0] - n_train,
            self.threshold_.value_,
        )
        return self

    def score_samples(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Return one float score per row, shape ``(n,)``; higher = more anomalous."""
        return self._score(self._standardise(X))

    def attribute(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Per-metric share of the score, shape ``(n, n_features)``; rows sum to
        the score of :meth:`score_samples`."""
        return self._attribute(self._standardise(X))

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Return 0/1 alarms (int8) from :meth:`score_samples` and ``threshold_``."""
        self._check_fitted()
        return self.threshold_.predict(self.score_samples(X))

    # -- hooks for subclasses -------------------------------------------------

    def _fit(self, standardised: np.ndarray, n_train: int) -> None:
        """Learn from ``standardised[:n_train]``; the rest may steer early stopping."""
        raise NotImplementedError

    def _score(self, standardised: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _attribute(self, standardised: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _context_length(self) -> int:
        """Steps of history a score needs; inputs must be longer than this."""
        return 0

    def _min_train_length(self) -> int:
        """Fewest rows the training part (before the held-out part) may have."""
        return self._context_length() + 2

    def _check_params(self) -> None:
        """Refuse parameter values that cannot work, before touching data."""

    # -- shared machinery -----------------------------------------------------

    def _make_threshold(self) -> BaseThreshold:
        if self.threshold is None:
            return QuantileThreshold(q=self.threshold_quantile)
        if not isinstance(self.threshold, dict):
            raise ConfigError(
                "threshold must be a dict such as {'kind': 'quantile', 'q': 0.995} "
                f"or None; got {type(self.threshold).__name__}"
            )
        spec = {k: v for k, v in self.threshold.items() if k != "value"}
        return threshold_from_dict(spec)

    def _train_length(self, n_rows: int) -> int:
        fraction = self.validation_fraction
        if not 0.0 < fraction < 1.0:
            raise ConfigError(
                f"validation_fraction must lie in (0, 1); got {fraction!r}"
            )
        n_validation = max(1, round(n_rows * fraction))
        n_train = n_rows - n_validation
        needed = self._min_train_length()
        if n_train < needed:
            raise DataError(
                f"{type(self).__name__} needs at least {needed} training rows after "
                f"holding out validation_fraction={fraction}; got {n_train} of "
                f"{n_rows}; pass a longer series or a smaller window"
            )
        return n_train

    def streaming_scorer(self) -> StreamingScorer:
        """A scorer for one long series fed in consecutive chunks.

        Each chunk is scored with the last ``window`` rows of the previous one
        as context, so look-back detectors see what a single pass would show
        them; the LSTM forecaster overrides this to carry its hidden state.
        """
        self._check_fitted()
        return ContextStreamingScorer(self)

    def _standardise(
        self, X: pd.DataFrame | np.ndarray, check_length: bool = True
    ) -> np.ndarray:
        self._check_fitted()
        frame = self._validate(X, fitting=False, check_length=check_length)
        return (frame.to_numpy(dtype=np.float64) - self.mean_) / self.scale_

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise DataError(
                f"this {type(self).__name__} is not fitted yet; call fit(X) first"
            )

    def _validate(
        self, X: pd.DataFrame | np.ndarray, fitting: bool, check_length: bool = True
    ) -> pd.DataFrame:
        frame = _to_frame(X)
        _check_numeric(frame)
        _check_finite(frame)

        if fitting:
            self.feature_names_in_ = [str(name) for name in frame.columns]
            self.n_features_in_ = frame.shape[1]
        else:
            frame = self._align_columns(frame, isinstance(X, pd.DataFrame))

        step_s = self._check_grid(frame.index)
        if fitting:
            self.step_s_ = step_s
        elif step_s is not None and self.step_s_ is not None and step_s != self.step_s_:
            raise DataError(
                f"fitted on a {self.step_s_:g} s grid but got a {step_s:g} s grid; "
                f"resample the input to {self.step_s_:g} s"
            )

        context = self._context_length()
        if check_length and frame.shape[0] <= context:
            raise DataError(
                f"{type(self).__name__} needs more than {context} rows (its window); "
                f"got {frame.shape[0]}; pass a longer series"
            )
        return frame

    def _align_columns(self, frame: pd.DataFrame, named: bool) -> pd.DataFrame:
        expected = self.feature_names_in_
        if named:
            found = [str(name) for name in frame.columns]
            if sorted(found) != sorted(expected):
                raise DataError(
                    f"columns differ from fit time: expected {expected}, "
                    f"found {found}; select the fitted columns in that order"
                )
            frame.columns = found
            return frame[expected]
        if frame.shape[1] != self.n_features_in_:
            raise DataError(
                f"expected {self.n_features_in_} columns ({expected}), "
                f"found {frame.shape[1]}; pass the columns used at fit time"
            )
        frame.columns = expected
        return frame

    def _check_grid(self, index: pd.Index) -> float | None:
        if not isinstance(index, pd.DatetimeIndex) or not self.require_regular:
            return None
        if len(index) < 2:
            return None
        steps_ns = np.diff(index.asi8)
        if steps_ns.min() == steps_ns.max() and steps_ns[0] > 0:
            return float(steps_ns[0]) / 1e9
        values, counts = np.unique(steps_ns, return_counts=True)
        usual_s = float(values[counts.argmax()]) / 1e9
        n_odd = int(np.count_nonzero(steps_ns != values[counts.argmax()]))
        raise DataError(
            f"time index is not a regular grid: {n_odd} of {steps_ns.size} steps "
            f"differ from the usual {usual_s:g} s (duplicates, gaps or disorder); "
            f"resample, e.g. X.resample('{usual_s:g}s').mean().interpolate(), "
            "or pass require_regular=False to score rows as a plain sequence"
        )


class StreamingScorer:
    """Scores consecutive chunks of one series; every row is scored once."""

    def score_chunk(
        self, X: pd.DataFrame | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(n,)`` and attributions ``(n, n_features)`` of the chunk."""
        raise NotImplementedError


class ContextStreamingScorer(StreamingScorer):
    """Prepends the last rows of the previous chunk as context.

    Exact for detectors whose score looks back at most ``window`` rows (rolling
    z-score) or not at all (isolation forest); an approximation for those that
    tile or rank the whole input (autoencoder, ECOD, random).
    """

    def __init__(self, detector: BaseDetector) -> None:
        self.detector = detector
        # Rows before the first chunk are unknown; the detector's own warm-up
        # rules apply to them as in one pass.
        self.context_: np.ndarray | None = None

    def score_chunk(
        self, X: pd.DataFrame | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        values = self.detector._standardise(X, check_length=False)
        n_rows = values.shape[0]
        if n_rows == 0:
            empty = np.zeros((0, self.detector.n_features_in_))
            return empty.sum(axis=1), empty
        frame = values if self.context_ is None else np.vstack([self.context_, values])
        context = self.detector._context_length()
        if frame.shape[0] <= context:
            # Too short for even one window: hold the rows back as context
            # would lose them, so score what is there as warm-up rows (0).
            attribution = np.zeros_like(values)
        else:
            attribution = self.detector._attribute(frame)[-n_rows:]
        if context:
            self.context_ = frame[-context:]
        return attribution.sum(axis=1), attribution


def _to_frame(X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X.copy(deep=False)
    if isinstance(X, pd.Series):
        raise DataError(
            "expected a 2-D table, got a pandas Series; pass series.to_frame()"
        )
    array = np.asarray(X)
    if array.ndim != 2:
        raise DataError(
            f"expected a 2-D array (time steps x metrics), got {array.ndim}-D with "
            f"shape {array.shape}; for one metric pass values.reshape(-1, 1)"
        )
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _check_numeric(frame: pd.DataFrame) -> None:
    if frame.shape[1] == 0:
        raise DataError("expected at least one metric column; got none")
    bad = [
        str(name)
        for name, dtype in frame.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    if bad:
        raise DataError(
            f"columns must be numeric; non-numeric: {bad}; drop them or convert "
            "with pd.to_numeric"
        )


def _check_finite(frame: pd.DataFrame) -> None:
    values = frame.to_numpy(dtype=np.float64)
    bad_counts = np.count_nonzero(~np.isfinite(values), axis=0)
    if bad_counts.any():
        worst = [
            f"{name!s}: {count}"
            for name, count in zip(frame.columns, bad_counts, strict=True)
            if count
        ]
        raise DataError(
            f"NaN/inf values found in column(s) {', '.join(worst)}; fill them "
            "first, e.g. X.interpolate().ffill().bfill()"
        )

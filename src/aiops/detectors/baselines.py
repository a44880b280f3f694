"""Reference detectors to measure the LSTMs against.

* :class:`RandomDetector` - uniform noise; the floor any detector must beat.
* :class:`RollingZScoreDetector` - NAB's "windowed Gaussian": each value
  against the mean and spread of the trailing window, |z| summed over metrics.
* :class:`IsolationForestDetector` - scikit-learn's isolation forest on the
  standardised values of each step (no temporal context).

They share the :class:`~aiops.detectors.base.BaseDetector` API, so they fit,
threshold, pickle and attribute the same way as the LSTMs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from aiops.detectors.base import BaseDetector
from aiops.errors import ConfigError

# Floor on a rolling standard deviation, in units of the training spread
# (which is 1 after standardisation): a flat window would otherwise turn the
# smallest wiggle into an infinite z-score.
MIN_ROLLING_STD = 1e-3


class RandomDetector(BaseDetector):
    """Scores drawn uniformly from [0, 1); the same input length always gets
    the same scores for a given ``seed``. Attribution splits the score evenly.
    """

    def __init__(
        self,
        seed: int = 0,
        validation_fraction: float = 0.2,
        threshold: dict[str, Any] | None = None,
        threshold_quantile: float = 0.995,
        require_regular: bool = True,
    ) -> None:
        self.seed = seed
        self.validation_fraction = validation_fraction
        self.threshold = threshold
        self.threshold_quantile = threshold_quantile
        self.require_regular = require_regular

    def _fit(self, standardised: np.ndarray, n_train: int) -> None:
        pass

    def _score(self, standardised: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return np.asarray(rng.random(size=standardised.shape[0]))

    def _attribute(self, standardised: np.ndarray) -> np.ndarray:
        scores = self._score(standardised)
        n_features = standardised.shape[1]
        return np.repeat(scores[:, None] / n_features, n_features, axis=1)


class RollingZScoreDetector(BaseDetector):
    """Windowed Gaussian: ``|x_t - mean| / std`` over the ``window`` steps
    before ``t`` (``t`` itself excluded), summed over metrics.

    The first ``window`` steps score 0 (no full window of history yet).
    :meth:`attribute` returns the per-metric ``|z|``.
    """

    def __init__(
        self,
        window: int = 60,
        validation_fraction: float = 0.2,
        threshold: dict[str, Any] | None = None,
        threshold_quantile: float = 0.995,
        require_regular: bool = True,
    ) -> None:
        self.window = window
        self.validation_fraction = validation_fraction
        self.threshold = threshold
        self.threshold_quantile = threshold_quantile
        self.require_regular = require_regular

    def _check_params(self) -> None:
        if not isinstance(self.window, int | np.integer) or self.window < 2:
            raise ConfigError(
                f"window must be a whole number >= 2; got {self.window!r}"
            )

    def _context_length(self) -> int:
        return int(self.window)

    def _fit(self, standardised: np.ndarray, n_train: int) -> None:
        pass

    def _score(self, standardised: np.ndarray) -> np.ndarray:
        return self._attribute(standardised).sum(axis=1)

    def _attribute(self, standardised: np.ndarray) -> np.ndarray:
        window = int(self.window)
        frame = pd.DataFrame(standardised)
        # shift(1): the statistics describe the past only, never the step scored.
        rolling = frame.rolling(window, min_periods=window)
        mean = rolling.mean().shift(1).to_numpy()
        std = rolling.std(ddof=0).shift(1).to_numpy()
        z = np.abs(standardised - mean) / np.maximum(std, MIN_ROLLING_STD)
        z[:window] = 0.0
        return z


class IsolationForestDetector(BaseDetector):
    """Isolation forest over the standardised metrics of each step.

    Score = ``-IsolationForest.score_samples`` (in (0, 1], higher = easier to
    isolate). :meth:`attribute` splits the score over metrics in proportion to
    each metric's ``|z|`` against the training statistics.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: int | float | str = "auto",
        seed: int = 0,
        validation_fraction: float = 0.2,
        threshold: dict[str, Any] | None = None,
        threshold_quantile: float = 0.995,
        require_regular: bool = True,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed
        self.validation_fraction = validation_fraction
        self.threshold = threshold
        self.threshold_quantile = threshold_quantile
        self.require_regular = require_regular

    def _fit(self, standardised: np.ndarray, n_train: int) -> None:
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            random_state=self.seed,
            n_jobs=1,
        ).fit(standardised[:n_train])

    def _score(self, standardised: np.ndarray) -> np.ndarray:
        return -self.forest_.score_samples(standardised)

    def _attribute(self, standardised: np.ndarray) -> np.ndarray:
        scores = self._score(standardised)
        magnitude = np.abs(standardised)
        totals = magnitude.sum(axis=1, keepdims=True)
        n_features = standardised.shape[1]
        shares = np.divide(
            magnitude,
            totals,
            out=np.full_like(magnitude, 1.0 / n_features),
            where=totals > 0,
        )
        return shares * scores[:, None]


class ECODDetector(BaseDetector):
    """PyOD's ECOD (Li et al., TKDE 2022): per-metric empirical tail
    probabilities, ``-log`` summed over metrics; no temporal context.

    Needs the optional ``pyod`` package. PyOD's ECOD is transductive: the tail
    probabilities of a batch are taken over the training rows *and* that batch,
    so a row's score depends a little on the rows scored with it.
    :meth:`attribute` returns the per-metric tail scores, which sum to the score.
    """

    def __init__(
        self,
        validation_fraction: float = 0.2,
        threshold: dict[str, Any] | None = None,
        threshold_quantile: float = 0.995,
        require_regular: bool = True,
    ) -> None:
        self.validation_fraction = validation_fraction
        self.threshold = threshold
        self.threshold_quantile = threshold_quantile
        self.require_regular = require_regular

    def _fit(self, standardised: np.ndarray, n_train: int) -> None:
        try:
            from pyod.models.ecod import ECOD
        except ImportError:
            raise ConfigError(
                "ECODDetector needs the optional package pyod; install the "
                "'bench' extra (pip install 'aiops[bench]')"
            ) from None
        self.ecod_ = ECOD(n_jobs=1).fit(standardised[:n_train])

    def _score(self, standardised: np.ndarray) -> np.ndarray:
        return self._attribute(standardised).sum(axis=1)

    def _attribute(self, standardised: np.ndarray) -> np.ndarray:
        self.ecod_.decision_function(standardised)
        return np.asarray(self.ecod_.O[-standardised.shape[0] :], dtype=np.float64)

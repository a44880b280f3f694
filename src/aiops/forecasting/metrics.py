"""Point and quantile forecast errors.

Every function takes array-likes of equal length and skips pairs where either
side is NaN, so a forecast that starts late can be scored against the full
truth.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from aiops.errors import DataError


def _paired(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(y_true, dtype=np.float64).ravel()
    pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if truth.shape != pred.shape:
        raise DataError(
            f"truth and forecast must have the same length; got {truth.size} and "
            f"{pred.size}; align them on the same timestamps first"
        )
    valid = ~(np.isnan(truth) | np.isnan(pred))
    if not valid.any():
        raise DataError(
            "no pair of truth and forecast is free of NaN; nothing to score"
        )
    return truth[valid], pred[valid]


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    truth, pred = _paired(y_true, y_pred)
    return float(np.mean(np.abs(truth - pred)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error."""
    truth, pred = _paired(y_true, y_pred)
    return float(np.sqrt(np.mean((truth - pred) ** 2)))


def smape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Symmetric MAPE in percent (0..200); a pair of two zeros counts as 0."""
    truth, pred = _paired(y_true, y_pred)
    denominator = np.abs(truth) + np.abs(pred)
    ratio = np.divide(
        2.0 * np.abs(truth - pred),
        denominator,
        out=np.zeros_like(denominator),
        where=denominator > 0,
    )
    return float(100.0 * np.mean(ratio))


def mase(
    y_true: ArrayLike, y_pred: ArrayLike, y_train: ArrayLike, season_steps: int
) -> float:
    """MAE scaled by the in-sample MAE of the seasonal naive on ``y_train``.

    Below 1 the forecast beats "same value one season ago" as measured on the
    training series.
    """
    train = np.asarray(y_train, dtype=np.float64).ravel()
    if season_steps < 1 or train.size <= season_steps:
        raise DataError(
            f"MASE needs a training series longer than season_steps={season_steps}; "
            f"got {train.size} points; pass more training data or a shorter season"
        )
    naive_errors = np.abs(train[season_steps:] - train[:-season_steps])
    scale = float(np.nanmean(naive_errors))
    if not scale > 0:
        raise DataError(
            f"MASE is undefined: the training series repeats exactly every "
            f"{season_steps} steps (naive MAE 0); use mae instead"
        )
    return mae(y_true, y_pred) / scale


def pinball_loss(y_true: ArrayLike, q_pred: ArrayLike, alpha: float) -> float:
    """Mean quantile (pinball) loss of forecasts ``q_pred`` of level ``alpha``."""
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must be in (0, 1); got {alpha}")
    truth, pred = _paired(y_true, q_pred)
    residual = truth - pred
    return float(np.mean(np.maximum(alpha * residual, (alpha - 1.0) * residual)))


def coverage(y_true: ArrayLike, upper: ArrayLike) -> float:
    """Share of observations at or below the forecast ``upper`` bound."""
    truth, bound = _paired(y_true, upper)
    return float(np.mean(truth <= bound))

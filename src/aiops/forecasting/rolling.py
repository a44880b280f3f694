"""Rolling-origin forecasts in bulk, their scores, and honest model selection.

A model is fitted once on the training part and then forecasts from many
origins in the test part, each from the history up to its origin. Scores pool
every (origin, lead) pair. Hyperparameters are chosen the same way on a
validation stretch at the end of the training part, never on test origins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from aiops.errors import DataError
from aiops.forecasting.metrics import coverage, mae, mase, pinball_loss, rmse, smape

logger = logging.getLogger(__name__)


class OriginForecaster(Protocol):
    """What the rolling evaluation needs from a model."""

    def fit(self, y: pd.Series, exog: pd.DataFrame | None = None) -> Any: ...

    def predict_origins(
        self, y: pd.Series, origins: Sequence[int] | np.ndarray, horizon: int
    ) -> dict[str, np.ndarray]: ...


@dataclass
class RollingForecast:
    """Forecasts from several origins of one series, with what happened."""

    origins: np.ndarray
    truth: np.ndarray
    forecasts: dict[str, np.ndarray]
    fit_seconds: float
    predict_seconds: float


def origin_positions(
    first: int, last: int, horizon: int, max_origins: int
) -> np.ndarray:
    """Origins from ``first`` to ``last`` (inclusive), ``horizon`` apart.

    Thinned evenly to at most ``max_origins``; windows then do not overlap.
    """
    if last < first:
        raise DataError(
            f"no origin fits: the first allowed origin {first} is after the last "
            f"{last}; pass a longer series or a shorter horizon"
        )
    positions = np.arange(first, last + 1, max(1, horizon))
    if len(positions) > max_origins:
        chosen = np.linspace(0, len(positions) - 1, max_origins).round()
        positions = positions[chosen.astype(np.int64)]
    return positions


def rolling_forecast(
    model: OriginForecaster,
    y: pd.Series,
    train_end: int,
    origins: np.ndarray,
    horizon: int,
) -> RollingForecast:
    """Fit on ``y[:train_end]`` and forecast ``horizon`` steps from each origin."""
    started = time.perf_counter()
    model.fit(y.iloc[:train_end])
    fit_s = time.perf_counter() - started

    started = time.perf_counter()
    forecasts = model.predict_origins(y, origins, horizon)
    predict_s = time.perf_counter() - started
    values = y.to_numpy()
    leads = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    return RollingForecast(
        origins=origins,
        truth=values[leads],
        forecasts=forecasts,
        fit_seconds=fit_s,
        predict_seconds=predict_s,
    )


def score_forecast(
    result: RollingForecast,
    train_values: np.ndarray,
    season_steps: int,
    scored: np.ndarray | None = None,
) -> dict[str, float]:
    """Point and quantile scores pooled over every (origin, lead) pair.

    ``scored`` masks pairs to keep (imputed targets are left out). MASE is
    scaled by the in-sample MAE of the ``season_steps`` naive on
    ``train_values``.
    """
    keep = np.ones(result.truth.shape, dtype=bool) if scored is None else scored
    truth = result.truth[keep]
    mean = result.forecasts["mean"][keep]
    scores = {
        "mae": mae(truth, mean),
        "rmse": rmse(truth, mean),
        "smape": smape(truth, mean),
        "mase": mase(truth, mean, train_values, season_steps),
        "n_pairs": float(keep.sum()),
    }
    for column, predicted in result.forecasts.items():
        if column.startswith("q"):
            alpha = float(column[1:])
            scores[f"pinball_{column}"] = pinball_loss(truth, predicted[keep], alpha)
            scores[f"coverage_{column}"] = coverage(truth, predicted[keep])
    return scores


@dataclass
class Selection:
    """The chosen candidate and every candidate's validation score."""

    params: dict[str, Any]
    validation_mase: list[float]


def select_params(
    factory: Callable[[Mapping[str, Any]], OriginForecaster],
    candidates: Sequence[Mapping[str, Any]],
    train: pd.Series,
    validation_fraction: float,
    horizon: int,
    season_steps: int,
    max_origins: int,
    imputed: np.ndarray | None = None,
) -> Selection:
    """Pick the candidate with the lowest MASE on the end of ``train``.

    Each candidate is fitted on the first ``1 - validation_fraction`` of the
    training part and scored from origins in the rest: the test part is never
    seen.
    """
    if len(candidates) == 1:
        return Selection(params=dict(candidates[0]), validation_mase=[])
    cut = int(len(train) * (1.0 - validation_fraction))
    origins = origin_positions(cut - 1, len(train) - 1 - horizon, horizon, max_origins)
    mask = None if imputed is None else pair_mask(imputed, origins, horizon)
    values = train.to_numpy()
    scores = []
    for params in candidates:
        result = rolling_forecast(factory(params), train, cut, origins, horizon)
        scores.append(score_forecast(result, values[:cut], season_steps, mask)["mase"])
    best = int(np.argmin(scores))
    logger.info("validation MASE per candidate %s: chose %d", scores, best)
    return Selection(params=dict(candidates[best]), validation_mase=scores)


def pair_mask(imputed: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """True for (origin, lead) pairs whose target was observed, not imputed."""
    if imputed.size == 0:
        return np.ones((len(origins), horizon), dtype=bool)
    leads = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    return ~imputed[leads]

"""Rolling-origin evaluation of forecasters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from aiops.errors import ConfigError, DataError
from aiops.forecasting.features import prepare_series, steps_in
from aiops.forecasting.metrics import coverage, mae, mase, pinball_loss, rmse, smape

logger = logging.getLogger(__name__)


class Forecaster(Protocol):
    """What :func:`backtest` needs from a model."""

    def fit(self, y: pd.Series, exog: pd.DataFrame | None = None) -> Any: ...

    def predict(
        self, horizon: int | None = None, history: pd.Series | None = None
    ) -> pd.DataFrame: ...


def backtest(
    model_factory: Callable[[], Forecaster],
    y: pd.Series,
    origins: int | Sequence[pd.Timestamp | str],
    horizon: int,
    step: int | None = None,
    season_steps: int | None = None,
    refit: bool = True,
) -> pd.DataFrame:
    """Score forecasts made at several origins against what happened next.

    Parameters
    ----------
    model_factory
        Returns a fresh, unfitted model.
    origins
        A count (the last origin is the latest one with ``horizon`` observed
        steps after it, the others ``step`` steps apart before it) or explicit
        timestamps; an origin is the last observation the model may use.
    step
        Steps between origins when ``origins`` is a count; default ``horizon``.
    season_steps
        Period of the MASE scale; default one day of steps.
    refit
        Fit a new model at every origin (True) or fit once on the data up to
        the first origin and roll forward by passing each origin's history.

    Returns
    -------
    pandas.DataFrame
        One row per origin: ``mae``, ``rmse``, ``smape``, ``mase`` of the
        ``mean`` forecast, then ``pinball_<q>`` and ``coverage_<q>`` for every
        quantile column ``<q>`` the model returns.
    """
    clean, _ = prepare_series(y)
    step_s = step if step is not None else horizon
    season = season_steps if season_steps is not None else steps_in("1D", _step(clean))
    positions = _origin_positions(clean, origins, horizon, step_s)

    rows: list[dict[str, float]] = []
    model: Forecaster | None = None
    values = clean.to_numpy()
    for position in positions:
        history = clean.iloc[: position + 1]
        if refit or model is None:
            model = model_factory()
            model.fit(history)
        forecast = model.predict(horizon=horizon, history=history)
        truth = values[position + 1 : position + 1 + horizon]
        rows.append(_score(truth, forecast, history.to_numpy(), season))

    frame = pd.DataFrame(rows, index=clean.index[positions])
    frame.index.name = "origin"
    logger.info(
        "backtest over %d origins: mean MASE %.3f", len(frame), frame["mase"].mean()
    )
    return frame


def _step(clean: pd.Series) -> pd.Timedelta:
    return pd.Timedelta(clean.index[1] - clean.index[0])


def _origin_positions(
    clean: pd.Series,
    origins: int | Sequence[pd.Timestamp | str],
    horizon: int,
    step: int,
) -> list[int]:
    last = len(clean) - 1 - horizon
    if isinstance(origins, int):
        if origins < 1 or step < 1:
            raise ConfigError(f"origins and step must be >= 1; got {origins}, {step}")
        positions = [last - step * k for k in range(origins)][::-1]
        if positions[0] < 1:
            raise DataError(
                f"{origins} origins {step} steps apart with horizon {horizon} need "
                f"more than {len(clean)} points; use fewer origins or a smaller step"
            )
        return positions

    positions = []
    for origin in origins:
        stamp = pd.Timestamp(origin)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(clean.index.tz)
        found = np.flatnonzero(clean.index == stamp)
        if found.size == 0 or found[0] > last:
            raise DataError(
                f"origin {origin} must be a timestamp of the series with {horizon} "
                f"steps after it (last allowed: {clean.index[last]})"
            )
        positions.append(int(found[0]))
    return positions


def _score(
    truth: np.ndarray, forecast: pd.DataFrame, train: np.ndarray, season: int
) -> dict[str, float]:
    mean = forecast["mean"].to_numpy()
    row = {
        "mae": mae(truth, mean),
        "rmse": rmse(truth, mean),
        "smape": smape(truth, mean),
        "mase": mase(truth, mean, train, season),
    }
    for column in forecast.columns:
        if column.startswith("q"):
            alpha = float(column[1:])
            predicted = forecast[column].to_numpy()
            row[f"pinball_{column}"] = pinball_loss(truth, predicted, alpha)
            row[f"coverage_{column}"] = coverage(truth, predicted)
    return row

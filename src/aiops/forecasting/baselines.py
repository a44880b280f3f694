"""Seasonal naive baseline with the same interface as the XGBoost forecaster."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from aiops.errors import ConfigError, DataError
from aiops.forecasting.features import (
    future_index,
    prepare_series,
    quantile_column,
    steps_in,
)


class SeasonalNaive(BaseEstimator):
    """Forecast the value one season before the target time.

    Leads beyond one season repeat the last observed season. ``mean`` and
    ``q0.5`` are the naive value itself; other quantiles add the empirical
    quantile of the in-sample naive errors at the same number of seasons back.

    Attributes
    ----------
    season_steps_ : int
    step_ : pandas.Timedelta
    history_ : pandas.Series
        The last seasons of the training series.
    error_quantiles_ : numpy.ndarray
        Shape (seasons back, quantiles): offsets added to the naive value.
    """

    def __init__(
        self,
        season: str = "1D",
        horizon: int = 60,
        quantiles: Sequence[float] = (0.5, 0.9, 0.99),
    ) -> None:
        self.season = season
        self.horizon = horizon
        self.quantiles = quantiles

    def fit(self, y: pd.Series, exog: pd.DataFrame | None = None) -> SeasonalNaive:
        """Learn the season length and the naive error quantiles; ignores exog."""
        if int(self.horizon) < 1:
            raise ConfigError(f"horizon must be >= 1; got {self.horizon}")
        if any(not 0.0 < float(q) < 1.0 for q in self.quantiles):
            raise ConfigError(
                f"quantiles must be in (0, 1); got {list(self.quantiles)}"
            )
        clean, report = prepare_series(y)
        season = steps_in(self.season, report.step)
        seasons_back = math.ceil(int(self.horizon) / season)
        needed = seasons_back * season + 1
        if len(clean) < needed:
            raise DataError(
                f"series has {len(clean)} points; SeasonalNaive({self.season!r}) "
                f"with horizon {self.horizon} needs at least {needed}"
            )

        values = clean.to_numpy()
        alphas = np.array([float(q) for q in self.quantiles])
        offsets = np.zeros((seasons_back, len(alphas)))
        for k in range(1, seasons_back + 1):
            errors = values[k * season :] - values[: -k * season]
            offsets[k - 1] = np.quantile(errors, alphas)
        offsets[:, np.isclose(alphas, 0.5)] = 0.0

        self.season_steps_ = season
        self.step_ = report.step
        self.error_quantiles_ = offsets
        self.min_history_steps_ = seasons_back * season
        self.history_ = clean.iloc[-self.min_history_steps_ :]
        return self

    def predict(
        self,
        horizon: int | None = None,
        history: pd.Series | None = None,
        exog: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Naive forecast of the ``horizon`` steps after the end of ``history``."""
        check_is_fitted(self, "error_quantiles_")
        horizon = int(self.horizon) if horizon is None else int(horizon)
        self._check_lead(horizon)
        clean = self.history_ if history is None else prepare_series(history)[0]
        self._check_history(clean)

        n = len(clean)
        horizons = np.arange(1, horizon + 1)
        naive, rows = self._forecast(
            clean.to_numpy(), np.full(horizon, n - 1), horizons
        )
        frame = pd.DataFrame(
            rows,
            index=future_index(clean.index[-1], self.step_, horizon),
            columns=[quantile_column(float(q)) for q in self.quantiles],
        )
        frame.insert(0, "mean", naive)
        return frame

    def forecast_at_lead(
        self, y: pd.Series, lead_steps: int, quantile: float = 0.9
    ) -> pd.Series:
        """Naive forecast of ``y[t + lead_steps]`` for every origin ``t``."""
        check_is_fitted(self, "error_quantiles_")
        self._check_lead(int(lead_steps))
        alphas = [float(q) for q in self.quantiles]
        matches = [i for i, a in enumerate(alphas) if np.isclose(a, quantile)]
        if not matches:
            raise ConfigError(
                f"quantile {quantile} was not fitted; choose one of {alphas}"
            )
        clean, _ = prepare_series(y, fill="ffill")
        self._check_history(clean)

        origins = np.arange(self.min_history_steps_ - 1, len(clean))
        _, rows = self._forecast(
            clean.to_numpy(), origins, np.full(len(origins), int(lead_steps))
        )
        forecast = np.full(len(clean), np.nan)
        forecast[origins] = rows[:, matches[0]]
        return pd.Series(
            forecast,
            index=clean.index,
            name=f"{quantile_column(quantile)}@{lead_steps}",
        )

    def predict_origins(
        self, y: pd.Series, origins: Sequence[int] | np.ndarray, horizon: int
    ) -> dict[str, np.ndarray]:
        """Naive forecasts from every origin position of a clean series ``y``.

        Returns ``mean`` and the ``q<alpha>`` columns, each (origins, horizon).
        """
        check_is_fitted(self, "error_quantiles_")
        self._check_lead(int(horizon))
        values = y.to_numpy(dtype=np.float64)
        positions = np.repeat(np.asarray(origins, dtype=np.int64), int(horizon))
        if positions.size and positions.min() < self.min_history_steps_ - 1:
            raise DataError(
                f"origin {int(positions.min())} has too little history; the "
                f"first usable origin is {self.min_history_steps_ - 1}"
            )
        horizons = np.tile(np.arange(1, int(horizon) + 1), len(origins))
        naive, rows = self._forecast(values, positions, horizons)
        shape = (len(origins), int(horizon))
        out = {"mean": naive.reshape(shape)}
        for j, q in enumerate(self.quantiles):
            out[quantile_column(float(q))] = rows[:, j].reshape(shape)
        return out

    def _forecast(
        self, values: np.ndarray, origins: np.ndarray, horizons: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Naive values and sorted quantile rows for (origin, horizon) pairs."""
        seasons_back = np.ceil(horizons / self.season_steps_).astype(np.int64)
        naive = values[origins + horizons - seasons_back * self.season_steps_]
        rows = naive[:, None] + self.error_quantiles_[seasons_back - 1]
        return naive, np.sort(rows, axis=1)

    def _check_lead(self, lead: int) -> None:
        if not 1 <= lead <= int(self.horizon):
            raise ConfigError(f"horizon/lead must be 1..{self.horizon}; got {lead}")

    def _check_history(self, clean: pd.Series) -> None:
        if len(clean) < self.min_history_steps_:
            raise DataError(
                f"history has {len(clean)} points; SeasonalNaive needs at least "
                f"{self.min_history_steps_}"
            )
        if clean.index[1] - clean.index[0] != self.step_:
            raise DataError(
                f"history is on a {clean.index[1] - clean.index[0]} grid but the "
                f"model was fitted on {self.step_}; resample it to {self.step_}"
            )

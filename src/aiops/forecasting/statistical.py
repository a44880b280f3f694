"""statsforecast baselines (AutoETS, MSTL) behind the forecaster interface.

Both are fitted once and then rolled forward: at each origin the fitted
parameters are applied to the history up to that origin (statsforecast's
``forward``), the way :class:`~aiops.forecasting.XGBForecaster` is fitted once
and fed each origin's history. Quantiles are read off the models' own
Gaussian prediction intervals: level ``q > 0.5`` is the upper bound of the
``200 q - 100`` % interval, ``q < 0.5`` the lower bound of the ``100 - 200 q``
% one. statsforecast is an optional dependency (the ``bench`` extra) and is
imported only when a model is fitted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

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

logger = logging.getLogger(__name__)

# statsforecast (like R's forecast::ets) fits no seasonal ETS state beyond
# this many steps per season.
MAX_ETS_SEASON_STEPS = 24


def import_statsforecast_models() -> Any:
    """The ``statsforecast.models`` module, or a ConfigError naming the fix."""
    try:
        import statsforecast.models as models
    except ImportError as error:
        raise ConfigError(
            "the AutoETS and MSTL baselines need statsforecast, which is not "
            "installed; install the benchmark extra: pip install -e '.[bench]'"
        ) from error
    return models


def interval_level(alpha: float) -> float | int:
    """Width in percent of the central interval whose bound is quantile alpha."""
    level = round(abs(200.0 * alpha - 100.0), 6)
    return int(level) if float(level).is_integer() else level


class _StatsBaseline(BaseEstimator):
    """Shared checks, quantile mapping and rolling forward of a fitted model."""

    horizon: int
    quantiles: Sequence[float]
    max_fit_steps: int

    def _check_params(self) -> None:
        if int(self.horizon) < 1:
            raise ConfigError(f"horizon must be >= 1; got {self.horizon}")
        if not self.quantiles or any(not 0 < float(q) < 1 for q in self.quantiles):
            raise ConfigError(
                f"quantiles must be levels in (0, 1); got {list(self.quantiles)}"
            )
        if int(self.max_fit_steps) < 2:
            raise ConfigError(f"max_fit_steps must be >= 2; got {self.max_fit_steps}")

    def _levels(self) -> list[float | int]:
        levels = {interval_level(float(q)) for q in self.quantiles}
        return sorted(level for level in levels if level > 0)

    def _quantile_rows(self, result: dict[str, np.ndarray]) -> np.ndarray:
        """Columns ``mean`` then one per quantile from a statsforecast result."""
        columns = [result["mean"]]
        for q in self.quantiles:
            alpha = float(q)
            level = interval_level(alpha)
            if level == 0:
                columns.append(result["mean"])
            else:
                columns.append(result[f"{'hi' if alpha > 0.5 else 'lo'}-{level}"])
        rows = np.column_stack(columns)
        if self.nonnegative_:
            rows = np.maximum(rows, 0.0)
        rows[:, 1:] = np.sort(rows[:, 1:], axis=1)
        return rows

    def predict(
        self,
        horizon: int | None = None,
        history: pd.Series | None = None,
        exog: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Forecast the ``horizon`` steps after the end of ``history``.

        Returns ``mean`` and one ``q<alpha>`` column per quantile, indexed by
        the future timestamps.
        """
        check_is_fitted(self, "model_")
        horizon = int(self.horizon) if horizon is None else int(horizon)
        if not 1 <= horizon <= int(self.horizon):
            raise ConfigError(
                f"horizon must be 1..{self.horizon} (the fitted horizon); got "
                f"{horizon}; refit with a larger horizon"
            )
        clean = self.history_ if history is None else prepare_series(history)[0]
        if len(clean) >= 2 and clean.index[1] - clean.index[0] != self.step_:
            raise DataError(
                f"history is on a {clean.index[1] - clean.index[0]} grid but the "
                f"model was fitted on {self.step_}; resample it to {self.step_}"
            )
        rows = self._forward(clean, horizon)
        return pd.DataFrame(
            rows,
            index=future_index(clean.index[-1], self.step_, horizon),
            columns=["mean", *(quantile_column(float(q)) for q in self.quantiles)],
        )

    def predict_origins(
        self, y: pd.Series, origins: Sequence[int] | np.ndarray, horizon: int
    ) -> dict[str, np.ndarray]:
        """Forecasts from every origin position of a clean series ``y``.

        Each array has shape (origins, horizon); only values up to an origin
        enter its forecast.
        """
        check_is_fitted(self, "model_")
        names = ["mean", *(quantile_column(float(q)) for q in self.quantiles)]
        out = {name: np.empty((len(origins), horizon)) for name in names}
        for i, origin in enumerate(origins):
            rows = self._forward(y.iloc[: int(origin) + 1], horizon)
            for j, name in enumerate(names):
                out[name][i] = rows[:, j]
        return out

    def _forward(self, clean: pd.Series, horizon: int) -> np.ndarray:
        raise NotImplementedError

    def _prepare_fit(self, y: pd.Series) -> pd.Series:
        self._check_params()
        clean, report = prepare_series(y)
        clean = clean.iloc[-int(self.max_fit_steps) :]
        self.step_ = report.step
        self.nonnegative_ = bool(clean.min() >= 0.0)
        self.history_ = clean
        return clean


class AutoETSForecaster(_StatsBaseline):
    """statsforecast's AutoETS: exponential smoothing, model chosen by AICc.

    Parameters
    ----------
    season
        Season length as a duration; used only when it spans at most 24 grid
        steps (hourly data), beyond which ETS fits no seasonal state and the
        model is non-seasonal.
    max_fit_steps
        Fit on at most this many of the latest training steps.

    Attributes
    ----------
    season_steps_ : int
        1 when the model is non-seasonal.
    model_ : statsforecast.models.AutoETS
    """

    def __init__(
        self,
        horizon: int = 60,
        quantiles: Sequence[float] = (0.5, 0.9, 0.99),
        season: str = "1D",
        max_fit_steps: int = 20_000,
    ) -> None:
        self.horizon = horizon
        self.quantiles = quantiles
        self.season = season
        self.max_fit_steps = max_fit_steps

    def fit(self, y: pd.Series, exog: pd.DataFrame | None = None) -> AutoETSForecaster:
        """Select and fit the ETS model on the latest ``max_fit_steps``."""
        models = import_statsforecast_models()
        clean = self._prepare_fit(y)
        season = steps_in(self.season, self.step_)
        self.season_steps_ = season if season <= MAX_ETS_SEASON_STEPS else 1
        if self.season_steps_ == 1 and season > 1:
            logger.info(
                "AutoETS: season of %d steps is beyond ETS's %d; fitted non-seasonal",
                season,
                MAX_ETS_SEASON_STEPS,
            )
        self.model_ = models.AutoETS(season_length=self.season_steps_).fit(
            clean.to_numpy()
        )
        return self

    def _forward(self, clean: pd.Series, horizon: int) -> np.ndarray:
        values = clean.to_numpy()[-int(self.max_fit_steps) :]
        result = self.model_.forward(values, h=horizon, level=self._levels())
        return self._quantile_rows(result)


class MSTLForecaster(_StatsBaseline):
    """statsforecast's MSTL: seasonal profiles plus an AutoETS trend.

    The decomposition is done once at fit; rolling forward keeps the fitted
    seasonal profiles (repeated periodically) and runs the fitted trend model
    over the deseasonalised history up to each origin. Redoing the LOESS
    decomposition at every origin would cost seconds per origin on minute data.

    Parameters
    ----------
    seasons
        Season lengths as durations; those with fewer than two full periods in
        the training series are dropped (logged).
    max_fit_steps
        Decompose at most this many of the latest training steps.

    Attributes
    ----------
    season_steps_ : tuple of int
    model_ : statsforecast.models.MSTL
    """

    def __init__(
        self,
        horizon: int = 60,
        quantiles: Sequence[float] = (0.5, 0.9, 0.99),
        seasons: Sequence[str] = ("1D", "7D"),
        max_fit_steps: int = 60_000,
    ) -> None:
        self.horizon = horizon
        self.quantiles = quantiles
        self.seasons = seasons
        self.max_fit_steps = max_fit_steps

    def fit(self, y: pd.Series, exog: pd.DataFrame | None = None) -> MSTLForecaster:
        """Decompose the latest ``max_fit_steps`` and fit the trend model."""
        models = import_statsforecast_models()
        clean = self._prepare_fit(y)
        wanted = sorted(steps_in(s, self.step_) for s in self.seasons)
        usable = tuple(s for s in wanted if 2 * s <= len(clean))
        if not usable:
            raise DataError(
                f"MSTL needs two full seasons of {list(self.seasons)}; the series "
                f"has {len(clean)} steps of {self.step_}; pass a longer series"
            )
        if usable != tuple(wanted):
            logger.info("MSTL: seasons of %s steps dropped (too short)", wanted)
        self.season_steps_ = usable
        self.model_ = models.MSTL(
            season_length=list(usable), stl_kwargs=_stl_jumps(usable[0])
        ).fit(clean.to_numpy())
        seasonal = self.model_.model_.filter(regex="seasonal").to_numpy()
        self.seasonal_ = seasonal.reshape(len(clean), -1)
        self.fit_start_ = clean.index[0]
        return self

    def seasonal_at(self, positions: np.ndarray) -> np.ndarray:
        """Summed seasonal component at grid positions counted from the fit start.

        Positions past the fitted stretch repeat each component's last period.
        """
        n = len(self.seasonal_)
        total = np.zeros(len(positions))
        for k, period in enumerate(self.season_steps_):
            beyond = positions >= n
            index = np.where(beyond, n - period + (positions - n) % period, positions)
            total += self.seasonal_[np.clip(index, 0, n - 1), k]
        return total

    def _forward(self, clean: pd.Series, horizon: int) -> np.ndarray:
        clean = clean.iloc[-int(self.max_fit_steps) :]
        offset = (clean.index[0] - self.fit_start_) / self.step_
        if offset != int(offset):
            raise DataError(
                f"history is off the fitted grid (starts {clean.index[0]}, fit "
                f"started {self.fit_start_}, step {self.step_}); resample it"
            )
        positions = int(offset) + np.arange(len(clean) + horizon)
        seasonal = self.seasonal_at(positions)
        adjusted = clean.to_numpy() - seasonal[: len(clean)]
        result = self.model_.trend_forecaster.forward(
            adjusted, h=horizon, level=self._levels()
        )
        future = seasonal[len(clean) :]
        return self._quantile_rows({k: v + future for k, v in result.items()})


def _stl_jumps(period: int) -> dict[str, int]:
    """R's stl() default jumps (a tenth of each LOESS window) for a period.

    statsmodels evaluates every LOESS at every point by default; R skips and
    interpolates, which is 10-50 times faster on minute data for the same fit.
    """
    seasonal_window = 11  # MSTL's first seasonal window
    trend_window = math.ceil(1.5 * period / (1 - 1.5 / seasonal_window))
    low_pass_window = period + 1
    return {
        "seasonal_jump": math.ceil(seasonal_window / 10),
        "trend_jump": math.ceil(trend_window / 10),
        "low_pass_jump": math.ceil(low_pass_window / 10),
    }

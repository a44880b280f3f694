"""Direct multi-horizon quantile forecaster on XGBoost.

One booster serves every horizon: each training row is an (origin, horizon)
pair with the horizon as a feature, and the multi-quantile objective predicts
all quantiles at once.

The target is ``(y[t + h] - level_t) / scale_t`` where ``level_t`` and
``scale_t`` are the mean and the mean absolute value over the anchor window
(the longest rolling window) ending at the origin ``t``. Lags and seasonal
values are normalised the same way. Trees cannot extrapolate, so a model fed
raw values would be stuck at the traffic levels it was trained on; relative to
the recent level it carries over from 100 to 10,000 requests per second.
Anchoring on a window mean rather than on ``y[t]`` keeps one noisy last point
from shifting every horizon, and a mean absolute scale (floored) stays defined
for series that touch zero. Quantiles commute with this increasing affine map,
so the de-normalised outputs are quantiles of ``y`` itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from xgboost import XGBRegressor

from aiops.config import load_model_config
from aiops.errors import ConfigError, DataError
from aiops.forecasting.features import (
    FeatureSpec,
    build_features,
    future_index,
    prepare_series,
    quantile_column,
    steps_in,
    training_pairs,
)

logger = logging.getLogger(__name__)

# Fewer held-out pairs than this make the 0.99 correction a guess.
MIN_CALIBRATION_ROWS = 200


# Below this many feature rows, prediction runs on one thread.
SINGLE_THREAD_ROWS = 4096


class XGBForecaster(BaseEstimator):
    """Quantile load forecaster for the next ``horizon`` grid steps.

    Parameters
    ----------
    horizon
        Steps ahead to forecast; the model is trained for leads 1..horizon.
    quantiles
        Quantile levels in (0, 1); 0.5 is always fitted because ``mean`` is
        the median forecast.
    lags, rolling_windows
        In grid steps, counted back from the origin (lag 1 is the last value).
    seasonal_lags
        Durations such as ``"1D"``: the value one season before the target.
    fourier_order
        Sine/cosine pairs of the daily and weekly phase of the target time.
    holidays
        ISO dates (local) flagged in the ``holiday`` feature.
    max_train_rows
        Cap on sampled (origin, horizon) training pairs, which bounds fit time.
    calibration_fraction
        Share of the latest origins held out to calibrate the quantiles
        (split conformal); 0 trains on everything and skips calibration.

    Attributes
    ----------
    spec_ : FeatureSpec
    step_ : pandas.Timedelta
    alphas_ : tuple of float
        Fitted quantile levels, ascending.
    history_ : pandas.Series
        The end of the training series, enough to forecast from it.
    quantile_offsets_ : numpy.ndarray
        Split-conformal shift of each quantile, in units of the scale.
    report_ : PreparationReport
    min_history_steps_ : int
        Observations needed up to an origin before it gets a forecast.
    """

    def __init__(
        self,
        horizon: int = 60,
        quantiles: Sequence[float] = (0.5, 0.9, 0.99),
        lags: Sequence[int] = (1, 2, 3, 5, 10, 15, 30, 60),
        seasonal_lags: Sequence[str] = ("1D", "7D"),
        rolling_windows: Sequence[int] = (15, 60),
        fourier_order: int = 3,
        holidays: Sequence[str] = (),
        n_estimators: int = 200,
        max_depth: int = 6,
        learning_rate: float = 0.05,
        max_train_rows: int = 50_000,
        calibration_fraction: float = 0.2,
        n_jobs: int = 2,
        seed: int = 0,
    ) -> None:
        self.horizon = horizon
        self.quantiles = quantiles
        self.lags = lags
        self.seasonal_lags = seasonal_lags
        self.rolling_windows = rolling_windows
        self.fourier_order = fourier_order
        self.holidays = holidays
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.max_train_rows = max_train_rows
        self.calibration_fraction = calibration_fraction
        self.n_jobs = n_jobs
        self.seed = seed

    @classmethod
    def from_config(cls, overrides: dict[str, Any] | None = None) -> XGBForecaster:
        """Build from ``models/xgboost.yaml`` with ``overrides`` applied."""
        config: dict[str, Any] = load_model_config("xgboost", overrides)
        params: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in config.items()
        }
        return cls(**params)

    # ------------------------------------------------------------------ fit
    def fit(self, y: pd.Series, exog: pd.DataFrame | None = None) -> XGBForecaster:
        """Fit on a series on a regular grid; ``exog`` is read at the origin."""
        started = time.perf_counter()
        self._check_params()
        clean, report = prepare_series(y)
        spec = FeatureSpec(
            horizon=int(self.horizon),
            lags=tuple(int(k) for k in self.lags),
            rolling_windows=tuple(int(w) for w in self.rolling_windows),
            season_steps=tuple(steps_in(s, report.step) for s in self.seasonal_lags),
            season_names=tuple(str(s) for s in self.seasonal_lags),
            fourier_order=int(self.fourier_order),
            holidays=tuple(str(d) for d in self.holidays),
            exog_columns=() if exog is None else tuple(str(c) for c in exog.columns),
        )
        needed = spec.min_history_steps + 2 * spec.horizon
        if len(clean) < needed:
            raise DataError(
                f"series has {len(clean)} points at step {report.step}; "
                f"XGBForecaster needs at least {needed} ({spec.min_history_steps} "
                f"of history for lags/seasons {list(spec.season_names)} plus twice "
                f"the horizon {spec.horizon}); pass a longer series or drop a "
                "seasonal lag"
            )

        values = clean.to_numpy()
        exog_values = _align_exog(exog, clean.index, spec.exog_columns)
        self.scale_floor_ = 1e-3 * float(np.mean(np.abs(values))) + 1e-12
        origins, horizons = training_pairs(
            len(values), spec, int(self.max_train_rows), int(self.seed)
        )
        features = build_features(
            values,
            _start_ns(clean),
            int(report.step.value),
            _tz(clean),
            spec,
            origins,
            horizons,
            self.scale_floor_,
            exog_values,
        )
        target = (values[origins + horizons] - features.level) / features.scale

        self.alphas_ = tuple(sorted({0.5, *(float(q) for q in self.quantiles)}))
        model = XGBRegressor(
            objective="reg:quantileerror",
            quantile_alpha=np.array(self.alphas_),
            tree_method="hist",
            n_estimators=int(self.n_estimators),
            max_depth=int(self.max_depth),
            learning_rate=float(self.learning_rate),
            n_jobs=int(self.n_jobs),
            random_state=int(self.seed),
        )
        train, calibrate = _split_for_calibration(
            origins, horizons, len(values), spec, float(self.calibration_fraction)
        )
        model.fit(features.X[train], target[train])
        self.quantile_offsets_ = _conformal_offsets(
            model, features.X[calibrate], target[calibrate], self.alphas_
        )

        self.model_ = model
        self.spec_ = spec
        self.step_ = report.step
        self.report_ = report
        self.min_history_steps_ = spec.min_history_steps
        self.nonnegative_ = bool(values.min() >= 0.0)
        self.history_ = clean.iloc[-spec.min_history_steps :]
        self.exog_history_ = (
            None if exog_values is None else exog_values[-spec.min_history_steps :]
        )
        self.feature_names_ = spec.feature_names()
        self.n_train_rows_ = int(train.sum())
        self.n_calibration_rows_ = int(calibrate.sum())
        self.fit_seconds_ = time.perf_counter() - started
        logger.info(
            "fitted XGBForecaster on %d points (%d pairs, %d features) in %.1f s",
            len(values),
            self.n_train_rows_,
            features.X.shape[1],
            self.fit_seconds_,
        )
        return self

    # -------------------------------------------------------------- predict
    def predict(
        self,
        horizon: int | None = None,
        history: pd.Series | None = None,
        exog: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Forecast the ``horizon`` steps after the end of ``history``.

        Returns a frame indexed by the future timestamps with ``mean`` (the
        median) and one ``q<alpha>`` column per requested quantile.
        """
        check_is_fitted(self, "model_")
        horizon = self.spec_.horizon if horizon is None else int(horizon)
        if not 1 <= horizon <= self.spec_.horizon:
            raise ConfigError(
                f"horizon must be 1..{self.spec_.horizon} (the fitted horizon); "
                f"got {horizon}; refit with a larger horizon"
            )
        if history is None:
            clean, exog_values = self.history_, self.exog_history_
        else:
            clean, _ = prepare_series(history)
            # Calendar features are read in the training time zone, whatever
            # zone the history arrives in (served histories come as UTC).
            clean = clean.tz_convert(self.history_.index.tz)
            exog_values = self._history_exog(exog, clean)
        self._check_history(clean, "history")

        n = len(clean)
        origins = np.full(horizon, n - 1)
        horizons = np.arange(1, horizon + 1)
        quantiles = self._predict_rows(clean, exog_values, origins, horizons)
        frame = pd.DataFrame(
            quantiles,
            index=future_index(clean.index[-1], self.step_, horizon),
            columns=[quantile_column(a) for a in self.alphas_],
        )
        frame.insert(0, "mean", frame[quantile_column(0.5)])
        requested = [quantile_column(float(q)) for q in self.quantiles]
        return frame[["mean", *requested]]

    def forecast_at_lead(
        self,
        y: pd.Series,
        lead_steps: int,
        quantile: float = 0.9,
        exog: pd.DataFrame | None = None,
    ) -> pd.Series:
        """Forecast of ``y[t + lead_steps]`` made at every origin ``t`` of ``y``.

        Only values up to ``t`` enter the forecast at ``t`` (gaps are forward
        filled). The result is indexed by origin, NaN where the history is
        shorter than ``min_history_steps_``.
        """
        check_is_fitted(self, "model_")
        if not 1 <= int(lead_steps) <= self.spec_.horizon:
            raise ConfigError(
                f"lead_steps must be 1..{self.spec_.horizon}; got {lead_steps}"
            )
        column = _alpha_position(self.alphas_, quantile)
        clean, _ = prepare_series(y, fill="ffill")
        exog_values = self._history_exog(exog, clean)
        self._check_history(clean, "y")

        origins = np.arange(self.min_history_steps_ - 1, len(clean))
        horizons = np.full(len(origins), int(lead_steps))
        forecast = np.full(len(clean), np.nan)
        rows = self._predict_rows(clean, exog_values, origins, horizons)
        forecast[origins] = rows[:, column]
        return pd.Series(
            forecast,
            index=clean.index,
            name=f"{quantile_column(quantile)}@{lead_steps}",
        )

    def predict_origins(
        self, y: pd.Series, origins: Sequence[int] | np.ndarray, horizon: int
    ) -> dict[str, np.ndarray]:
        """Forecasts from every origin position of a clean series ``y``.

        One batched call instead of one :meth:`predict` per origin; returns
        ``mean`` and the ``q<alpha>`` columns, each of shape (origins, horizon).
        Only values up to an origin enter its forecast.
        """
        check_is_fitted(self, "model_")
        if not 1 <= int(horizon) <= self.spec_.horizon:
            raise ConfigError(f"horizon must be 1..{self.spec_.horizon}; got {horizon}")
        clean, _ = prepare_series(y, fill="ffill")
        self._check_history(clean, "y")
        positions = np.asarray(origins, dtype=np.int64)
        if positions.size and positions.min() < self.min_history_steps_ - 1:
            raise DataError(
                f"origin {int(positions.min())} has too little history; the "
                f"first usable origin is {self.min_history_steps_ - 1}"
            )
        pair_origins = np.repeat(positions, int(horizon))
        pair_horizons = np.tile(np.arange(1, int(horizon) + 1), len(positions))
        rows = self._predict_rows(
            clean, self._history_exog(None, clean), pair_origins, pair_horizons
        )
        shaped = rows.reshape(len(positions), int(horizon), -1)
        out = {"mean": shaped[:, :, self.alphas_.index(0.5)]}
        for q in self.quantiles:
            position = _alpha_position(self.alphas_, float(q))
            out[quantile_column(float(q))] = shaped[:, :, position]
        return out

    # -------------------------------------------------------------- helpers
    def _check_params(self) -> None:
        _check_positive_ints("horizon", [self.horizon])
        _check_quantiles(self.quantiles)
        _check_positive_ints("lags", self.lags)
        _check_positive_ints("rolling_windows", self.rolling_windows)
        _check_positive_ints("max_train_rows", [self.max_train_rows])
        if not 0.0 <= float(self.calibration_fraction) < 1.0:
            raise ConfigError(
                "calibration_fraction must be in [0, 1); "
                f"got {self.calibration_fraction}"
            )
        if not self.lags and not self.rolling_windows:
            raise ConfigError("give at least one lag or rolling window")
        if int(self.fourier_order) < 0:
            raise ConfigError(f"fourier_order must be >= 0; got {self.fourier_order}")
        for period in self.seasonal_lags:
            try:
                valid = pd.Timedelta(period) > pd.Timedelta(0)
            except (ValueError, TypeError):
                valid = False
            if not valid:
                raise ConfigError(
                    f"seasonal lag {period!r} is not a duration; use e.g. '1D' or '7D'"
                )
        for name in ("n_estimators", "max_depth", "n_jobs"):
            _check_positive_ints(name, [getattr(self, name)], what="a whole number")
        learning_rate = self.learning_rate
        if not isinstance(learning_rate, int | float) or not learning_rate > 0:
            raise ConfigError(
                f"learning_rate must be a number > 0; got {learning_rate!r}"
            )

    def _predict_rows(
        self,
        clean: pd.Series,
        exog_values: np.ndarray | None,
        origins: np.ndarray,
        horizons: np.ndarray,
    ) -> np.ndarray:
        """De-normalised, sorted quantiles, one row per (origin, horizon)."""
        features = build_features(
            clean.to_numpy(),
            _start_ns(clean),
            int(self.step_.value),
            _tz(clean),
            self.spec_,
            origins,
            horizons,
            self.scale_floor_,
            exog_values,
        )
        booster = self.model_.get_booster()
        # Waking a thread pool costs more than a few hundred rows take on one
        # core; a single decision's forecast stays on the calling thread.
        threads = 1 if len(features.X) < SINGLE_THREAD_ROWS else int(self.n_jobs)
        booster.set_param({"nthread": threads})
        raw = booster.inplace_predict(features.X)
        raw = np.asarray(raw, dtype=np.float64).reshape(len(origins), -1)
        raw = raw + self.quantile_offsets_
        quantiles = features.level[:, None] + features.scale[:, None] * raw
        if self.nonnegative_:
            quantiles = np.maximum(quantiles, 0.0)
        # Separately fitted quantile heads can cross; sorting restores order.
        return np.sort(quantiles, axis=1)

    def _check_history(self, clean: pd.Series, what: str) -> None:
        if len(clean) >= 2 and clean.index[1] - clean.index[0] != self.step_:
            step = clean.index[1] - clean.index[0]
            raise DataError(
                f"{what} is on a {step} grid but the model was fitted on "
                f"{self.step_}; resample it to {self.step_}"
            )
        if len(clean) < self.min_history_steps_:
            raise DataError(
                f"{what} has {len(clean)} points; forecasting needs at least "
                f"{self.min_history_steps_}; pass a longer {what}"
            )

    def _history_exog(
        self, exog: pd.DataFrame | None, clean: pd.Series
    ) -> np.ndarray | None:
        if self.spec_.exog_columns and exog is None:
            raise DataError(
                "the model was fitted with exog columns "
                f"{list(self.spec_.exog_columns)}; pass exog aligned with the series"
            )
        return _align_exog(exog, clean.index, self.spec_.exog_columns)


def _align_exog(
    exog: pd.DataFrame | None, index: pd.DatetimeIndex, columns: tuple[str, ...]
) -> np.ndarray | None:
    """Exogenous values on the series grid, carried forward over gaps."""
    if exog is None or not columns:
        return None
    if not isinstance(exog, pd.DataFrame) or not isinstance(
        exog.index, pd.DatetimeIndex
    ):
        raise DataError(
            "exog must be a DataFrame with a DatetimeIndex; found "
            f"{type(exog).__name__}"
        )
    found = tuple(str(c) for c in exog.columns)
    if found != columns:
        raise DataError(f"exog columns must be {list(columns)}; found {list(found)}")
    non_numeric = [
        c for c in exog.columns if not pd.api.types.is_numeric_dtype(exog[c])
    ]
    if non_numeric:
        raise DataError(
            f"exog columns must be numeric; found non-numeric {non_numeric}; "
            "convert them with pd.to_numeric"
        )
    ordered = exog[~exog.index.duplicated()].sort_index()
    return ordered.reindex(index, method="ffill").to_numpy(dtype=np.float64)


def _split_for_calibration(
    origins: np.ndarray,
    horizons: np.ndarray,
    n_values: int,
    spec: FeatureSpec,
    fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of training pairs and of later, disjoint calibration pairs.

    Training pairs have their target before the cut and calibration pairs
    their origin at or after it, so no calibration target was ever fitted.
    """
    everything = np.ones(len(origins), dtype=bool)
    if fraction <= 0.0:
        return everything, ~everything
    first = spec.min_history_steps - 1
    cut = first + int((1.0 - fraction) * (n_values - 1 - first))
    train = origins + horizons <= cut
    calibrate = origins >= cut
    if calibrate.sum() < MIN_CALIBRATION_ROWS:
        logger.warning(
            "only %d calibration pairs (< %d); quantiles left uncalibrated",
            int(calibrate.sum()),
            MIN_CALIBRATION_ROWS,
        )
        return everything, ~everything
    return train, calibrate


def _conformal_offsets(
    model: XGBRegressor,
    X: np.ndarray,
    target: np.ndarray,
    alphas: tuple[float, ...],
) -> np.ndarray:
    """Shift per quantile so that held-out coverage matches its level.

    Boosted quantiles fitted in-sample are too narrow out of sample; the
    split-conformal correction (Romano et al., 2019, one-sided per level) moves
    each quantile by the matching quantile of its held-out errors.
    """
    if len(target) == 0:
        return np.zeros(len(alphas))
    raw = np.asarray(model.get_booster().inplace_predict(X), dtype=np.float64)
    errors = target[:, None] - raw.reshape(len(target), -1)
    n = len(target)
    offsets = np.empty(len(alphas))
    for j, alpha in enumerate(alphas):
        level = min(1.0, np.ceil((n + 1) * alpha) / n)
        offsets[j] = np.quantile(errors[:, j], level, method="higher")
    return offsets


def _alpha_position(alphas: tuple[float, ...], quantile: float) -> int:
    matches = [i for i, a in enumerate(alphas) if np.isclose(a, quantile)]
    if not matches:
        raise ConfigError(
            f"quantile {quantile} was not fitted; choose one of {list(alphas)}"
        )
    return matches[0]


def _start_ns(clean: pd.Series) -> int:
    return int(clean.index[0].value)


def _tz(clean: pd.Series) -> tzinfo:
    tz = clean.index.tz
    assert tz is not None  # prepare_series always returns a tz-aware index
    return tz


def _check_quantiles(quantiles: Sequence[float]) -> None:
    if not quantiles or any(not 0.0 < float(q) < 1.0 for q in quantiles):
        raise ConfigError(f"quantiles must be levels in (0, 1); got {list(quantiles)}")


def _check_positive_ints(
    name: str, values: Sequence[int], what: str = "whole steps"
) -> None:
    def whole(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            return False
        return float(value).is_integer() and float(value) >= 1

    if not all(whole(v) for v in values):
        raise ConfigError(f"{name} must be {what} >= 1; got {list(values)}")

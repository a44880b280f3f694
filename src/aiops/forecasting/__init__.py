"""Load forecasting: quantile XGBoost forecaster, baselines, metrics, backtests."""

from aiops.forecasting.backtest import backtest
from aiops.forecasting.baselines import SeasonalNaive
from aiops.forecasting.features import PreparationReport, prepare_series
from aiops.forecasting.metrics import coverage, mae, mase, pinball_loss, rmse, smape
from aiops.forecasting.xgb import XGBForecaster

__all__ = [
    "PreparationReport",
    "SeasonalNaive",
    "XGBForecaster",
    "backtest",
    "coverage",
    "mae",
    "mase",
    "pinball_loss",
    "prepare_series",
    "rmse",
    "smape",
]

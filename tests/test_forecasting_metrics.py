"""Forecast metrics and the rolling-origin backtest, on hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

from aiops.errors import DataError
from aiops.forecasting import (
    SeasonalNaive,
    backtest,
    coverage,
    mae,
    mase,
    pinball_loss,
    rmse,
    smape,
)

TRUTH = [1.0, 2.0, 3.0, 4.0]
FORECAST = [1.0, 3.0, 2.0, 6.0]  # errors 0, +1, -1, +2


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (mae, 1.0),
        (rmse, math.sqrt(1.5)),
        # 2|e| / (|y| + |f|): 0, 2/5, 2/5, 4/10
        (smape, 30.0),
    ],
)
def test_point_metrics_match_hand_computed_values(metric, expected):
    assert metric(TRUTH, FORECAST) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("season_steps", "expected"),
    [
        (1, 0.5),  # naive errors 1, 2, 3 -> scale 2
        (2, 0.25),  # naive errors 3, 5 -> scale 4
    ],
)
def test_mase_scales_by_in_sample_seasonal_naive(season_steps, expected):
    train = [1.0, 2.0, 4.0, 7.0]
    assert mase(TRUTH, FORECAST, train, season_steps) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("alpha", "expected"),
    [
        # residuals y - q: 0, -1, +1, -2
        (0.9, (0.0 + 0.1 + 0.9 + 0.2) / 4),
        (0.5, (0.0 + 0.5 + 0.5 + 1.0) / 4),
        (0.1, (0.0 + 0.9 + 0.1 + 1.8) / 4),
    ],
)
def test_pinball_loss(alpha, expected):
    assert pinball_loss(TRUTH, FORECAST, alpha) == pytest.approx(expected)


def test_coverage_counts_values_at_or_below_the_bound():
    assert coverage(TRUTH, FORECAST) == 0.75


def test_smape_of_two_zeros_is_zero():
    assert smape([0.0, 2.0], [0.0, 2.0]) == 0.0


def test_metrics_skip_pairs_with_nan():
    assert mae([1.0, np.nan, 3.0], [2.0, 2.0, np.nan]) == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mae([1.0, 2.0], [1.0]), "same length"),
        (lambda: mae([np.nan], [1.0]), "free of NaN"),
        (lambda: mase([1.0], [1.0], [5.0, 5.0, 5.0], 1), "undefined"),
        (lambda: mase([1.0], [1.0], [5.0, 5.0], 2), "longer than season_steps=2"),
        (lambda: pinball_loss([1.0], [1.0], 1.5), r"alpha must be in \(0, 1\)"),
    ],
)
def test_metric_errors(call, message):
    with pytest.raises(DataError, match=message):
        call()


@pytest.fixture
def trending_daily_series():
    """Hourly daily pattern plus a trend of 1 per step: the daily naive is
    always exactly 24 too low."""
    index = pd.date_range("2024-01-01", periods=24 * 10, freq="1h", tz="UTC")
    # Whole numbers keep every naive error exactly 24, bounds included.
    pattern = 50.0 + 3.0 * (index.hour.to_numpy() % 7)
    return pd.Series(pattern + np.arange(len(index)), index=index)


def test_backtest_scores_seasonal_naive_exactly(trending_daily_series):
    y = trending_daily_series
    result = backtest(
        lambda: SeasonalNaive("1D", horizon=6, quantiles=(0.5, 0.9)),
        y,
        origins=3,
        horizon=6,
    )

    last_origin = len(y) - 1 - 6
    expected_origins = y.index[[last_origin - 12, last_origin - 6, last_origin]]
    assert list(result.index) == list(expected_origins)
    np.testing.assert_allclose(result["mae"], 24.0)
    np.testing.assert_allclose(result["mase"], 1.0)
    # Naive errors are always +24, so q0.9 = naive + 24 hits the truth.
    np.testing.assert_allclose(result["coverage_q0.9"], 1.0)
    np.testing.assert_allclose(result["pinball_q0.9"], 0.0, atol=1e-9)
    np.testing.assert_allclose(result["pinball_q0.5"], 0.5 * 24.0)


def test_backtest_accepts_explicit_origins(trending_daily_series):
    y = trending_daily_series
    origins = [y.index[100], y.index[150]]
    result = backtest(lambda: SeasonalNaive("1D", horizon=4), y, origins, horizon=4)
    assert list(result.index) == origins


def test_backtest_refuses_origin_without_enough_future(trending_daily_series):
    y = trending_daily_series
    with pytest.raises(DataError, match="steps after it"):
        backtest(lambda: SeasonalNaive("1D", horizon=6), y, [y.index[-2]], horizon=6)

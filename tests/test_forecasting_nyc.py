"""XGBForecaster against seasonal naive baselines on NAB's NYC taxi demand."""

import numpy as np
import pandas as pd
import pytest

from aiops.forecasting import SeasonalNaive, XGBForecaster, backtest, prepare_series

HORIZON = 12  # six hours on the 30-minute grid
WEEK = 336


@pytest.fixture(scope="module")
def taxi(datasets_dir) -> pd.Series:
    path = datasets_dir / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv"
    if not path.is_file():
        pytest.skip(f"NAB nyc_taxi.csv not found at {path}")
    raw = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")
    clean, report = prepare_series(raw["value"], assume_tz="America/New_York")
    # The file is on a naive wall clock: the 2014 fall-back hour is ambiguous.
    assert (report.n_dst_dropped, report.n_missing_filled) == (2, 4)
    return clean


def test_beats_seasonal_naive_on_the_last_week(taxi):
    # Origins every 3 hours through the last week (the January 2015 blizzard
    # included); the model is fitted once on everything before that week.
    n = len(taxi)
    origins = list(taxi.index[n - 1 - WEEK : n - HORIZON : 6])
    common = dict(horizon=HORIZON, season_steps=48, refit=False)
    model = backtest(
        lambda: XGBForecaster(
            horizon=HORIZON,
            lags=(1, 2, 3, 4, 6, 12, 24, 48),
            rolling_windows=(6, 48),
        ),
        taxi,
        origins,
        **common,
    )
    mase = {"xgb": model["mase"].mean()}
    for season in ("1D", "7D"):
        naive = backtest(
            lambda s=season: SeasonalNaive(s, HORIZON), taxi, origins, **common
        )
        mase[season] = naive["mase"].mean()

    assert len(model) == len(origins) == 55
    assert mase["xgb"] < 0.9 * mase["7D"], mase
    assert mase["xgb"] < 0.6 * mase["1D"], mase
    assert np.isfinite(model["coverage_q0.9"]).all()

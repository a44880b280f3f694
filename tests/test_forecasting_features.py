"""prepare_series repairs and reports; the feature matrix never looks ahead."""

import numpy as np
import pandas as pd
import pytest

from aiops.errors import ConfigError, DataError
from aiops.forecasting import prepare_series
from aiops.forecasting.features import (
    FeatureSpec,
    build_features,
    calendar_features,
    steps_in,
    window_stat_at,
)


def minutes(*offsets: float) -> pd.DatetimeIndex:
    start = pd.Timestamp("2024-05-01 00:00", tz="UTC")
    return pd.DatetimeIndex([start + pd.Timedelta(minutes=m) for m in offsets])


def test_clean_series_passes_through_unchanged():
    y = pd.Series([1.0, 2.0, 3.0], index=minutes(0, 1, 2), name="rps")
    clean, report = prepare_series(y)
    pd.testing.assert_series_equal(clean, y, check_freq=False)
    assert not report.changed
    assert report.step == pd.Timedelta("1min")


def test_duplicates_are_averaged_and_counted():
    y = pd.Series([1.0, 3.0, 5.0, 7.0], index=minutes(0, 1, 1, 2))
    clean, report = prepare_series(y)
    assert report.n_duplicates == 1
    np.testing.assert_array_equal(clean.to_numpy(), [1.0, 4.0, 7.0])


def test_out_of_order_rows_are_sorted_and_counted():
    y = pd.Series([0.0, 2.0, 1.0, 3.0], index=minutes(0, 2, 1, 3))
    clean, report = prepare_series(y)
    assert report.n_out_of_order == 1
    np.testing.assert_array_equal(clean.to_numpy(), [0.0, 1.0, 2.0, 3.0])
    assert clean.index.is_monotonic_increasing


def test_gaps_and_nan_are_interpolated_and_flagged():
    # Minutes 2-4 are missing and minute 7 holds NaN.
    y = pd.Series(
        [0.0, 10.0, 50.0, 60.0, np.nan, 80.0], index=minutes(0, 1, 5, 6, 7, 8)
    )
    clean, report = prepare_series(y)
    np.testing.assert_allclose(
        clean.to_numpy(), [0, 10, 20, 30, 40, 50, 60, 70, 80], atol=1e-12
    )
    assert (report.n_gaps, report.n_missing_filled, report.max_gap_steps) == (2, 4, 3)
    np.testing.assert_array_equal(np.flatnonzero(report.filled_mask), [2, 3, 4, 7])


def test_forward_fill_uses_only_past_values():
    y = pd.Series([1.0, np.nan, np.nan, 4.0], index=minutes(0, 1, 2, 3))
    clean, _ = prepare_series(y, fill="ffill")
    np.testing.assert_array_equal(clean.to_numpy(), [1.0, 1.0, 1.0, 4.0])


def test_off_grid_points_snap_and_leading_nan_is_dropped():
    y = pd.Series([np.nan, 1.0, 2.0, 3.0], index=minutes(0, 1, 2.25, 3))
    clean, report = prepare_series(y)
    assert (report.n_off_grid, report.n_leading_dropped) == (1, 1)
    assert list(clean.index) == list(minutes(1, 2, 3))


def test_naive_index_in_a_dst_fold_is_dropped_then_filled():
    # New York fall-back: 01:00 and 01:30 happen twice but appear once.
    naive = pd.date_range("2014-11-02 00:00", "2014-11-02 03:00", freq="30min")
    y = pd.Series(np.arange(len(naive), dtype=float), index=naive)
    clean, report = prepare_series(y, assume_tz="America/New_York")
    assert report.n_dst_dropped == 2
    # 00:30 EDT (04:30Z) to 02:00 EST (07:00Z) leaves four half-hours to fill.
    assert (report.n_gaps, report.n_missing_filled) == (1, 4)
    assert str(clean.index.tz) == "America/New_York"
    assert (clean.index[1:] - clean.index[:-1] == pd.Timedelta("30min")).all()


def test_naive_index_with_the_repeated_hour_is_inferred():
    naive = pd.DatetimeIndex(
        [
            *("2014-11-02 00:30", "2014-11-02 01:00", "2014-11-02 01:30"),
            *("2014-11-02 01:00", "2014-11-02 01:30", "2014-11-02 02:00"),
        ]
    )
    y = pd.Series(np.arange(6, dtype=float), index=naive)
    clean, report = prepare_series(y, assume_tz="America/New_York")
    assert (report.n_dst_dropped, report.n_duplicates, report.n_gaps) == (0, 0, 0)
    np.testing.assert_array_equal(clean.to_numpy(), np.arange(6.0))


@pytest.mark.parametrize(
    ("y", "kwargs", "message"),
    [
        (
            pd.Series(["1.0", "busy", "3"], index=minutes(0, 1, 2)),
            {},
            "expected numeric values; found dtype object such as 'busy'",
        ),
        (pd.Series([1.0, 2.0]), {}, "expected a DatetimeIndex; found RangeIndex"),
        (
            pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2)),
            {},
            "tz-aware DatetimeIndex; found a naive one",
        ),
        (
            pd.DataFrame({"value": [1.0, 2.0]}, index=minutes(0, 1)),
            {},
            r"found a DataFrame with columns \['value'\]",
        ),
        (
            pd.Series(
                [1.0, 2.0, 3.0],
                index=pd.date_range("2024-01-01", periods=3, freq="1D", tz="UTC"),
            ),
            {},
            "regular grid of 1 minute to 1 hour; found a median step of 1 days",
        ),
        (pd.Series([np.nan, np.nan], index=minutes(0, 1)), {}, "no finite value"),
        (pd.Series([1.0, 2.0], index=minutes(0, 1)), {"fill": "zero"}, "fill must"),
    ],
)
def test_bad_input_is_refused_with_the_fix(y, kwargs, message):
    with pytest.raises((DataError, ConfigError), match=message):
        prepare_series(y, **kwargs)


@pytest.mark.parametrize(
    ("period", "step", "expected"),
    [("1D", "1min", 1440), ("7D", "30min", 336), ("1h", "5min", 12)],
)
def test_steps_in(period, step, expected):
    assert steps_in(period, pd.Timedelta(step)) == expected


def test_steps_in_refuses_a_season_off_the_grid():
    with pytest.raises(ConfigError, match="whole number of steps"):
        steps_in("1D", pd.Timedelta("7min"))


def test_feature_rows_ignore_values_after_their_origin():
    spec = FeatureSpec(
        horizon=5,
        lags=(1, 2, 4),
        rolling_windows=(3, 6),
        season_steps=(24,),
        season_names=("1D",),
        fourier_order=2,
    )
    rng = np.random.default_rng(0)
    values = rng.normal(100.0, 5.0, 200)
    changed = values.copy()
    changed[121:] = rng.normal(500.0, 50.0, 79)
    origins = np.arange(spec.min_history_steps - 1, 121)
    horizons = np.full(len(origins), 5)

    def rows(series: np.ndarray) -> np.ndarray:
        start = pd.Timestamp("2024-01-01", tz="UTC").value
        step = pd.Timedelta("1h").value
        tz = pd.Timestamp("2024-01-01", tz="UTC").tz
        return build_features(series, start, step, tz, spec, origins, horizons, 1e-6).X

    np.testing.assert_array_equal(rows(values), rows(changed))
    assert rows(values).shape == (len(origins), len(spec.feature_names()))


def test_calendar_follows_the_local_clock_across_dst():
    spec = FeatureSpec(
        horizon=1,
        lags=(1,),
        rolling_windows=(),
        season_steps=(),
        season_names=(),
        fourier_order=1,
        holidays=("2024-03-31",),
    )
    start = pd.Timestamp("2024-03-31 00:00", tz="UTC")  # 01:00 in Berlin
    berlin = pd.Timestamp("2024-01-01", tz="Europe/Berlin").tz
    calendar = calendar_features(
        start.value, pd.Timedelta("30min").value, np.arange(4), berlin, spec
    )
    # Clocks jump from 02:00 to 03:00 at 01:00 UTC.
    np.testing.assert_array_equal(calendar[:, 0], [1, 1, 3, 3])
    np.testing.assert_array_equal(calendar[:, 1], [60, 90, 180, 210])
    np.testing.assert_array_equal(calendar[:, 3], [1, 1, 1, 1])
    assert spec.feature_names()[:4] == [
        "horizon_steps",
        "lag_1",
        "hour",
        "minute_of_day",
    ]


def test_a_clean_grid_passes_through_unchanged():
    index = pd.date_range("2024-03-30", periods=500, freq="5min", tz="Europe/Berlin")
    y = pd.Series(np.linspace(1.0, 2.0, 500), index=index, name="rps")
    clean, report = prepare_series(y)
    pd.testing.assert_series_equal(clean, y, check_freq=False)
    assert not report.changed and report.step == pd.Timedelta("5min")
    assert report.n_output == 500 and not report.filled_mask.any()
    # one missing value takes the repairing path, which fills it
    y.iloc[10] = np.nan
    repaired, report = prepare_series(y)
    assert report.n_missing_filled == 1 and repaired.iloc[10] == pytest.approx(
        (y.iloc[9] + y.iloc[11]) / 2
    )


@pytest.mark.parametrize("stat", ["mean", "std"])
def test_window_stats_at_positions_match_the_full_rolling_ones(stat):
    values = np.random.default_rng(4).normal(size=300)
    positions = np.array([0, 3, 4, 150, 299, 299])
    rolling = pd.Series(values).rolling(5)
    expected = rolling.std(ddof=0) if stat == "std" else rolling.mean()
    np.testing.assert_allclose(
        window_stat_at(values, 5, positions, stat),
        expected.to_numpy()[positions],
        rtol=1e-12,
    )

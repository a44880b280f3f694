"""XGBForecaster and SeasonalNaive on a synthetic daily-seasonal load."""

import pickle
import time

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from aiops.errors import ConfigError, DataError
from aiops.forecasting import SeasonalNaive, XGBForecaster, backtest, coverage

STEPS_PER_DAY = 288  # 5-minute grid
SMALL = {
    "horizon": 12,
    "lags": (1, 2, 3, 6, 12),
    "rolling_windows": (3, 12),
    "seasonal_lags": ("1D", "7D"),
    "n_estimators": 120,
    "max_train_rows": 20_000,
}


def daily_load(days: int, seed: int = 0) -> pd.Series:
    """Requests per second: daily wave, weekend bump, drifting level, noise."""
    index = pd.date_range(
        "2024-03-04", periods=days * STEPS_PER_DAY, freq="5min", tz="Europe/Berlin"
    )
    rng = np.random.default_rng(seed)
    day_phase = (index.hour * 60 + index.minute).to_numpy() / 1440
    wave = 60.0 * np.sin(2 * np.pi * (day_phase - 0.25))
    weekend = 15.0 * (index.dayofweek.to_numpy() >= 5)
    drift = np.cumsum(rng.normal(0.0, 0.5, len(index)))
    noise = rng.normal(0.0, 8.0, len(index))
    return pd.Series(200.0 + wave + weekend + drift + noise, index=index, name="rps")


@pytest.fixture(scope="module")
def load() -> pd.Series:
    return daily_load(days=15)


@pytest.fixture(scope="module")
def train(load: pd.Series) -> pd.Series:
    return load.iloc[:-STEPS_PER_DAY]


@pytest.fixture(scope="module")
def fitted(train: pd.Series) -> XGBForecaster:
    return XGBForecaster(**SMALL).fit(train)


def test_beats_the_daily_naive_on_a_held_out_day(load, fitted):
    # Fit once on the training days, then forecast every hour of the held-out
    # day from the history up to that hour.
    held_out = dict(origins=24, horizon=12, step=12, season_steps=STEPS_PER_DAY)
    model = backtest(lambda: fitted, load, refit=False, **held_out)
    naive = backtest(lambda: SeasonalNaive("1D", horizon=12), load, **held_out)

    assert model["mase"].mean() < 0.9
    assert model["mase"].mean() < 0.8 * naive["mase"].mean()
    assert 0.8 <= model["coverage_q0.9"].mean() <= 0.98


def test_predict_layout_and_monotone_quantiles(train, fitted):
    forecast = fitted.predict()
    assert list(forecast.columns) == ["mean", "q0.5", "q0.9", "q0.99"]
    assert forecast.index[0] == train.index[-1] + pd.Timedelta("5min")
    assert len(forecast) == 12 and str(forecast.index.tz) == "Europe/Berlin"
    np.testing.assert_array_equal(forecast["mean"], forecast["q0.5"])
    quantiles = forecast[["q0.5", "q0.9", "q0.99"]].to_numpy()
    assert (np.diff(quantiles, axis=1) >= 0).all()
    assert (quantiles[:, 2] > quantiles[:, 0]).all()
    assert len(fitted.predict(horizon=3)) == 3


def test_predict_from_history_matches_forecast_at_lead(load, fitted):
    origin = len(load) - 100
    lead = 7
    at_lead = fitted.forecast_at_lead(load, lead, quantile=0.9)
    from_history = fitted.predict(history=load.iloc[: origin + 1])
    assert at_lead.iloc[origin] == pytest.approx(
        from_history["q0.9"].iloc[lead - 1], rel=1e-12
    )


def test_forecast_at_lead_never_uses_data_after_the_origin(load, fitted):
    origin = len(load) - 200
    changed = load.copy()
    rng = np.random.default_rng(1)
    changed.iloc[origin + 1 :] = rng.normal(900.0, 100.0, len(load) - origin - 1)
    changed.iloc[origin + 5 : origin + 9] = np.nan  # gaps after t: no effect

    before = fitted.forecast_at_lead(load, 12, quantile=0.99)
    after = fitted.forecast_at_lead(changed, 12, quantile=0.99)

    np.testing.assert_array_equal(
        before.iloc[: origin + 1].to_numpy(), after.iloc[: origin + 1].to_numpy()
    )
    # The check has teeth: later origins do see the change.
    assert (after.iloc[origin + 20 :] > before.iloc[origin + 20 :] + 100).all()
    first = fitted.min_history_steps_ - 1
    assert before.iloc[:first].isna().all() and before.iloc[first:].notna().all()


def test_forecast_at_lead_is_fast_on_20k_origins(fitted):
    long_load = daily_load(days=75, seed=3)
    started = time.perf_counter()
    forecast = fitted.forecast_at_lead(long_load, 6)
    elapsed_s = time.perf_counter() - started
    assert forecast.notna().sum() > 19_000
    assert elapsed_s < 1.0


def test_same_seed_gives_identical_predictions(train):
    quick = {**SMALL, "n_estimators": 30}
    first = XGBForecaster(**quick, seed=5).fit(train).predict()
    second = XGBForecaster(**quick, seed=5).fit(train).predict()
    pd.testing.assert_frame_equal(first, second, check_exact=True)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_pickle_round_trip_predicts_identically(load, fitted, dumps):
    restored = pickle.loads(dumps(fitted))
    pd.testing.assert_frame_equal(
        restored.predict(), fitted.predict(), check_exact=True
    )
    np.testing.assert_array_equal(
        restored.forecast_at_lead(load, 3).to_numpy(),
        fitted.forecast_at_lead(load, 3).to_numpy(),
    )


def test_init_only_stores_and_get_params_round_trips():
    model = XGBForecaster(lags=[1, 2], horizon=0)  # invalid, but only at fit
    assert model.get_params()["lags"] == [1, 2]
    assert not hasattr(model, "model_")


def test_from_config_reads_the_defaults_file(aiops_home):
    model = XGBForecaster.from_config({"horizon": 30})
    assert model.horizon == 30
    assert model.lags == (1, 2, 3, 5, 10, 15, 30, 60)
    assert model.seasonal_lags == ("1D", "7D")


def test_exog_is_read_at_the_origin(train):
    exog = pd.DataFrame({"deploys": (np.arange(len(train)) % 50 == 0) * 1.0})
    exog.index = train.index
    model = XGBForecaster(**{**SMALL, "n_estimators": 20}).fit(train, exog=exog)
    assert model.feature_names_[-1] == "exog_deploys"
    assert len(model.predict()) == 12
    with pytest.raises(DataError, match=r"fitted with exog columns \['deploys'\]"):
        model.forecast_at_lead(train, 3)


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        (
            {"quantiles": (0.5, 1.2)},
            ConfigError,
            r"quantiles must be levels in \(0, 1\)",
        ),
        ({"lags": (0, 1)}, ConfigError, "lags must be whole steps >= 1"),
        (
            {"seasonal_lags": ("1D", "weekly")},
            ConfigError,
            "'weekly' is not a duration",
        ),
        (
            {"seasonal_lags": ("30D",)},
            DataError,
            r"needs at least 8676 \(8652 of history",
        ),
    ],
)
def test_bad_parameters_are_refused_at_fit(train, params, error, message):
    with pytest.raises(error, match=message):
        XGBForecaster(**{**SMALL, **params}).fit(train)


def test_forecast_requests_outside_the_fit_are_refused(load, fitted):
    with pytest.raises(ConfigError, match=r"horizon must be 1\.\.12"):
        fitted.predict(horizon=13)
    with pytest.raises(ConfigError, match=r"quantile 0.8 was not fitted"):
        fitted.forecast_at_lead(load, 3, quantile=0.8)
    with pytest.raises(DataError, match="on a 0 days 00:10:00 grid"):
        fitted.predict(history=load.resample("10min").mean())
    with pytest.raises(DataError, match="forecasting needs at least"):
        fitted.predict(history=load.iloc[:100])


def test_seasonal_naive_repeats_the_last_season(load):
    hourly = load.resample("1h").mean()
    model = SeasonalNaive("1D", horizon=30, quantiles=(0.5, 0.9)).fit(hourly)
    forecast = model.predict()
    values = hourly.to_numpy()
    n = len(values)
    expected = [values[n - 1 + h - (24 if h <= 24 else 48)] for h in range(1, 31)]
    np.testing.assert_array_equal(forecast["mean"].to_numpy(), expected)
    np.testing.assert_array_equal(forecast["mean"], forecast["q0.5"])
    assert (forecast["q0.9"] > forecast["q0.5"]).all()

    at_lead = model.forecast_at_lead(hourly, 5, quantile=0.5)
    assert at_lead.iloc[100] == values[100 + 5 - 24]
    assert at_lead.iloc[:47].isna().all()


def test_seasonal_naive_quantiles_come_from_in_sample_naive_errors(load):
    train = load.iloc[:-STEPS_PER_DAY]
    model = SeasonalNaive("1D", horizon=12).fit(train)
    values = train.to_numpy()
    errors = values[STEPS_PER_DAY:] - values[:-STEPS_PER_DAY]
    expected = np.quantile(errors, [0.5, 0.9, 0.99])
    expected[0] = 0.0  # the median is the naive value itself
    np.testing.assert_allclose(model.error_quantiles_[0], expected)

    upper = model.forecast_at_lead(load, 12, quantile=0.9)
    held_out = slice(len(load) - STEPS_PER_DAY, len(load) - 12)
    share = coverage(load.shift(-12).iloc[held_out], upper.iloc[held_out])
    assert share >= 0.85


def test_calibration_holds_out_the_latest_origins(train, fitted):
    assert fitted.n_calibration_rows_ > 1000
    # Held-out errors of in-sample quantiles are wider: upper levels move up.
    offsets = dict(zip(fitted.alphas_, fitted.quantile_offsets_, strict=True))
    assert offsets[0.99] > 0

    uncalibrated = XGBForecaster(
        **{**SMALL, "n_estimators": 20}, calibration_fraction=0.0
    ).fit(train)
    np.testing.assert_array_equal(uncalibrated.quantile_offsets_, 0.0)
    assert uncalibrated.n_calibration_rows_ == 0

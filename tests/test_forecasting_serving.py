"""``aiops forecast``: a registered forecaster over a history file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiops.errors import ConfigError
from aiops.forecasting import XGBForecaster
from aiops.forecasting.serving import horizon_in_steps, parse_horizon
from tests.conftest import log_forecaster
from tests.test_cli import run_cli
from tests.test_forecasting_xgb import SMALL, daily_load

MODEL = "test-load"


@pytest.fixture(scope="module")
def history() -> pd.Series:
    return daily_load(days=10, seed=3)


@pytest.fixture
def registered(aiops_home: Path, history: pd.Series) -> str:
    """URI of a small forecaster registered in the test's MLflow store."""
    forecaster = XGBForecaster(**SMALL).fit(history)
    version = log_forecaster(forecaster, history, MODEL)
    return f"models:/{MODEL}/{version}"


def write_history(history: pd.Series, path: Path, column: str = "request_rate") -> Path:
    frame = pd.DataFrame(
        {"timestamp": history.index.tz_convert("UTC"), column: history.to_numpy()}
    )
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("text", "steps"),
    [("5min", 1), ("30min", 6), ("1h", 12), ("7min", 2)],
)
def test_horizon_is_rounded_up_to_whole_steps(text: str, steps: int) -> None:
    step = pd.Timedelta("5min")
    assert horizon_in_steps(parse_horizon(text), step, limit=12) == steps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "is not a duration; expected e.g. 30min"),
        ("-1h", "must be positive"),
        ("2h", "is 24 steps of 0 days 00:05:00; the model forecasts at most 12"),
    ],
)
def test_bad_horizons_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        horizon_in_steps(parse_horizon(text), pd.Timedelta("5min"), limit=12)


def test_forecast_writes_the_table_after_the_history(
    registered: str, aiops_home: Path, history: pd.Series, tmp_path: Path
) -> None:
    source = write_history(history, tmp_path / "history.parquet")
    done = run_cli(
        aiops_home,
        "forecast",
        "--model",
        registered,
        "--input",
        str(source),
        "--output",
        str(tmp_path / "forecast.csv"),
        "--horizon",
        "30min",
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "forecast.csv", parse_dates=["timestamp"])
    assert list(table.columns) == ["timestamp", "mean", "q0.5", "q0.9", "q0.99"]
    last = history.index[-1].tz_convert("UTC").tz_localize(None)
    expected = pd.date_range(last + pd.Timedelta("5min"), periods=6, freq="5min")
    assert list(table["timestamp"]) == list(expected)
    quantiles = table[["q0.5", "q0.9", "q0.99"]].to_numpy()
    assert (np.diff(quantiles, axis=1) >= 0).all()
    # The served table equals the forecaster's own forecast from that history.
    direct = XGBForecaster(**SMALL).fit(history).predict(horizon=6, history=history)
    np.testing.assert_allclose(table["mean"], direct["mean"], rtol=1e-6)


def test_forecast_without_output_prints_csv(
    registered: str, aiops_home: Path, history: pd.Series, tmp_path: Path
) -> None:
    source = write_history(history, tmp_path / "history.csv", column="rps")
    done = run_cli(
        aiops_home,
        "forecast",
        "--model",
        registered,
        "--input",
        str(source),
        "--value-column",
        "rps",
        "--horizon",
        "1h",
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(io.StringIO(done.stdout))
    assert len(table) == 12 and table["mean"].notna().all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--horizon", "2h"], "the model forecasts at most 12 steps"),
        (["--horizon", "later"], "'later' is not a duration"),
        (["--value-column", "load"], "lacks columns ['load']; found ['timestamp'"),
        (["--horizon", "30"], "--horizon '30' has no unit; expected e.g. 30min"),
        (["--output", "SAME"], "is the input file; write the output elsewhere"),
        (["--input", "EMPTY"], "cannot be read as CSV"),
        (["--input", "WORDS"], "holds 1 non-numeric value(s), such as 'lots' in"),
    ],
)
def test_bad_forecast_requests_give_one_line(
    registered: str,
    aiops_home: Path,
    history: pd.Series,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    source = write_history(history, tmp_path / "history.csv")
    (tmp_path / "empty.csv").write_text("")
    words = pd.read_csv(source)
    words["request_rate"] = words["request_rate"].astype(object)
    words.loc[100, "request_rate"] = "lots"
    words.to_csv(tmp_path / "words.csv", index=False)
    places = {
        "SAME": source,
        "EMPTY": tmp_path / "empty.csv",
        "WORDS": tmp_path / "words.csv",
    }
    output = tmp_path / "forecast.csv"
    done = run_cli(
        aiops_home,
        *("forecast", "--model", registered, "--input", str(source)),
        *("--output", str(output)),
        *[str(places.get(a, a)) for a in args],
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not output.exists()
    assert not list(tmp_path.glob(".*partial"))
    assert source.read_text().startswith("timestamp,request_rate")


def test_a_repaired_history_is_reported(
    registered: str, aiops_home: Path, history: pd.Series, tmp_path: Path
) -> None:
    gappy = history.drop(history.index[-300:-180])  # ten hours missing
    source = write_history(gappy, tmp_path / "gappy.csv")
    done = run_cli(
        aiops_home, "forecast", "--model", registered, "--input", str(source)
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        "aiops: note: history repaired: 120 missing steps filled, longest gap 120 steps"
    ]
    assert len(pd.read_csv(io.StringIO(done.stdout))) == 12


def test_score_refuses_a_forecaster(
    registered: str, aiops_home: Path, history: pd.Series, tmp_path: Path
) -> None:
    source = write_history(history, tmp_path / "history.csv")
    done = run_cli(
        aiops_home,
        *("score", "--model", registered, "--input", str(source)),
        *("--output", str(tmp_path / "scores.csv")),
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"aiops: error: model {registered!r} is of type LoadForecasterModel, not an "
        "anomaly detector; score with models:/aiops-anomaly-lstm@champion, or "
        "forecast with `aiops forecast`"
    ]

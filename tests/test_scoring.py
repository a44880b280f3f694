"""Tests for aiops.scoring: chunked batch scoring of telemetry files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiops.detectors import LSTMForecastDetector, RollingZScoreDetector
from aiops.errors import DataError
from aiops.scoring import score_file, score_file_with_detector

COLUMNS = ["cpu", "latency_seconds", "errors_per_second"]


@pytest.fixture(scope="module")
def telemetry() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    steps = np.arange(1200)
    values = np.column_stack(
        [
            np.sin(2 * np.pi * steps / 50),
            0.2 + 0.05 * np.cos(2 * np.pi * steps / 50),
            0.1 * rng.standard_normal(steps.size),
        ]
    )
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=1200, freq="1min"))
    return frame


@pytest.fixture(scope="module")
def forecaster(telemetry: pd.DataFrame) -> LSTMForecastDetector:
    detector = LSTMForecastDetector(
        window=10, hidden_size=8, epochs=2, windows_per_epoch=128, seed=7
    )
    return detector.fit(telemetry[COLUMNS].iloc[:600])


def test_chunked_scores_equal_one_pass(
    forecaster: LSTMForecastDetector, telemetry: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    telemetry.to_csv(source, index=False)
    expected = forecaster.score_samples(telemetry[COLUMNS])

    for chunk_rows in (7, 500, 5000):
        target = tmp_path / f"out-{chunk_rows}.parquet"
        result = score_file_with_detector(forecaster, source, target, chunk_rows)
        out = pd.read_parquet(target)
        assert result.rows == len(out) == len(telemetry)
        np.testing.assert_array_equal(out["score"].to_numpy(), expected)
        assert out["score"].iloc[:10].eq(0.0).all()  # warm-up rows
        assert out["alarm"].sum() == result.alarms
        assert list(out.columns) == [
            "timestamp",
            "score",
            "alarm",
            "top_metrics",
            "missing_values",
            "gap_before",
            "warming_up",
        ]


def test_missing_values_and_gaps_are_filled_and_flagged(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=200, freq="1min"),
            "cpu": np.sin(np.arange(200) / 5.0),
            "latency_seconds": np.cos(np.arange(200) / 7.0),
            "errors_per_second": np.arange(200) % 3 * 1.0,
        }
    )
    detector = RollingZScoreDetector(window=5).fit(frame[COLUMNS])
    frame.loc[[0, 41, 42], "cpu"] = np.nan
    frame.loc[120, "latency_seconds"] = np.inf
    frame = frame.drop(index=[80, 81, 82]).reset_index(drop=True)  # a 4-min gap
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)

    result = score_file_with_detector(detector, source, tmp_path / "out.csv", 16)
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == result.rows == 197
    assert out.index[out["missing_values"] == 1].tolist() == [0, 41, 42, 117]
    assert out.index[out["gap_before"] == 1].tolist() == [80]
    assert result.flagged == 5
    assert np.isfinite(out["score"]).all()
    # the rolling window's first rows have nothing to compare with
    blamed = out["top_metrics"].fillna("")
    assert (blamed[:5] == "").all() and blamed[5:].str.count(",").eq(2).all()


def test_wrong_columns_and_paths_are_refused(
    forecaster: LSTMForecastDetector, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"cpu": [1.0], "latency": [2.0]}).to_csv(source, index=False)
    with pytest.raises(
        DataError,
        match=r"missing columns \['latency_seconds', 'errors_per_second'\].*"
        r"found \['cpu', 'latency'\]",
    ):
        score_file_with_detector(forecaster, source, tmp_path / "out.csv")
    with pytest.raises(DataError, match=r"expected \.csv or \.parquet"):
        score_file_with_detector(forecaster, source, tmp_path / "out.json")
    with pytest.raises(DataError, match="does not exist"):
        score_file_with_detector(forecaster, tmp_path / "nope.csv", source)
    assert not list(tmp_path.glob(".*partial"))


def test_registered_model_scores_a_file(
    aiops_home: Path,
    forecaster: LSTMForecastDetector,
    telemetry: pd.DataFrame,
    tmp_path: Path,
) -> None:
    import mlflow

    from aiops.pyfunc_models import AnomalyDetectorModel
    from aiops.registry import log_and_register
    from aiops.tracking import setup_mlflow

    experiment_id = setup_mlflow()
    with mlflow.start_run(experiment_id=experiment_id):
        version = log_and_register(
            forecaster,
            AnomalyDetectorModel(forecaster),
            "anomaly_detector.py",
            "test-detector",
            telemetry[COLUMNS].iloc[:50],
        )
    source = tmp_path / "in.parquet"
    telemetry.iloc[:300].to_parquet(source)

    # a detector is no forecaster: `aiops forecast` says so in one line
    from aiops.forecasting.serving import forecast_file

    with pytest.raises(DataError, match="is of type AnomalyDetectorModel, not a load"):
        forecast_file(f"models:/test-detector/{version}", source, None, "1h")

    result = score_file(f"models:/test-detector/{version}", source, tmp_path / "o.csv")
    out = pd.read_csv(tmp_path / "o.csv")
    assert result.rows == 300
    np.testing.assert_allclose(
        out["score"], forecaster.score_samples(telemetry[COLUMNS].iloc[:300])
    )


def test_warm_up_rows_name_no_metric_and_empty_files_are_refused(
    forecaster: LSTMForecastDetector, telemetry: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    telemetry.iloc[:100].to_csv(source, index=False)
    score_file_with_detector(forecaster, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    # the first `window` rows lack context: score 0, nothing to blame, flagged
    assert (out["score"][:10] == 0).all() and (out["top_metrics"][:10] == "").all()
    assert (out["top_metrics"][10:].str.count(",") == 2).all()
    assert out["warming_up"].tolist() == [1] * 10 + [0] * 90

    # a file appended to itself jumps back in time: the jump is flagged
    pd.concat([telemetry.iloc[:50], telemetry.iloc[:50]]).to_csv(source, index=False)
    score_file_with_detector(forecaster, source, tmp_path / "twice.csv")
    twice = pd.read_csv(tmp_path / "twice.csv")
    assert twice.index[twice["gap_before"] == 1].tolist() == [50]

    telemetry.iloc[:0].to_csv(source, index=False)
    with pytest.raises(DataError, match="holds no data rows; nothing to score"):
        score_file_with_detector(forecaster, source, tmp_path / "empty.csv")
    assert not (tmp_path / "empty.csv").exists()


def test_alarm_filter_cleans_the_scored_alarms(
    forecaster: LSTMForecastDetector, telemetry: pd.DataFrame, tmp_path: Path
) -> None:
    from aiops.thresholds import AlarmFilter

    source = tmp_path / "in.csv"
    noisy = telemetry.copy()
    noisy.loc[700:760, "cpu"] += 5.0  # one long episode
    noisy.to_csv(source, index=False)
    score_file_with_detector(
        forecaster, source, tmp_path / "out.csv", 100, alarm_filter=AlarmFilter(3)
    )
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[:4]) == ["timestamp", "score", "alarm", "raw_alarm"]
    expected = AlarmFilter(3).filter(out["raw_alarm"].to_numpy())
    assert out["alarm"].tolist() == expected.tolist()
    assert out["raw_alarm"][700:760].mean() > 0.5 and out["alarm"].sum() > 0

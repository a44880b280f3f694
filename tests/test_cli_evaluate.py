"""``aiops evaluate``: the benchmark commands on tiny corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiops.simulator import load_scenario, simulate, write_dataset
from tests.test_cli import run_cli
from tests.test_corpora import write_smd


def test_evaluate_detector_prints_the_table_and_writes_json(
    aiops_home: Path, tmp_path: Path
) -> None:
    corpus = write_smd(tmp_path / "smd", {"machine-1-2": 150})
    done = run_cli(
        aiops_home,
        "evaluate",
        "detector",
        "--benchmark",
        "smd",
        "--path",
        str(corpus),
        "--detectors",
        "rolling_zscore,random",
        "--json",
        str(tmp_path / "smd.json"),
        "--no-mlflow",
    )
    assert done.returncode == 0, done.stderr
    assert "| detector | f1 | event_f1 |" in done.stdout
    assert "| rolling_zscore |" in done.stdout and "| random |" in done.stdout
    saved = json.loads((tmp_path / "smd.json").read_text())
    assert saved["detectors"] == ["rolling_zscore", "random"]
    assert {row["series"] for row in saved["per_series"]} == {"machine-1-2"}
    # Ten metrics shifted by 20 sigma: the z-score finds them, chance does not.
    overall = saved["overall"]
    assert overall["rolling_zscore"]["auc_pr"] > overall["random"]["auc_pr"]
    assert not (aiops_home / "mlflow" / "mlflow.db").exists()


def test_evaluate_forecaster_on_a_simulated_dataset(
    aiops_home: Path, tmp_path: Path
) -> None:
    telemetry = simulate(load_scenario("production"), days=4, seed=2)
    dataset = write_dataset(telemetry, tmp_path / "sim4")
    done = run_cli(
        aiops_home,
        "evaluate",
        "forecaster",
        "--benchmark",
        "sim",
        "--path",
        str(dataset),
        "--models",
        "seasonal_naive",
        "--horizon",
        "30min",
        "--json",
        str(tmp_path / "sim.json"),
        "--no-mlflow",
    )
    assert done.returncode == 0, done.stderr
    assert "| sim_sim4 | 1min | 30min |" in done.stdout
    saved = json.loads((tmp_path / "sim.json").read_text())
    (series,) = saved["series"]
    naive = series["metrics"]["seasonal_naive"]
    assert series["horizon_steps"] == 30 and series["n_origins"] > 10
    # A daily-seasonal load: yesterday is a fair guess, well inside 2x its
    # own in-sample error.
    assert 0.3 < naive["mase"] < 2.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detector", "--benchmark", "kdd"], "unknown benchmark 'kdd'"),
        (
            ["detector", "--benchmark", "smd", "--detectors", "lof"],
            "unknown detector 'lof'",
        ),
        (
            ["detector", "--benchmark", "smd", "--path", "/nonexistent/smd"],
            "no SMD corpus at /nonexistent/smd",
        ),
        (["forecaster", "--benchmark", "m4"], "unknown benchmark 'm4'"),
        (["forecaster", "--max-series", "0"], "--max-series 0 is below 1"),
        (["forecaster", "--models", ""], "--models '' names nothing"),
        (["forecaster", "--horizon", "abc"], "--horizon 'abc' is not a duration"),
        (
            ["detector", "--json", "/nonexistent/x.json"],
            "--json /nonexistent/x.json: folder /nonexistent does not exist",
        ),
        (
            ["forecaster", "--benchmark", "load", "--models", "prophet"],
            "unknown forecaster(s) ['prophet']; choose from",
        ),
    ],
)
def test_bad_evaluate_requests_give_one_line(
    aiops_home: Path, args: list[str], message: str
) -> None:
    done = run_cli(aiops_home, "evaluate", *args, "--no-mlflow")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr

"""Tests for aiops.detector_benchmark on tiny corpora in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aiops.detector_benchmark import (
    attribution_hit_rates,
    make_detector,
    run_detector_benchmark,
)
from aiops.errors import ConfigError
from tests.test_corpora import write_skab, write_smd


def test_hit_rate_table() -> None:
    # Row 0 ranks columns 2, 0, 1; row 1 ranks 1, 2, 0; labelled columns {0, 2}.
    attribution = np.array([[0.5, 0.1, 0.9], [0.1, 0.9, 0.5]])
    rates = attribution_hit_rates(attribution, [(0, 2, [0, 2])], (100, 150))
    # @100 % (top 2): row 0 finds both, row 1 one of two -> (1 + 0.5) / 2
    # @150 % (top 3): everything found
    assert rates == pytest.approx({"hit_rate_100": 0.75, "hit_rate_150": 1.0})
    assert np.isnan(attribution_hit_rates(attribution, [])["hit_rate_100"])


def test_smd_benchmark_reports_every_metric_and_logs(
    tmp_path: Path, aiops_home: Path
) -> None:
    root = write_smd(tmp_path / "smd", {"machine-1-2": 150, "machine-1-3": 200})
    result = run_detector_benchmark(
        "smd",
        root,
        detectors=["rolling_zscore", "isolation_forest", "random"],
        max_series=2,
        json_path=tmp_path / "out" / "smd.json",
        n_jobs=1,
    )

    assert result.detectors == ["rolling_zscore", "isolation_forest", "random"]
    assert len(result.per_series) == 6
    forest = result.overall["isolation_forest"]
    # Ten metrics shifted by 20 sigma: easy for a point-wise model.
    assert forest["auc_pr"] > 0.9 and forest["vus_pr"] > 0.5
    assert forest["hit_rate_100"] > 0.9
    assert forest["auc_pr"] > result.overall["random"]["auc_pr"]
    assert "f1_point_adjusted" in forest and "f1" in forest
    saved = json.loads((tmp_path / "out" / "smd.json").read_text())
    assert saved["overall"]["random"]["auc_pr"] == pytest.approx(
        result.overall["random"]["auc_pr"]
    )
    table = result.markdown()
    assert table.splitlines()[0].startswith("| detector | f1 | event_f1 |")
    assert "| isolation_forest |" in table and "machine-9-9" in table

    import mlflow

    runs = mlflow.search_runs(
        experiment_names=["aiops"], filter_string="tags.benchmark = 'smd'"
    )
    assert len(runs) == 3
    forest_run = runs[runs["tags.mlflow.runName"] == "benchmark-smd-isolation_forest"]
    assert forest_run["metrics.machine-1-2/auc_pr"].iloc[0] > 0.9
    artifacts = mlflow.artifacts.list_artifacts(
        run_id=forest_run["run_id"].iloc[0], artifact_path="plots"
    )
    assert sorted(Path(a.path).name for a in artifacts) == [
        "machine-1-2.png",
        "machine-1-3.png",
    ]


def test_skab_benchmark_with_the_lstm(tmp_path: Path) -> None:
    root = write_skab(tmp_path / "skab", n_files=1)
    result = run_detector_benchmark(
        "skab", root, detectors=["lstm_forecast", "random"], mlflow=False
    )
    lstm = result.overall["lstm_forecast"]
    assert lstm["vus_pr"] > result.overall["random"]["vus_pr"]
    assert lstm["fit_s"] > 0
    assert "hit_rate_100" not in lstm  # SKAB has no interpretation labels


def test_unknown_detector_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown detector 'svm'"):
        run_detector_benchmark("skab", detectors=["svm"], mlflow=False)
    with pytest.raises(ConfigError, match="unknown detector 'svm'"):
        make_detector("svm", "smd", True)

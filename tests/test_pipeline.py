"""The main job end to end: `aiops run` on a short scenario, twice."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import aiops_command, home_environment

FAST = [
    "--days",
    "4",
    "--set",
    "lstm.epochs=2",
    "--set",
    "xgboost.n_estimators=60",
]


def run_main_job(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*aiops_command(), "run", *FAST, *extra],
        env={**os.environ, **home_environment(home)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def finished_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import make_home

    home = make_home(tmp_path_factory.mktemp("pipeline") / "home")
    first = run_main_job(home)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_main_job(home, "--set", "xgboost.n_estimators=5")
    assert second.returncode == 0, second.stderr[-3000:]
    (home / "first.out").write_text(first.stdout)
    return home


@pytest.fixture
def client(finished_home: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    uri = home_environment(finished_home)["MLFLOW_TRACKING_URI"]
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_summary_is_printed(finished_home: Path) -> None:
    out = (finished_home / "first.out").read_text()
    for heading in (
        "Anomaly detection",
        "Load forecast",
        "Scaling policies",
        "Model registry",
    ):
        assert heading in out
    assert "hpa" in out and "predictive" in out


def test_parent_run_has_one_child_per_step(client: MlflowClient) -> None:
    experiment = client.get_experiment_by_name("aiops")
    parents = client.search_runs(
        [experiment.experiment_id], "attributes.run_name = 'aiops-pipeline'"
    )
    assert len(parents) == 2
    parent = parents[-1]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["days"] == "4.0"
    children = client.search_runs(
        [experiment.experiment_id],
        f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    steps = sorted(run.info.run_name for run in children)
    assert steps == [
        "register-detector",
        "register-forecaster",
        "register-forecaster",
        "replay-policies",
        "simulate",
        "train-detector",
        "train-forecaster",
        "train-scaling-forecaster",
    ]
    artifacts = [
        item.path for item in client.list_artifacts(parent.info.run_id, "report")
    ]
    assert "report/report.md" in artifacts
    assert "report/replicas.png" in artifacts


@pytest.mark.parametrize(
    ("name", "metric", "lower_is_better"),
    [
        ("aiops-anomaly-lstm", "heldout_auc_pr", False),
        ("aiops-load-xgb", "heldout_mase", True),
        ("aiops-load-xgb-scaling", "heldout_mase", True),
    ],
)
def test_champion_moves_only_when_the_candidate_wins(
    client: MlflowClient, name: str, metric: str, lower_is_better: bool
) -> None:
    versions = {
        str(v.version): v for v in client.search_model_versions(f"name = '{name}'")
    }
    assert sorted(versions) == ["1", "2"]
    model = client.get_registered_model(name)
    assert str(model.aliases["challenger"]) == "2"
    first = float(versions["1"].tags[metric])
    second = float(versions["2"].tags[metric])
    second_wins = second < first if lower_is_better else second > first
    assert str(model.aliases["champion"]) == ("2" if second_wins else "1")
    signature = client.get_model_version(name, "1")
    assert signature.run_id


def test_forecaster_with_five_trees_loses_its_champion_bid(
    client: MlflowClient,
) -> None:
    model = client.get_registered_model("aiops-load-xgb")
    assert str(model.aliases["champion"]) == "1"

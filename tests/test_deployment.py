"""A real Prefect server and process worker on 127.0.0.1 run a deployment."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from aiops import orchestration
from tests.conftest import REPO, free_port, home_environment, make_home


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    home = make_home(tmp_path / "home")
    port = free_port()
    env = orchestration.server_environment(port)
    env.update(home_environment(home))
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    logs = tmp_path / "logs"
    logs.mkdir()

    server = orchestration.start_server(port, env, logs / "server.log")
    worker = None
    try:
        orchestration.wait_for_api(port)
        orchestration.deploy_all(env, root=REPO)
        worker = orchestration.start_worker(env, logs / "worker.log", root=REPO)
        yield env, home
    finally:
        if worker is not None:
            orchestration.stop(worker)
        orchestration.stop(server)


def test_deployment_run_completes_and_is_tracked(
    served: tuple[dict[str, str], Path],
) -> None:
    env, home = served
    done = subprocess.run(
        [
            orchestration.prefect_executable(),
            "deployment",
            "run",
            "aiops-pipeline/default",
            "-p",
            "days=3",
            "-p",
            'lstm={"epochs": 2}',
            "--watch",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "Completed" in done.stdout

    uri = env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("aiops")
    runs = client.search_runs(
        [experiment.experiment_id], "attributes.run_name = 'aiops-pipeline'"
    )
    assert len(runs) == 1
    assert runs[0].info.status == "FINISHED"
    assert runs[0].data.params["days"] == "3.0"
    assert runs[0].data.params["lstm.epochs"] == "2"
    assert (
        home / "data" / "generated" / "production-3d-seed7" / "manifest.json"
    ).exists()


def test_prefect_yaml_declares_every_flow() -> None:
    import yaml

    declared = yaml.safe_load((REPO / "pipelines" / "prefect.yaml").read_text())
    entrypoints = {d["entrypoint"].split(":")[1] for d in declared["deployments"]}
    assert entrypoints == {
        "aiops_pipeline",
        "simulate_flow",
        "train_detector_flow",
        "train_forecaster_flow",
        "replay_flow",
        "evaluate_nab_flow",
        "evaluate_policy_flow",
    }
    assert str(REPO) not in (REPO / "pipelines" / "prefect.yaml").read_text()
    assert (
        os.sep + "work" + os.sep
        not in (REPO / "pipelines" / "prefect.yaml").read_text()
    )

"""`aiops ui` serves the MLflow UI and REST API over the local store."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow

from aiops import orchestration
from aiops.tracking import setup_mlflow
from tests.conftest import aiops_command, free_port, home_environment


def post_json(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_ui_serves_runs_from_the_local_store(aiops_home: Path) -> None:
    experiment_id = setup_mlflow()
    with mlflow.start_run(run_name="ui-probe", experiment_id=experiment_id):
        mlflow.log_metric("answer", 42.0)

    port = free_port()
    process = subprocess.Popen(
        [*aiops_command(), "ui", "--port", str(port)],
        env={**os.environ, **home_environment(aiops_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search"
        deadline = time.monotonic() + 90
        found = None
        while time.monotonic() < deadline and found is None:
            try:
                found = post_json(url, {"experiment_ids": [experiment_id]})
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert found is not None, "MLflow UI did not answer within 90 s"
        runs = found["runs"]
        assert isinstance(runs, list) and len(runs) == 1
        run = runs[0]
        assert run["info"]["run_name"] == "ui-probe"
        assert run["data"]["metrics"][0]["value"] == 42.0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.status == 200
    finally:
        orchestration.stop(process)

"""Shared fixtures: an isolated project home, offline switches, a seed."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

# Offline and quiet, whoever runs the tests. Set before anything imports
# Prefect or MLflow, which read their settings at import time.
os.environ.update(
    {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "GIT_PYTHON_REFRESH": "quiet",
    }
)
# One Prefect home for the whole session, so the temporary local API starts
# from a migrated database once rather than for every flow.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="aiops-prefect-"))
os.environ.setdefault("AIOPS_DATASETS", str(REPO.parent / "shared" / "datasets"))


@pytest.fixture
def seed() -> int:
    return 7


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = Path(os.environ["AIOPS_DATASETS"])
    if not path.is_dir():
        pytest.skip(f"real datasets not found at {path} (set AIOPS_DATASETS)")
    return path


def make_home(root: Path) -> Path:
    """A project home with the committed configuration and nothing else."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "models", root / "models", dirs_exist_ok=True)
    for folder in ("scenarios", "policies"):
        shutil.copytree(
            REPO / "data" / folder, root / "data" / folder, dirs_exist_ok=True
        )
    return root


def home_environment(home: Path) -> dict[str, str]:
    return {
        "AIOPS_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
    }


@pytest.fixture
def aiops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project home in a temporary folder, active for this test."""
    home = make_home(tmp_path / "home")
    for key, value in home_environment(home).items():
        monkeypatch.setenv(key, value)
    yield home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aiops_command() -> list[str]:
    """The installed ``aiops`` command of the interpreter running the tests."""
    script = Path(sys.executable).with_name("aiops")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aiops.cli"]


def log_forecaster(forecaster: Any, history: Any, name: str) -> str:
    """Register a fitted load forecaster under ``name`` in the active MLflow
    store, with the tail of ``history`` as its input example; the version."""
    import mlflow
    import pandas as pd

    from aiops.pyfunc_models import LoadForecasterModel
    from aiops.registry import log_and_register
    from aiops.tracking import setup_mlflow

    tail = history.iloc[-(forecaster.min_history_steps_ + 12) :]
    example = pd.DataFrame(
        {
            "timestamp": tail.index.tz_convert("UTC").tz_localize(None),
            "request_rate": tail.to_numpy(),
        }
    )
    with mlflow.start_run(experiment_id=setup_mlflow()):
        return log_and_register(
            forecaster,
            LoadForecasterModel(forecaster),
            "load_forecaster.py",
            name,
            example,
        )

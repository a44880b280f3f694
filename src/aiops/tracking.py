"""MLflow tracking on the embedded default, and the offline switches.

By default runs, the model registry and artifacts all live under ``mlflow/`` in
the project home: ``sqlite:///mlflow/mlflow.db`` for runs and the registry and
``mlflow/artifacts`` for files. ``MLFLOW_TRACKING_URI`` points the workbench at
a real server (or PostgreSQL) instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiops.config import project_home

EXPERIMENT_NAME = "aiops"

# Switches that keep MLflow and Prefect offline and quiet. They are defaults:
# a value already in the environment wins.
OFFLINE_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "GIT_PYTHON_REFRESH": "quiet",
    # MLflow's INFO lines (database migrations, schema checks) are noise on a
    # terminal; its warnings still show.
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # Route the workbench's own loggers through Prefect's handlers, so that
    # step logs show in the terminal and in the Prefect UI.
    "PREFECT_LOGGING_EXTRA_LOGGERS": "aiops",
}


def configure_environment() -> None:
    """Set the offline switches and the project-local Prefect home.

    Must run before Prefect is imported, since Prefect reads its settings then.
    Entry points (the command line, the deployment scripts) call it; library
    code does not.
    """
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(project_home() / ".prefect"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", default_tracking_uri())
    # Prefect attaches its handlers to the workbench's loggers (see above) but
    # leaves their level alone; INFO is what a user of the command line wants.
    logging.getLogger("aiops").setLevel(logging.INFO)


def mlflow_dir() -> Path:
    return project_home() / "mlflow"


def default_tracking_uri() -> str:
    return f"sqlite:///{mlflow_dir() / 'mlflow.db'}"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def artifact_root() -> str:
    """Artifact location for experiments created on the embedded default."""
    return (mlflow_dir() / "artifacts").as_uri()


def setup_mlflow(experiment: str = EXPERIMENT_NAME) -> str:
    """Point MLflow at the configured store and return the experiment id.

    The experiment is created with an explicit artifact location, otherwise
    MLflow would put artifacts under the current directory.
    """
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    location = artifact_root() if uri.startswith("sqlite:") else None
    return str(mlflow.create_experiment(experiment, artifact_location=location))


@contextmanager
def step_run(
    name: str, parent_run_id: str | None = None, tags: Mapping[str, str] | None = None
) -> Iterator[Any]:
    """Start an MLflow run for one pipeline step, as a child of ``parent_run_id``.

    The parent is passed explicitly because Prefect may run tasks in other
    threads, where MLflow's active-run stack is empty.
    """
    import mlflow

    experiment_id = setup_mlflow()
    with mlflow.start_run(
        run_name=name,
        experiment_id=experiment_id,
        nested=parent_run_id is not None,
        parent_run_id=parent_run_id,
        tags=dict(tags or {}),
    ) as run:
        yield run


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested parameters into MLflow's ``key: str`` form."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:6000]
    return flat


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

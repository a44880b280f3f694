"""The MLflow Model Registry: packaging, registration and the champion alias.

Each newly registered version gets the alias ``challenger``. It takes the alias
``champion`` only if it beats the current champion on the held-out metric,
where the champion is re-scored on the same held-out data when it can be, so
that both numbers come from one test set.
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from aiops.errors import AiopsError
from aiops.pyfunc_models import (
    ESTIMATOR_ARTIFACT,
    MODEL_CODE,
    AnomalyDetectorModel,
    LoadForecasterModel,
    save_estimator,
)

logger = logging.getLogger(__name__)

DETECTOR_MODEL = "aiops-anomaly-lstm"


def detector_model_name(profile: str) -> str:
    """Registered name of the detector for a system profile.

    Each profile has its own metrics, so its detector is a model of its own:
    production's is ``aiops-anomaly-lstm``, the others add the profile name
    (``aiops-anomaly-lstm-experimental``), and a champion is only ever
    compared with candidates for the same system.
    """
    return DETECTOR_MODEL if profile == "production" else f"{DETECTOR_MODEL}-{profile}"


FORECASTER_MODEL = "aiops-load-xgb"
# trained for the lead a scaling decision needs (start-up delay plus one
# decision interval) and no further: the predictive scaling policies use it
SCALING_FORECASTER_MODEL = "aiops-load-xgb-scaling"
# the LSTM detector of canary and baseline cohort samples (detector judges)
CANARY_DETECTOR_MODEL = "aiops-canary-lstm"
CHAMPION = "champion"
CHALLENGER = "challenger"

# Packages a served model needs; pinned to what is installed so that MLflow does
# not spend its time inferring them.
_REQUIREMENT_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "torch",
    "xgboost-cpu",
    "cloudpickle",
)


def pip_requirements() -> list[str]:
    pins = []
    for package in _REQUIREMENT_PACKAGES:
        try:
            version = metadata.version(package).split("+")[0]
        except metadata.PackageNotFoundError:
            continue
        pins.append(f"{package}=={version}")
    return pins


@dataclass(frozen=True)
class RegistrationResult:
    """What happened when a candidate was registered."""

    name: str
    version: str
    metric: str
    candidate_value: float
    champion_version: str | None
    champion_value: float | None
    promoted: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "metric": self.metric,
            "candidate": self.candidate_value,
            "champion_version": self.champion_version,
            "champion": self.champion_value,
            "promoted": self.promoted,
        }


def log_and_register(
    estimator: Any,
    served: Any,
    code_file: str,
    name: str,
    input_example: pd.DataFrame,
    tags: dict[str, str] | None = None,
) -> str:
    """Log a fitted estimator as a model from code in the active run, register
    it under ``name`` and return the new version.

    ``served`` is the pyfunc wrapper holding ``estimator`` in memory; it gives
    the output example from which the signature is inferred.
    """
    import mlflow
    from mlflow.models import infer_signature

    with warnings.catch_warnings():
        # The hint is about integer columns that could later hold NaN; the
        # workbench's inputs and outputs are float columns throughout.
        warnings.filterwarnings(
            "ignore", message=".*integer column", category=UserWarning
        )
        signature = infer_signature(input_example, served.predict(None, input_example))
    with tempfile.TemporaryDirectory() as folder:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE / code_file),
            artifacts={ESTIMATOR_ARTIFACT: save_estimator(estimator, Path(folder))},
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements(),
            registered_model_name=name,
            tags=tags,
        )
    version = info.registered_model_version
    if version is None:
        raise RuntimeError(f"MLflow did not return a version for {name}")
    return str(version)


def promote_if_better(
    name: str,
    version: str,
    metric: str,
    candidate_value: float,
    greater_is_better: bool,
    score_champion: Callable[[Any], float] | None = None,
) -> RegistrationResult:
    """Move ``challenger`` to ``version``; move ``champion`` only if it wins.

    ``score_champion`` re-scores the current champion (loaded as a pyfunc
    model) on the candidate's held-out data. If it cannot (the champion was
    trained on other columns, say), the metric recorded on the champion's
    version is used and the reason is logged.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    client.set_model_version_tag(name, version, metric, f"{candidate_value:.6g}")
    client.set_registered_model_alias(name, CHALLENGER, version)

    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None

    champion_value: float | None = None
    if champion is not None and score_champion is not None:
        try:
            model = load_model(f"models:/{name}@{CHAMPION}")
            champion_value = float(score_champion(model))
        except Exception as error:  # the champion may not fit this data at all
            logger.warning("could not re-score champion of %s: %s", name, error)
    if champion is not None and champion_value is None:
        recorded = champion.tags.get(metric)
        champion_value = float(recorded) if recorded is not None else None

    if champion_value is None or math.isnan(champion_value):
        promoted = True
    elif greater_is_better:
        promoted = candidate_value > champion_value
    else:
        promoted = candidate_value < champion_value
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)

    result = RegistrationResult(
        name=name,
        version=version,
        metric=metric,
        candidate_value=candidate_value,
        champion_version=None if champion is None else str(champion.version),
        champion_value=champion_value,
        promoted=promoted,
    )
    logger.info("registry %s", result.as_dict())
    return result


def load_model(uri: str) -> Any:
    """Load a pyfunc model, turning a missing model or alias into a clear error."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from aiops.tracking import setup_mlflow

    setup_mlflow()
    try:
        return mlflow.pyfunc.load_model(uri)
    except MlflowException as error:
        raise AiopsError(
            f"cannot load model {uri!r}: {_first_line(str(error))}; "
            "list registered models and aliases with `aiops models` "
            "or train one with `aiops run`"
        ) from None


def describe_models() -> list[dict[str, Any]]:
    """Registered models with their versions and aliases, for the CLI."""
    from mlflow import MlflowClient

    from aiops.tracking import setup_mlflow

    setup_mlflow()
    client = MlflowClient()
    rows = []
    for model in client.search_registered_models():
        aliases = {alias: version for alias, version in model.aliases.items()}
        for version in client.search_model_versions(f"name = '{model.name}'"):
            rows.append(
                {
                    "name": model.name,
                    "version": str(version.version),
                    "aliases": ",".join(
                        a for a, v in aliases.items() if str(v) == str(version.version)
                    ),
                    "run_id": version.run_id,
                    "tags": dict(version.tags),
                }
            )
    return rows


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def register_detector(outcome: Any, parent_run_id: str | None) -> RegistrationResult:
    """Register a trained detector; champion if its held-out AUC-PR is higher."""
    import mlflow

    from aiops.evaluation import auc_pr
    from aiops.tracking import step_run

    name = detector_model_name(outcome.profile)
    frame = outcome.test_frame
    labels = outcome.test_labels
    example = frame.iloc[:200].reset_index(drop=True)
    with step_run("register-detector", parent_run_id, {"aiops.step": "register"}):
        version = log_and_register(
            outcome.detector,
            AnomalyDetectorModel(outcome.detector),
            "anomaly_detector.py",
            name,
            input_example=example,
            tags={"training_run_id": outcome.run_id},
        )

        def score_champion(champion: Any) -> float:
            scores = champion.predict(frame.reset_index(drop=True))["score"]
            return float(auc_pr(labels, scores.to_numpy()))

        result = promote_if_better(
            name,
            version,
            metric="heldout_auc_pr",
            candidate_value=float(outcome.metrics["auc_pr"]),
            greater_is_better=True,
            score_champion=score_champion,
        )
        mlflow.log_params({"model": name, "version": version})
        mlflow.log_metric("promoted", float(result.promoted))
    return result


def register_forecaster(
    outcome: Any, parent_run_id: str | None, name: str = FORECASTER_MODEL
) -> RegistrationResult:
    """Register a trained forecaster under ``name``; champion if its held-out
    MASE is lower."""
    import mlflow

    from aiops.steps import _forecast_metrics, _season_steps, split_index
    from aiops.tracking import step_run

    history = outcome.history
    cut = split_index(len(history))
    tail = history.iloc[-(outcome.forecaster.min_history_steps_ + 60) :]
    example = pd.DataFrame(
        {
            "timestamp": tail.index.tz_convert("UTC").tz_localize(None),
            "request_rate": tail.to_numpy(dtype="float64"),
        }
    )
    with step_run("register-forecaster", parent_run_id, {"aiops.step": "register"}):
        version = log_and_register(
            outcome.forecaster,
            LoadForecasterModel(outcome.forecaster),
            "load_forecaster.py",
            name,
            input_example=example,
            tags={"training_run_id": outcome.run_id},
        )

        def score_champion(champion: Any) -> float:
            forecaster = champion.unwrap_python_model().forecaster
            metrics = _forecast_metrics(
                forecaster,
                history,
                cut,
                outcome.lead_steps,
                _season_steps(history.index),
            )
            return metrics["mase"]

        result = promote_if_better(
            name,
            version,
            metric="heldout_mase",
            candidate_value=float(outcome.metrics["mase"]),
            greater_is_better=False,
            score_champion=score_champion,
        )
        mlflow.log_params({"model": name, "version": version})
        mlflow.log_metric("promoted", float(result.promoted))
    return result


def register_canary_detector(
    detector: Any, judged: pd.DataFrame, parent_run_id: str | None
) -> RegistrationResult:
    """Register the cohort detector of the detector-based canary judges;
    champion if it singles out bad canaries better (held-out AUC-PR on the
    judged windows' cohort samples)."""
    import mlflow

    from aiops.canary_loop import cohort_rows, held_out_auc_pr
    from aiops.tracking import step_run

    example = cohort_rows(judged).iloc[:50]
    with step_run(
        "register-canary-detector", parent_run_id, {"aiops.step": "register"}
    ):
        version = log_and_register(
            detector,
            AnomalyDetectorModel(detector),
            "anomaly_detector.py",
            CANARY_DETECTOR_MODEL,
            input_example=example,
        )
        candidate = held_out_auc_pr(detector, judged)
        mlflow.log_metric("heldout_auc_pr", candidate)

        def score_champion(champion: Any) -> float:
            return held_out_auc_pr(champion.unwrap_python_model().detector, judged)

        result = promote_if_better(
            CANARY_DETECTOR_MODEL,
            version,
            metric="heldout_auc_pr",
            candidate_value=candidate,
            greater_is_better=True,
            score_champion=score_champion,
        )
        mlflow.log_params({"model": CANARY_DETECTOR_MODEL, "version": version})
    return result

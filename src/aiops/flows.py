"""Prefect flows: the main job and one flow per step.

Flows only wire tasks together; the work lives in :mod:`aiops.steps` and its
neighbours. Every flow runs on Prefect's local API when no server is
configured, and as a deployment declared in ``pipelines/prefect.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Task, flow, task
from prefect.cache_policies import NO_CACHE

from aiops import real_data, registry, replay, report, steps
from aiops.config import project_home
from aiops.tracking import flatten_params, setup_mlflow

P = ParamSpec("P")
R = TypeVar("R")


# Results are models and frames held in memory: hashing them for Prefect's
# cache would cost time and buy nothing, so caching is off for every task.
def _step_task(function: Callable[P, R], name: str) -> Task[P, R]:
    return task(name=name, cache_policy=NO_CACHE)(function)


simulate_telemetry = _step_task(steps.simulate_telemetry, "simulate-telemetry")
train_detector = _step_task(steps.train_detector, "train-detector")
train_forecaster = _step_task(steps.train_forecaster, "train-forecaster")
register_detector = _step_task(registry.register_detector, "register-detector")
register_forecaster = _step_task(registry.register_forecaster, "register-forecaster")
replay_policies = _step_task(replay.replay_policies, "replay-policies")
evaluate_on_nab = _step_task(real_data.evaluate_on_nab, "evaluate-on-nab")


@task(name="write-report", cache_policy=NO_CACHE)
def write_report(
    parent_run_id: str,
    dataset: Path,
    detector: steps.DetectorOutcome,
    forecaster: steps.ForecasterOutcome,
    policies: dict[str, replay.PolicyRun],
    registered: list[dict[str, Any]],
    nab: dict[str, Any] | None,
) -> Path:
    """Write the Markdown report with plots and log it on the parent run."""
    from mlflow import MlflowClient

    folder = project_home() / "reports" / parent_run_id
    page = report.write_report(
        folder, dataset, detector, forecaster, policies, registered, nab
    )
    MlflowClient().log_artifacts(parent_run_id, str(folder), artifact_path="report")
    return page


@flow(name="aiops-pipeline")
def aiops_pipeline(
    profile: str = "production",
    days: float = 14.0,
    seed: int = 7,
    real: bool = False,
    lstm: dict[str, Any] | None = None,
    xgboost: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Simulate, train both models, register them, replay scaling policies,
    and report: the whole workbench on one scenario."""
    import mlflow

    from aiops.steps import check_pipeline_days

    check_pipeline_days(days, what="days")
    experiment_id = setup_mlflow()
    with mlflow.start_run(
        run_name="aiops-pipeline", experiment_id=experiment_id
    ) as parent:
        parent_id = parent.info.run_id
        mlflow.log_params(
            flatten_params(
                {
                    "profile": profile,
                    "days": days,
                    "seed": seed,
                    "real": real,
                    "lstm": lstm or {},
                    "xgboost": xgboost or {},
                }
            )
        )
        dataset = simulate_telemetry(profile, days, seed, parent_run_id=parent_id)
        detector = train_detector(dataset, lstm, parent_run_id=parent_id)
        forecaster = train_forecaster(dataset, xgboost, parent_run_id=parent_id)
        scaling = train_forecaster(
            dataset, xgboost, parent_run_id=parent_id, for_scaling=True
        )
        registered = [
            register_detector(detector, parent_id).as_dict(),
            register_forecaster(forecaster, parent_id).as_dict(),
            register_forecaster(
                scaling, parent_id, registry.SCALING_FORECASTER_MODEL
            ).as_dict(),
        ]
        policies = replay_policies(
            dataset,
            scaling.forecaster,
            scaling.lead_steps,
            parent_run_id=parent_id,
        )
        nab = evaluate_on_nab(lstm, parent_run_id=parent_id) if real else None
        page = write_report(
            parent_id, dataset, detector, forecaster, policies, registered, nab
        )
        mlflow.log_metrics(
            {f"detector_{k}": v for k, v in steps._finite(detector.metrics).items()}
        )
        mlflow.log_metrics(
            {f"forecaster_{k}": v for k, v in steps._finite(forecaster.metrics).items()}
        )

    summary = steps.PipelineSummary(
        dataset=str(dataset),
        dataset_summary=_dataset_summary(dataset),
        detector=detector.metrics,
        forecaster=forecaster.metrics,
        registry=registered,
        policies={name: run.summary for name, run in policies.items()},
        nab=nab or {},
        report=str(page),
        parent_run_id=parent_id,
    )
    return asdict(summary)


def _dataset_summary(dataset: Path) -> dict[str, Any]:
    from aiops.simulator import load_dataset

    telemetry = load_dataset(dataset)
    return {
        "steps": len(telemetry.labels),
        "series": telemetry.wide().shape[1],
        "incidents": len(telemetry.incidents),
        "kinds": sorted(set(telemetry.incidents["kind"])),
    }


@flow(name="aiops-simulate")
def simulate_flow(
    profile: str = "production", days: float = 14.0, seed: int = 7
) -> str:
    """Simulate the system model and write a labelled dataset."""
    return str(simulate_telemetry(profile, days, seed))


@flow(name="aiops-train-detector")
def train_detector_flow(
    dataset: str | None = None, lstm: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train, evaluate and register the LSTM detector on a simulated dataset
    (the latest one when none is given)."""
    outcome = train_detector(steps.resolve_dataset(dataset), lstm)
    return {
        "metrics": outcome.metrics,
        "registry": register_detector(outcome, None).as_dict(),
    }


@flow(name="aiops-train-forecaster")
def train_forecaster_flow(
    dataset: str | None = None,
    xgboost: dict[str, Any] | None = None,
    for_scaling: bool = False,
) -> dict[str, Any]:
    """Train, evaluate and register the XGBoost load forecaster (or, with
    ``for_scaling``, the one the predictive scaling policies use)."""
    outcome = train_forecaster(
        steps.resolve_dataset(dataset), xgboost, for_scaling=for_scaling
    )
    name = (
        registry.SCALING_FORECASTER_MODEL if for_scaling else registry.FORECASTER_MODEL
    )
    return {
        "metrics": outcome.metrics,
        "registry": register_forecaster(outcome, None, name).as_dict(),
    }


@flow(name="aiops-replay")
def replay_flow(
    dataset: str | None = None,
    model: str = "models:/aiops-load-xgb-scaling@champion",
) -> dict[str, dict[str, float]]:
    """Replay a dataset's scenario under the scaling policies, the predictive
    ones driven by a registered forecaster."""
    path = steps.resolve_dataset(dataset)
    forecaster = registry.load_model(model).unwrap_python_model().forecaster
    runs = replay_policies(path, forecaster, steps.lead_steps_for(path))
    return {name: run.summary for name, run in runs.items()}


@flow(name="aiops-evaluate-policy")
def evaluate_policy_flow(
    policies: list[str] | None = None,
    suite: str = "default",
    model: str = "models:/aiops-load-xgb-scaling@champion",
    scenarios: list[str] | None = None,
) -> dict[str, Any]:
    """Judge scaling and canary policies in closed loop on a scenario suite;
    one MLflow run per policy."""
    from aiops.policy_benchmark import run_policy_benchmark

    result = run_policy_benchmark(
        policies, suite=suite, model_uri=model, scenarios=scenarios
    )
    return {
        "targets": result.targets(),
        "scaling": result.scaling_totals(),
        "canary": result.canary_totals(),
        "run_ids": result.run_ids,
    }


@flow(name="aiops-evaluate-nab")
def evaluate_nab_flow(lstm: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train and evaluate the detector on NAB's real AWS and known-cause series."""
    return evaluate_on_nab(lstm)

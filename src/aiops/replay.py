"""Replay a scenario under several scaling policies and compare them.

The same scenario, seed, workload and faults are simulated once per policy, so
the only difference between the runs is who decides the replica counts. The
policies are the documents in ``data/policies`` and they run on the engine
``aiops evaluate policy`` uses (:mod:`aiops.closed_loop`); the comparison
covers the held-out part of the run only, which the forecaster has not seen.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from aiops.tracking import step_run

logger = logging.getLogger(__name__)

REPLAYED = ("hpa", "keda", "predictive", "combined")


@dataclass
class PolicyRun:
    name: str
    summary: dict[str, float]
    replicas: pd.Series


def replay_policies(
    dataset: Path,
    forecaster: Any,
    lead_steps: int,
    policies: tuple[str, ...] = REPLAYED,
    parent_run_id: str | None = None,
) -> dict[str, PolicyRun]:
    """Replay the dataset's scenario under each policy document in
    ``policies`` (names in ``data/policies``)."""
    import mlflow

    from aiops.closed_loop import forecast_load, run_policy
    from aiops.policies import build_policy, forecast_quantile, load_policy
    from aiops.simulator import load_dataset
    from aiops.steps import split_index
    from aiops.suite import SuiteScenario

    recorded = load_dataset(dataset)
    rate = recorded.request_rate()
    held_out_start = rate.index[split_index(len(rate))]
    scenario = SuiteScenario(
        name=recorded.scenario.name,
        description=recorded.scenario.description,
        spec=recorded.scenario,
        seed=recorded.seed,
        days=recorded.days,
        judged_from=held_out_start.to_pydatetime(),
    )
    documents = {name: load_policy(name) for name in policies}

    runs: dict[str, PolicyRun] = {}
    with step_run("replay-policies", parent_run_id, {"aiops.step": "replay"}):
        mlflow.log_params(
            {
                "dataset": dataset.name,
                "lead_steps": lead_steps,
                "policies": ",".join(policies),
                "held_out_start": held_out_start.isoformat(),
            }
        )
        forecasts: dict[float, Any] = {}
        for name, document in documents.items():
            quantile = forecast_quantile(document)
            if quantile is not None and quantile not in forecasts:
                forecasts[quantile] = forecast_load(
                    forecaster, rate, lead_steps, quantile
                )
            policy = build_policy(
                document,
                forecast=None if quantile is None else forecasts[quantile],
                lead_steps=lead_steps,
            )
            outcome = run_policy(scenario, name, policy)
            runs[name] = PolicyRun(
                name=name, summary=dict(outcome.metrics), replicas=outcome.replicas
            )
            mlflow.log_metrics(
                {
                    f"{name}_{key}": value
                    for key, value in outcome.metrics.items()
                    if math.isfinite(value)
                }
            )
            logger.info(
                "policy %s: %.1f replica-hours, %.0f SLO-violation minutes",
                name,
                outcome.metrics["replica_hours"],
                outcome.metrics["slo_violation_minutes"],
            )
    return runs

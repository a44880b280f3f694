"""Replay a scenario under several scaling policies and compare them.

The same scenario, seed, workload and faults are simulated once per policy, so
the only difference between the runs is who decides the replica counts. The
comparison covers the held-out part of the run only: the forecaster has seen
the first part during training.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiops.tracking import step_run

logger = logging.getLogger(__name__)


@dataclass
class PolicyRun:
    name: str
    summary: dict[str, float]
    replicas: pd.Series


def replay_policies(
    dataset: Path,
    forecaster: Any,
    lead_steps: int,
    quantile: float = 0.9,
    parent_run_id: str | None = None,
) -> dict[str, PolicyRun]:
    """Replay the dataset's scenario under the reactive HPA, a KEDA-style
    scaler and predictive scaling."""
    import mlflow

    from aiops.policies import KedaScaler
    from aiops.scaling import (
        HorizontalPodAutoscaler,
        PredictiveScaling,
        ScalingPolicy,
    )
    from aiops.simulator import load_dataset, simulate
    from aiops.steps import split_index

    recorded = load_dataset(dataset)
    scenario, seed, days = recorded.scenario, recorded.seed, recorded.days
    rate = recorded.request_rate()
    held_out_start = rate.index[split_index(len(rate))]

    # Load is exogenous in the simulator (replicas do not change demand), so
    # forecasting every origin at once from the observed rate is the same as
    # forecasting online, one decision at a time, without ever looking ahead.
    forecast = forecaster.forecast_at_lead(rate, lead_steps, quantile=quantile)

    policies: dict[str, ScalingPolicy] = {
        "hpa": HorizontalPodAutoscaler(),
        "keda": KedaScaler(),
        "predictive": PredictiveScaling(
            forecast=forecast.to_numpy(dtype="float64"),
            lead_steps=lead_steps,
            fallback=HorizontalPodAutoscaler(),
        ),
    }
    runs: dict[str, PolicyRun] = {}
    with step_run("replay-policies", parent_run_id, {"aiops.step": "replay"}):
        mlflow.log_params(
            {
                "dataset": dataset.name,
                "lead_steps": lead_steps,
                "forecast_quantile": quantile,
                "held_out_start": held_out_start.isoformat(),
            }
        )
        for name, policy in policies.items():
            telemetry = simulate(scenario, days=days, seed=seed, policy=policy)
            summary = telemetry.summary(start=held_out_start)
            runs[name] = PolicyRun(
                name=name,
                summary={key: float(value) for key, value in _numeric(summary)},
                replicas=telemetry.replicas(),
            )
            mlflow.log_metrics(
                {
                    f"{name}_{key}": value
                    for key, value in runs[name].summary.items()
                    if math.isfinite(value)
                }
            )
            logger.info(
                "policy %s: %.1f replica-hours, %.0f SLO-violation minutes",
                name,
                runs[name].summary.get("replica_hours", math.nan),
                runs[name].summary.get("slo_violation_minutes", math.nan),
            )
    return runs


def _numeric(summary: dict[str, Any]) -> list[tuple[str, float]]:
    return [
        (key, float(value))
        for key, value in summary.items()
        if isinstance(value, int | float | np.number) and not isinstance(value, bool)
    ]

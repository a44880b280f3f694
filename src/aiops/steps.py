"""The steps of the main job, as plain functions.

Each step does one thing, logs it to its own MLflow run (a child of the
pipeline's run when one is given) and returns plain data for the next step.
The Prefect flows in :mod:`aiops.flows` only wire these together, so every step
can also be called and tested without an orchestrator.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiops.config import datasets_root
from aiops.errors import ConfigError, DataError
from aiops.tracking import flatten_params, step_run

logger = logging.getLogger(__name__)

# The first part of every simulated run is kept free of faults and serves as
# the normal period that models learn from; the rest is held out for testing.
TRAIN_FRACTION = 0.5
# The shortest run the main job and the train commands accept, in days.
MIN_PIPELINE_DAYS = 3.0


@dataclass
class DetectorOutcome:
    detector: Any
    metrics: dict[str, float]
    test_frame: pd.DataFrame
    test_labels: np.ndarray
    test_scores: np.ndarray
    run_id: str
    profile: str = "production"


@dataclass
class ForecasterOutcome:
    forecaster: Any
    metrics: dict[str, float]
    lead_steps: int
    history: pd.Series
    run_id: str


@dataclass
class PipelineSummary:
    dataset: str
    dataset_summary: dict[str, Any]
    detector: dict[str, float]
    forecaster: dict[str, float]
    registry: list[dict[str, Any]]
    policies: dict[str, dict[str, float]]
    nab: dict[str, Any] = field(default_factory=dict)
    report: str = ""
    parent_run_id: str = ""


def dataset_name(profile: str, days: float, seed: int) -> str:
    return f"{profile}-{days:g}d-seed{seed}"


def latest_dataset() -> Path:
    """The most recently written simulated dataset under ``data/generated``."""
    root = datasets_root()
    manifests = sorted(
        root.glob("*/manifest.json"), key=lambda path: path.stat().st_mtime
    )
    if not manifests:
        raise DataError(
            f"no simulated dataset under {root}; create one with "
            "`aiops simulate` or `aiops run`"
        )
    return manifests[-1].parent


def resolve_dataset(path: str | Path | None) -> Path:
    if path is None or str(path) == "":
        return latest_dataset()
    folder = Path(path)
    if not (folder / "manifest.json").is_file():
        raise DataError(
            f"dataset folder {folder} has no manifest.json; pass a folder written "
            "by `aiops simulate` (or omit it to use the latest)"
        )
    return folder


def check_pipeline_days(days: float, what: str = "--days") -> None:
    """Refuse a run too short to train and evaluate on, before any work."""
    if days < MIN_PIPELINE_DAYS:
        raise ConfigError(
            f"{what} covers {days:g} days; training needs at least "
            f"{MIN_PIPELINE_DAYS:g} (half the run trains, half is held out, and "
            "the forecaster's daily baseline needs over a day of training)"
        )


def check_training_length(
    n_steps: int,
    lstm: dict[str, Any] | None = None,
    xgboost: dict[str, Any] | None = None,
    what: str = "the run",
) -> None:
    """Refuse model settings that need more training steps than a run of
    ``n_steps`` gives (half of it trains), before any work starts."""
    from aiops.config import load_model_config

    n_train = split_index(n_steps)
    detector = load_model_config("lstm", lstm)
    fitted = int(n_train * (1.0 - float(detector["validation_fraction"])))
    needed = 2 * int(detector["window"]) + 2
    if fitted < needed:
        raise ConfigError(
            f"lstm.window={detector['window']} needs {needed} training steps; "
            f"{what} trains the detector on {fitted}; lower the window or "
            "simulate more days"
        )
    forecaster = load_model_config("xgboost", xgboost)
    reach = max([*forecaster["lags"], *forecaster["rolling_windows"], 1])
    needed = reach + 2 * int(forecaster["horizon"])
    if n_train < needed:
        raise ConfigError(
            f"xgboost.horizon={forecaster['horizon']} with lags up to {reach} "
            f"needs {needed} training steps; {what} trains the forecaster on "
            f"{n_train}; lower them or simulate more days"
        )


def dataset_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a dataset folder written by ``write_dataset``."""
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return manifest


def check_dataset_for_training(
    folder: Path,
    lstm: dict[str, Any] | None = None,
    xgboost: dict[str, Any] | None = None,
) -> None:
    """Refuse, before training starts, a dataset too short for the models."""
    manifest = dataset_manifest(folder)
    check_pipeline_days(float(manifest["days"]), what=f"dataset {folder}")
    check_training_length(int(manifest["n_steps"]), lstm, xgboost, what=str(folder))


def split_index(n_steps: int) -> int:
    return int(n_steps * TRAIN_FRACTION)


def simulate_telemetry(
    profile: str,
    days: float,
    seed: int,
    out_dir: str | Path | None = None,
    parent_run_id: str | None = None,
) -> Path:
    """Simulate the system model and write a dataset folder."""
    import mlflow

    from aiops.simulator import load_scenario, simulate, write_dataset

    scenario = load_scenario(profile)
    folder = (
        Path(out_dir)
        if out_dir
        else datasets_root() / dataset_name(profile, days, seed)
    )
    with step_run("simulate", parent_run_id, tags={"aiops.step": "simulate"}):
        started = time.perf_counter()
        telemetry = simulate(scenario, days=days, seed=seed)
        elapsed_s = time.perf_counter() - started
        path = write_dataset(telemetry, folder, overwrite=True)

        summary = telemetry.summary()
        mlflow.log_params({"profile": profile, "days": days, "seed": seed})
        mlflow.log_metrics(
            {
                "simulate_seconds": elapsed_s,
                "n_metric_rows": float(len(telemetry.metrics)),
                "n_incidents": float(len(telemetry.incidents)),
                "anomalous_share": float(telemetry.labels["anomaly"].mean()),
            }
        )
        mlflow.log_artifact(str(path / "manifest.json"))
        mlflow.set_tag("dataset.path", str(path))
        logger.info(
            "simulated %s: %d steps, %d incidents in %.1f s",
            path.name,
            len(telemetry.labels),
            len(telemetry.incidents),
            elapsed_s,
        )
        logger.debug("dataset summary %s", summary)
    return path


def _load_frames(dataset: Path) -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    from aiops.simulator import load_dataset

    telemetry = load_dataset(dataset)
    wide = telemetry.wide()
    labels = (
        telemetry.labels.set_index("timestamp")["anomaly"]
        .reindex(wide.index)
        .fillna(0)
        .to_numpy(dtype="int8")
    )
    return wide, labels, telemetry.request_rate()


def train_detector(
    dataset: Path,
    overrides: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> DetectorOutcome:
    """Fit the LSTM detector on the normal period, score the held-out part."""
    import mlflow

    from aiops.detectors import LSTMForecastDetector
    from aiops.evaluation import evaluate_detection

    wide, labels, _ = _load_frames(dataset)
    cut = split_index(len(wide))
    train, test = wide.iloc[:cut], wide.iloc[cut:]

    with step_run(
        "train-detector", parent_run_id, tags={"aiops.step": "train-detector"}
    ) as run:
        detector = LSTMForecastDetector.from_config(overrides)
        started = time.perf_counter()
        detector.fit(train)
        fit_s = time.perf_counter() - started

        scores = detector.score_samples(test)
        alarms = detector.predict(test)
        step_s = _step_seconds(wide.index)
        metrics = evaluate_detection(labels[cut:], scores, alarms, step_s=step_s)
        metrics = {key: float(value) for key, value in metrics.items()}

        mlflow.log_params(flatten_params(detector.get_params()))
        mlflow.log_params(
            {
                "dataset": dataset.name,
                "n_features": wide.shape[1],
                "train_rows": len(train),
                "test_rows": len(test),
            }
        )
        mlflow.log_metrics({**_finite(metrics), "fit_seconds": fit_s})
        logger.info(
            "detector: event F1 %.3f, AUC-PR %.3f on %d held-out steps (%.1f s fit)",
            metrics.get("event_f1", math.nan),
            metrics.get("auc_pr", math.nan),
            len(test),
            fit_s,
        )
    return DetectorOutcome(
        detector=detector,
        metrics=metrics,
        test_frame=test,
        test_labels=labels[cut:],
        test_scores=scores,
        run_id=run.info.run_id,
        profile=str(dataset_manifest(dataset)["scenario"]["env"]),
    )


def lead_steps_for(dataset: Path) -> int:
    """Steps between a scaling decision and the moment its replicas serve:
    the app fleet's start-up delay plus one decision interval."""
    from aiops.simulator import load_dataset

    telemetry = load_dataset(dataset)
    startup_s, interval_s = telemetry.scaling_lead_seconds()
    return max(1, math.ceil((startup_s + interval_s) / telemetry.step_s))


def train_forecaster(
    dataset: Path,
    overrides: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
    for_scaling: bool = False,
) -> ForecasterOutcome:
    """Fit the XGBoost forecaster of the request rate; compare it with
    seasonal naive on the held-out part at the scaling lead time.

    ``for_scaling`` fits it for the scaling lead only (a horizon of the lead
    plus two steps): trees that learn three steps ahead instead of sixty
    forecast those three steps better, and that is all a scaler asks.
    """
    import mlflow

    from aiops.forecasting import SeasonalNaive, XGBForecaster

    _, _, rate = _load_frames(dataset)
    cut = split_index(len(rate))
    lead = lead_steps_for(dataset)
    season_steps = _season_steps(rate.index)

    if for_scaling:
        overrides = {**(overrides or {}), "horizon": lead + SCALING_HORIZON_MARGIN}
    name = "train-scaling-forecaster" if for_scaling else "train-forecaster"
    with step_run(name, parent_run_id, tags={"aiops.step": "train-forecaster"}) as run:
        forecaster = XGBForecaster.from_config(overrides)
        forecaster.set_params(
            seasonal_lags=usable_seasonal_lags(
                forecaster.seasonal_lags, rate.index[cut - 1] - rate.index[0]
            )
        )
        started = time.perf_counter()
        forecaster.fit(rate.iloc[:cut])
        fit_s = time.perf_counter() - started

        metrics = _forecast_metrics(forecaster, rate, cut, lead, season_steps)
        naive = SeasonalNaive(season="1D").fit(rate.iloc[:cut])
        naive_metrics = _forecast_metrics(naive, rate, cut, lead, season_steps)
        metrics.update({f"naive_{key}": value for key, value in naive_metrics.items()})

        mlflow.log_params(flatten_params(forecaster.get_params()))
        mlflow.log_params(
            {"dataset": dataset.name, "lead_steps": lead, "train_rows": cut}
        )
        mlflow.log_metrics({**_finite(metrics), "fit_seconds": fit_s})
        logger.info(
            "forecaster: MASE %.3f (seasonal naive %.3f) at lead %d steps",
            metrics["mase"],
            metrics["naive_mase"],
            lead,
        )
    return ForecasterOutcome(
        forecaster=forecaster,
        metrics=metrics,
        lead_steps=lead,
        history=rate,
        run_id=run.info.run_id,
    )


SCALING_HORIZON_MARGIN = 2


def _forecast_metrics(
    model: Any, rate: pd.Series, cut: int, lead: int, season_steps: int
) -> dict[str, float]:
    from aiops.forecasting import coverage, mae, mase

    median = model.forecast_at_lead(rate, lead, quantile=0.5)
    upper = model.forecast_at_lead(rate, lead, quantile=0.9)
    # A forecast made at origin t is for t + lead: align it with its target.
    origins = rate.index[cut : len(rate) - lead]
    actual = rate.shift(-lead).loc[origins].to_numpy()
    predicted = median.reindex(origins).to_numpy()
    upper_values = upper.reindex(origins).to_numpy()
    valid = np.isfinite(actual) & np.isfinite(predicted)
    return {
        "mae": float(mae(actual[valid], predicted[valid])),
        "mase": float(
            mase(
                actual[valid],
                predicted[valid],
                rate.iloc[:cut].to_numpy(),
                season_steps,
            )
        ),
        "coverage_p90": float(coverage(actual[valid], upper_values[valid])),
    }


def _season_steps(index: pd.DatetimeIndex) -> int:
    return round(86_400 / _step_seconds(index))


def _step_seconds(index: pd.DatetimeIndex) -> float:
    return float((index[1] - index[0]).total_seconds())


def usable_seasonal_lags(
    seasonal_lags: Sequence[str], training_span: pd.Timedelta
) -> tuple[str, ...]:
    """Seasonal lags that the training period can teach: a lag needs at least
    as much history again to supply training targets, so longer ones are
    dropped (and logged) rather than failing on a short scenario."""
    usable = tuple(
        lag for lag in seasonal_lags if 2 * pd.Timedelta(lag) <= training_span
    )
    dropped = sorted(set(seasonal_lags) - set(usable))
    if dropped:
        logger.info(
            "seasonal lags %s dropped: the training period is only %s",
            dropped,
            training_span,
        )
    return usable


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in metrics.items() if math.isfinite(value)}

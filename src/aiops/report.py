"""The main job's report: a short Markdown page with plots.

Written to a folder (``report.md`` beside its PNG plots) and logged as an
artifact of the pipeline's MLflow run. Figures are drawn without pyplot, so
importing this module never changes the caller's matplotlib backend.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def shade_incidents(axis: Any, incidents: pd.DataFrame) -> None:
    """Shade each labelled incident window on a time axis."""
    for row in incidents.itertuples():
        axis.axvspan(row.start, row.end, color="tab:red", alpha=0.15, lw=0)


def plot_detector(
    path: Path,
    index: pd.DatetimeIndex,
    scores: np.ndarray,
    threshold: float,
    incidents: pd.DataFrame,
) -> Path:
    figure = Figure(figsize=(11, 3.2))
    axis = figure.subplots()
    # Scores span orders of magnitude; a log axis needs them strictly positive.
    floor = max(float(np.nanmin(scores[scores > 0], initial=1.0)), 1e-6)
    axis.plot(
        index,
        np.maximum(scores, floor),
        lw=0.7,
        color="tab:blue",
        label="anomaly score",
    )
    axis.axhline(threshold, color="black", ls="--", lw=0.8, label="threshold")
    shade_incidents(axis, incidents)
    axis.set_yscale("log")
    axis.set_title("LSTM anomaly score on held-out days (incidents shaded)")
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def plot_forecast(
    path: Path, actual: pd.Series, median: pd.Series, upper: pd.Series, lead: int
) -> Path:
    figure = Figure(figsize=(11, 3.2))
    axis = figure.subplots()
    window = actual.index[-min(len(actual), 3 * 1440) :]
    axis.plot(window, actual.reindex(window), lw=0.7, color="black", label="actual")
    axis.plot(
        window, median.reindex(window), lw=0.8, color="tab:green", label="forecast p50"
    )
    axis.plot(
        window, upper.reindex(window), lw=0.8, color="tab:orange", label="forecast p90"
    )
    axis.set_ylabel("requests / s")
    axis.set_title(f"Request rate and its forecast {lead} steps ahead (last 3 days)")
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def plot_replicas(path: Path, replicas: dict[str, pd.Series], load: pd.Series) -> Path:
    figure = Figure(figsize=(11, 3.2))
    left = figure.subplots()
    right = left.twinx()
    right.plot(load.index, load, lw=0.5, color="grey", alpha=0.6)
    right.set_ylabel("requests / s", color="grey")
    for name, series in replicas.items():
        left.step(series.index, series, where="post", lw=0.9, label=name)
    left.set_ylabel("replicas")
    left.set_title("App fleet replicas under each policy, with the load behind")
    left.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)


def write_report(
    folder: Path,
    dataset: Path,
    detector: Any,
    forecaster: Any,
    policies: dict[str, Any],
    registry: list[dict[str, Any]],
    nab: dict[str, Any] | None = None,
) -> Path:
    """Write ``report.md`` and its plots into ``folder``; return the page."""
    from aiops.simulator import load_dataset

    folder.mkdir(parents=True, exist_ok=True)
    telemetry = load_dataset(dataset)
    incidents = telemetry.incidents

    plot_detector(
        folder / "detector.png",
        detector.test_frame.index,
        detector.test_scores,
        float(detector.detector.threshold_.value_),
        incidents,
    )
    rate = forecaster.history
    lead = forecaster.lead_steps
    median = forecaster.forecaster.forecast_at_lead(rate, lead, quantile=0.5)
    upper = forecaster.forecaster.forecast_at_lead(rate, lead, quantile=0.9)
    target = rate.shift(-lead)
    plot_forecast(folder / "forecast.png", target, median, upper, lead)
    plot_replicas(
        folder / "replicas.png",
        {name: run.replicas for name, run in policies.items()},
        rate,
    )

    incident_rows = [
        {
            "id": row.id,
            "kind": row.kind,
            "target": row.target,
            "start": str(row.start),
            "end": str(row.end),
            "onset": row.onset,
        }
        for row in incidents.itertuples()
    ]
    detector_rows = [
        {"metric": key, "value": float(value)}
        for key, value in detector.metrics.items()
    ]
    forecaster_rows = [
        {
            "model": "XGBoost",
            "MAE": forecaster.metrics["mae"],
            "MASE": forecaster.metrics["mase"],
            "p90 coverage": forecaster.metrics["coverage_p90"],
        },
        {
            "model": "seasonal naive (1 day)",
            "MAE": forecaster.metrics["naive_mae"],
            "MASE": forecaster.metrics["naive_mase"],
            "p90 coverage": forecaster.metrics["naive_coverage_p90"],
        },
    ]
    policy_rows = [
        {"policy": name, **{k: v for k, v in run.summary.items()}}
        for name, run in policies.items()
    ]
    sections = [
        f"# aiops report: {dataset.name}",
        f"Scenario `{telemetry.scenario.name}`, seed {telemetry.seed}, "
        f"{telemetry.days:g} days at {telemetry.step_s} s steps. Models learn from "
        "the first half; every figure below is measured on the held-out second half.",
        "## Incidents injected",
        markdown_table(incident_rows),
        "## Anomaly detection (LSTM, held-out days)",
        "Point-adjusted F1 is shown for comparison with published numbers only; "
        "it credits a whole incident for a single alarm.",
        markdown_table(detector_rows),
        "![anomaly score](detector.png)",
        f"## Load forecast ({lead} steps ahead)",
        markdown_table(forecaster_rows),
        "![forecast](forecast.png)",
        "## Scaling policies, replayed on the same scenario",
        markdown_table(policy_rows),
        "![replicas](replicas.png)",
        "## Model registry",
        markdown_table(registry),
    ]
    if nab:
        sections += ["## Real data: NAB", markdown_table(nab.get("series", []))]
    page = folder / "report.md"
    page.write_text("\n\n".join(sections) + "\n")
    return page

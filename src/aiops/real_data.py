"""Train and evaluate the anomaly detector on real series from NAB.

Each series is learnt from its probation period only (the first 15 %, at most
750 rows, as NAB defines it) and scored on everything after it, against NAB's
labelled anomaly windows. No label is seen during training.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from aiops.tracking import step_run

logger = logging.getLogger(__name__)

NAB_CATEGORIES = ("realAWSCloudwatch", "realKnownCause")


def probation_rows(n_rows: int) -> int:
    """NAB's probation period: 15 % of the file, at most 750 rows."""
    return min(math.floor(0.15 * n_rows), 750)


def evaluate_on_nab(
    overrides: dict[str, Any] | None = None,
    categories: tuple[str, ...] = NAB_CATEGORIES,
    parent_run_id: str | None = None,
) -> dict[str, Any]:
    """Fit one LSTM detector per NAB series and report per-series metrics."""
    import mlflow

    from aiops.detectors import LSTMForecastDetector
    from aiops.evaluation import evaluate_detection
    from aiops.nab import list_nab_series, load_nab_series

    names = list_nab_series(categories)
    rows: list[dict[str, Any]] = []
    with step_run("evaluate-nab", parent_run_id, {"aiops.step": "evaluate-nab"}):
        mlflow.log_params({"categories": ",".join(categories), "series": len(names)})
        for position, name in enumerate(names, start=1):
            frame = load_nab_series(name)
            values = frame[["value"]]
            labels = frame["label"].to_numpy(dtype="int8")
            cut = probation_rows(len(frame))

            started = time.perf_counter()
            detector = LSTMForecastDetector.from_config(
                {**(overrides or {}), "require_regular": False}
            )
            detector.fit(values.iloc[:cut])
            scores = detector.score_samples(values)[cut:]
            alarms = detector.predict(values)[cut:]
            step_s = float(
                np.median(np.diff(frame.index.asi8)) / 1e9 if len(frame) > 1 else 60
            )
            metrics = evaluate_detection(labels[cut:], scores, alarms, step_s=step_s)
            elapsed_s = time.perf_counter() - started

            key = name.removesuffix(".csv")
            mlflow.log_metrics(
                {
                    f"{key}/{metric}": float(value)
                    for metric, value in metrics.items()
                    if math.isfinite(float(value))
                }
            )
            rows.append(
                {
                    "series": key,
                    "rows": len(frame),
                    "labelled_rows": int(labels[cut:].sum()),
                    "auc_pr": float(metrics["auc_pr"]),
                    "event_recall": float(metrics["event_recall"]),
                    "event_precision": float(metrics["event_precision"]),
                    "f1": float(metrics["f1"]),
                }
            )
            logger.info(
                "NAB %d/%d %s: AUC-PR %.3f, event recall %.2f (%.1f s)",
                position,
                len(names),
                key,
                metrics["auc_pr"],
                metrics["event_recall"],
                elapsed_s,
            )
        # A series with no anomaly in its evaluated part has no recall or
        # AUC-PR to speak of; it is listed but left out of the means.
        scored = [row for row in rows if row["labelled_rows"] > 0] or rows
        overall = {
            "mean_auc_pr": float(np.mean([row["auc_pr"] for row in scored])),
            "mean_event_recall": float(
                np.mean([row["event_recall"] for row in scored])
            ),
            "mean_f1": float(np.mean([row["f1"] for row in scored])),
            "series_in_means": float(len(scored)),
        }
        mlflow.log_metrics(overall)
    return {"series": rows, "overall": overall}

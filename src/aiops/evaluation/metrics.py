"""Metrics that judge alarms and scores against 0/1 labels.

Point metrics count time steps; event metrics count labelled events (runs of
consecutive ones in ``y_true``) and alarm segments (runs of ones in ``y_pred``).

Edge cases, chosen so that no metric warns or surprises with a NaN:

* a ratio whose denominator is zero is 0.0 (no alarms -> precision 0.0, no
  labelled positives -> recall 0.0, so F1 is 0.0 as well), as scikit-learn does
  with ``zero_division=0``;
* ``auc_pr`` is 0.0 when there is no positive label;
* ``detection_delay`` is NaN when no event is detected - the one deliberate
  NaN, because any number would pose as a delay that was measured.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from aiops.errors import DataError
from aiops.evaluation.vus import DEFAULT_MAX_BUFFER, vus_pr
from aiops.thresholds import alarm_segments

__all__ = [
    "auc_pr",
    "detection_delay",
    "evaluate_detection",
    "event_metrics",
    "point_adjusted_f1",
    "point_metrics",
]


def point_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Step-wise ``precision``, ``recall`` and ``f1`` of alarms against labels."""
    truth, alarms = _binary_pair(y_true, y_pred)
    true_positives = int(np.count_nonzero(truth & alarms))
    precision = _ratio(true_positives, int(np.count_nonzero(alarms)))
    recall = _ratio(true_positives, int(np.count_nonzero(truth)))
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def event_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Event-wise scores.

    ``event_recall``: share of labelled events with at least one alarm inside.
    ``event_precision``: share of alarm segments overlapping a labelled event.
    """
    truth, alarms = _binary_pair(y_true, y_pred)
    events = alarm_segments(truth)
    segments = alarm_segments(alarms)
    detected = sum(bool(alarms[start:stop].any()) for start, stop in events)
    relevant = sum(bool(truth[start:stop].any()) for start, stop in segments)
    precision = _ratio(relevant, len(segments))
    recall = _ratio(detected, len(events))
    return {
        "event_precision": precision,
        "event_recall": recall,
        "event_f1": _f1(precision, recall),
    }


def auc_pr(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (scikit-learn average precision);
    0.0 when ``y_true`` has no positive."""
    truth = _binary(y_true, "y_true")
    values = np.asarray(scores, dtype=float)
    if values.shape != truth.shape:
        raise DataError(
            f"scores and y_true must have the same length; got {values.shape[0]} "
            f"scores for {truth.shape[0]} labels"
        )
    if not np.isfinite(values).all():
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise DataError(f"scores hold {bad} NaN/inf values; score finite values only")
    if not truth.any():
        return 0.0
    return float(average_precision_score(truth, values))


def detection_delay(y_true: np.ndarray, y_pred: np.ndarray, step_s: float) -> float:
    """Mean seconds from an event's first step to its first alarm, over the
    detected events; NaN when no event is detected."""
    truth, alarms = _binary_pair(y_true, y_pred)
    delays = []
    for start, stop in alarm_segments(truth):
        hits = np.flatnonzero(alarms[start:stop])
        if hits.size:
            delays.append(float(hits[0]) * step_s)
    return float(np.mean(delays)) if delays else math.nan


def point_adjusted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Point-adjusted F1 (Xu et al., WWW 2018): one alarm inside an event marks
    the whole event detected before step-wise F1 is computed.

    It flatters detectors a lot (a random one scores well on long events); report
    it beside, never instead of, the point and event metrics.
    """
    truth, alarms = _binary_pair(y_true, y_pred)
    adjusted = alarms.copy()
    for start, stop in alarm_segments(truth):
        if alarms[start:stop].any():
            adjusted[start:stop] = True
    return point_metrics(truth, adjusted)["f1"]


def evaluate_detection(
    y_true: np.ndarray,
    scores: np.ndarray,
    alarms: np.ndarray,
    step_s: float = 60,
    max_buffer: int = DEFAULT_MAX_BUFFER,
) -> dict[str, Any]:
    """All metrics in one flat dict, ready for ``mlflow.log_metrics``.

    Keys: precision, recall, f1, event_precision, event_recall, event_f1,
    auc_pr, vus_pr (buffers up to ``max_buffer`` steps), mean_delay_s,
    f1_point_adjusted, n_events, n_alarm_segments.
    """
    truth, flags = _binary_pair(y_true, alarms)
    return {
        **point_metrics(truth, flags),
        **event_metrics(truth, flags),
        "auc_pr": auc_pr(truth, scores),
        "vus_pr": vus_pr(truth.astype(np.int8), scores, max_buffer),
        "mean_delay_s": detection_delay(truth, flags, step_s),
        "f1_point_adjusted": point_adjusted_f1(truth, flags),
        "n_events": len(alarm_segments(truth)),
        "n_alarm_segments": len(alarm_segments(flags)),
    }


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2.0 * precision * recall / total if total else 0.0


def _binary(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D; got shape {array.shape}")
    if array.size and not np.isin(array, (0, 1)).all():
        found = np.unique(array[~np.isin(array, (0, 1))])[:5].tolist()
        raise DataError(f"{name} must hold only 0 and 1; found {found}")
    return array.astype(bool)


def _binary_pair(
    y_true: np.ndarray, y_pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    truth = _binary(y_true, "y_true")
    alarms = _binary(y_pred, "y_pred")
    if truth.shape != alarms.shape:
        raise DataError(
            f"y_true and y_pred must have the same length; got {truth.shape[0]} "
            f"and {alarms.shape[0]}"
        )
    return truth, alarms

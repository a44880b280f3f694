"""Range-based precision-recall and the volume under its surface (VUS-PR).

Paparrizos et al., "Volume Under the Surface: a New Accuracy Evaluation
Measure for Time-Series Anomaly Detection" (VLDB 2022). For a buffer length
``l`` the 0/1 labels become soft labels: each labelled range keeps weight 1 and
the ``floor(l / 2)`` steps on either side get ``sqrt(1 - d / l)`` at distance
``d`` (overlapping buffers add up, capped at 1). At a threshold ``t`` (alarm
where ``score >= t``):

* ``TP = sum(soft_label * alarm)``;
* recall = ``min(TP / P', 1)`` with ``P' = (P + sum(soft_label)) / 2``, times the
  existence reward: the share of soft-labelled ranges holding an alarm;
* precision = ``TP / #alarms``.

Range-AUC-PR(l) is the trapezoidal area under (recall, precision) over every
distinct score as threshold, starting at (0, 1). VUS-PR is its mean over
``l = 0, 1, ..., max_buffer``; with ``l = 0`` it is a range-aware AUC-PR.

Differences from the authors' code, on purpose: every distinct score is a
threshold (their code samples 250), and the buffer is symmetric (their code
extends the right side one step less).
"""

from __future__ import annotations

import numpy as np

from aiops.errors import DataError

__all__ = ["range_auc_pr", "range_pr_curve", "soft_labels", "vus_pr"]

DEFAULT_MAX_BUFFER = 100


def soft_labels(y_true: np.ndarray, buffer: int) -> np.ndarray:
    """Labels widened by a buffer of ``floor(buffer / 2)`` decaying steps per side."""
    truth = np.asarray(y_true).astype(bool)
    soft = truth.astype(float)
    half = int(buffer) // 2
    if half == 0 or not truth.any():
        return soft
    edges = np.diff(np.r_[0, truth.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1  # inclusive
    distances = np.arange(1, half + 1)
    weights = np.sqrt(1.0 - distances / buffer)
    n_rows = truth.size
    for start, end in zip(starts, ends, strict=True):
        before = start - distances
        after = end + distances
        left, right = before >= 0, after < n_rows
        np.add.at(soft, before[left], weights[left])
        np.add.at(soft, after[right], weights[right])
    # Inside a range the label stays 1 whatever the neighbours' buffers add.
    return np.minimum(np.where(truth, 1.0, soft), 1.0)


def range_pr_curve(
    y_true: np.ndarray, scores: np.ndarray, buffer: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Range recall and precision at every distinct score, highest threshold
    first, preceded by the point (recall 0, precision 1)."""
    truth, values = _check(y_true, scores)
    return _RankedScores(values).curve(truth, buffer)


def range_auc_pr(y_true: np.ndarray, scores: np.ndarray, buffer: int = 0) -> float:
    """Trapezoidal area under the range PR curve; 0.0 without positive labels."""
    truth, values = _check(y_true, scores)
    if not truth.any():
        return 0.0
    return _area(*_RankedScores(values).curve(truth, buffer))


def vus_pr(
    y_true: np.ndarray, scores: np.ndarray, max_buffer: int = DEFAULT_MAX_BUFFER
) -> float:
    """Mean range-AUC-PR over buffer lengths ``0 .. max_buffer``."""
    if int(max_buffer) != max_buffer or max_buffer < 0:
        raise DataError(f"max_buffer must be a whole number >= 0; got {max_buffer!r}")
    truth, values = _check(y_true, scores)
    if not truth.any():
        return 0.0
    ranked = _RankedScores(values)
    # Lengths l and l + 1 with the same floor(l / 2) still differ in decay, so
    # every length is evaluated.
    areas = [_area(*ranked.curve(truth, buffer)) for buffer in range(max_buffer + 1)]
    return float(np.mean(areas))


class _RankedScores:
    """Scores sorted once, reused for every buffer length."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.order = np.argsort(-values, kind="stable")
        ranked = values[self.order]
        self.last_of_run = np.r_[ranked[1:] != ranked[:-1], True]
        self.thresholds = ranked[self.last_of_run]
        self.n_alarms = np.flatnonzero(self.last_of_run) + 1.0

    def curve(self, truth: np.ndarray, buffer: int) -> tuple[np.ndarray, np.ndarray]:
        soft = soft_labels(truth, buffer)
        positives = (float(truth.sum()) + soft.sum()) / 2.0
        true_positive = np.cumsum(soft[self.order])[self.last_of_run]

        # Existence: a soft range counts once the best score inside is alarmed.
        ranges = _ranges(soft > 0)
        best = np.array([self.values[start:stop].max() for start, stop in ranges])
        found = np.searchsorted(np.sort(-best), -self.thresholds, side="right")
        existence = found / max(len(ranges), 1)

        recall = np.minimum(true_positive / positives, 1.0) * existence
        precision = true_positive / self.n_alarms
        return np.r_[0.0, recall], np.r_[1.0, precision]


def _area(recall: np.ndarray, precision: np.ndarray) -> float:
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2.0))


def _ranges(flags: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _check(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(y_true)
    values = np.asarray(scores, dtype=float)
    if truth.ndim != 1 or values.shape != truth.shape:
        raise DataError(
            f"y_true and scores must be 1-D of the same length; got shapes "
            f"{truth.shape} and {values.shape}"
        )
    if truth.size and not np.isin(truth, (0, 1)).all():
        found = np.unique(truth[~np.isin(truth, (0, 1))])[:5].tolist()
        raise DataError(f"y_true must hold only 0 and 1; found {found}")
    if not np.isfinite(values).all():
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise DataError(f"scores hold {bad} NaN/inf values; score finite values only")
    return truth.astype(bool), values

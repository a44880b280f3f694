"""Tests for aiops.evaluation against hand-computed cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from aiops.errors import DataError
from aiops.evaluation import (
    auc_pr,
    detection_delay,
    evaluate_detection,
    event_metrics,
    point_adjusted_f1,
    point_metrics,
)

# Events at [1, 4) and [6, 8); alarm segments at [2, 3), [5, 6) and [9, 10).
Y_TRUE = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0, 0])
Y_PRED = np.array([0, 0, 1, 0, 0, 1, 0, 0, 0, 1])


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [
        # tp 1 of 3 alarms and 5 positives: f1 = 2 (1/3)(1/5) / (8/15) = 1/4
        (Y_TRUE, Y_PRED, {"precision": 1 / 3, "recall": 1 / 5, "f1": 0.25}),
        ([1, 1, 0, 0], [1, 1, 0, 0], {"precision": 1.0, "recall": 1.0, "f1": 1.0}),
        ([1, 1, 0, 0], [0, 1, 1, 1], {"precision": 1 / 3, "recall": 0.5, "f1": 0.4}),
        ([0, 0, 0, 0], [0, 0, 0, 0], {"precision": 0.0, "recall": 0.0, "f1": 0.0}),
        ([0, 0, 0, 0], [1, 0, 0, 0], {"precision": 0.0, "recall": 0.0, "f1": 0.0}),
        ([1, 0, 0, 0], [0, 0, 0, 0], {"precision": 0.0, "recall": 0.0, "f1": 0.0}),
    ],
)
def test_point_metrics_table(y_true: list, y_pred: list, expected: dict) -> None:
    assert point_metrics(np.asarray(y_true), np.asarray(y_pred)) == pytest.approx(
        expected
    )


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [
        # event 1 caught, event 2 missed; 1 of 3 segments overlaps an event
        (Y_TRUE, Y_PRED, (1 / 3, 0.5, 0.4)),
        # one segment bridging both events: counts once, detects both
        ([1, 1, 0, 1, 1], [0, 1, 1, 1, 0], (1.0, 1.0, 1.0)),
        # two segments in one event, one false segment
        ([0, 1, 1, 1, 1, 0, 0], [0, 1, 0, 1, 0, 0, 1], (2 / 3, 1.0, 0.8)),
        ([0, 0, 0], [0, 0, 0], (0.0, 0.0, 0.0)),
        ([0, 1, 0], [0, 0, 0], (0.0, 0.0, 0.0)),
    ],
)
def test_event_metrics_table(y_true: list, y_pred: list, expected: tuple) -> None:
    result = event_metrics(np.asarray(y_true), np.asarray(y_pred))
    precision, recall, f1 = expected
    assert result == pytest.approx(
        {"event_precision": precision, "event_recall": recall, "event_f1": f1}
    )


@pytest.mark.parametrize(
    ("y_true", "scores", "expected"),
    [
        # ranked 0.8(-) 0.4(+) 0.35(+) 0.1(-): AP = 0.5 * 1/2 + 0.5 * 2/3
        ([0, 1, 1, 0], [0.1, 0.4, 0.35, 0.8], 0.25 + 1 / 3),
        ([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2], 1.0),
        ([0, 0, 0, 0], [0.1, 0.9, 0.8, 0.2], 0.0),
    ],
)
def test_auc_pr_table(y_true: list, scores: list, expected: float) -> None:
    assert auc_pr(np.asarray(y_true), np.asarray(scores)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "step_s", "expected"),
    [
        (Y_TRUE, Y_PRED, 60, 60.0),  # only event 1, caught one step late
        ([1, 1, 0, 1, 1], [0, 1, 1, 1, 0], 60, 30.0),  # delays 60 and 0
        ([0, 1, 1, 1], [0, 0, 0, 1], 300, 600.0),
    ],
)
def test_detection_delay_table(
    y_true: list, y_pred: list, step_s: float, expected: float
) -> None:
    delay = detection_delay(np.asarray(y_true), np.asarray(y_pred), step_s)
    assert delay == pytest.approx(expected)


def test_detection_delay_is_nan_when_nothing_is_detected() -> None:
    assert math.isnan(detection_delay(np.array([0, 1, 1]), np.array([1, 0, 0]), 60))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [
        # event 1 fully credited: tp 3, 5 alarms, 5 positives
        (Y_TRUE, Y_PRED, 0.6),
        ([0, 1, 1, 1, 1, 0], [0, 0, 0, 1, 0, 0], 1.0),
        ([0, 0, 0], [0, 0, 0], 0.0),
    ],
)
def test_point_adjusted_f1_table(y_true: list, y_pred: list, expected: float) -> None:
    f1 = point_adjusted_f1(np.asarray(y_true), np.asarray(y_pred))
    assert f1 == pytest.approx(expected)


def test_evaluate_detection_collects_every_metric() -> None:
    scores = np.array([0.0, 0.2, 0.9, 0.3, 0.1, 0.8, 0.4, 0.5, 0.0, 0.7])
    result = evaluate_detection(Y_TRUE, scores, Y_PRED, step_s=60)

    assert list(result) == [
        "precision",
        "recall",
        "f1",
        "event_precision",
        "event_recall",
        "event_f1",
        "auc_pr",
        "vus_pr",
        "mean_delay_s",
        "f1_point_adjusted",
        "n_events",
        "n_alarm_segments",
    ]
    assert result["f1"] == pytest.approx(0.25)
    assert result["event_f1"] == pytest.approx(0.4)
    assert result["mean_delay_s"] == pytest.approx(60.0)
    assert result["f1_point_adjusted"] == pytest.approx(0.6)
    assert result["auc_pr"] == pytest.approx(auc_pr(Y_TRUE, scores))
    assert (result["n_events"], result["n_alarm_segments"]) == (2, 3)


def test_evaluate_detection_with_no_positive_and_no_alarm_is_quiet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate_detection(np.zeros(20), np.linspace(0, 1, 20), np.zeros(20))

    delay = result.pop("mean_delay_s")
    assert math.isnan(delay)
    assert result == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "event_precision": 0.0,
        "event_recall": 0.0,
        "event_f1": 0.0,
        "auc_pr": 0.0,
        "vus_pr": 0.0,
        "f1_point_adjusted": 0.0,
        "n_events": 0,
        "n_alarm_segments": 0,
    }


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: point_metrics(np.zeros(3), np.zeros(4)), "same length; got 3 and 4"),
        (
            lambda: point_metrics(np.array([0, 2]), np.zeros(2)),
            r"only 0 and 1; found \[2\]",
        ),
        (lambda: event_metrics(np.zeros((2, 2)), np.zeros(4)), "y_true must be 1-D"),
        (lambda: auc_pr(np.zeros(3), np.zeros(2)), "2 scores for 3 labels"),
        (lambda: auc_pr(np.array([0, 1]), np.array([0, np.nan])), "1 NaN/inf"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        call()  # type: ignore[operator]

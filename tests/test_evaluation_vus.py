"""Tests for aiops.evaluation.vus against hand-computed range PR curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aiops.errors import DataError
from aiops.evaluation import range_auc_pr, range_pr_curve, soft_labels, vus_pr

W = math.sqrt(0.5)  # sqrt(1 - 1/2): weight one step from a range with buffer 2


@pytest.mark.parametrize(
    ("y_true", "buffer", "expected"),
    [
        ([0, 0, 1, 0, 0], 0, [0, 0, 1, 0, 0]),
        ([0, 0, 1, 0, 0], 1, [0, 0, 1, 0, 0]),  # floor(1 / 2) = 0 steps
        ([0, 0, 1, 0, 0], 2, [0, W, 1, W, 0]),
        # buffer 4: two steps, sqrt(1 - 1/4) and sqrt(1 - 2/4)
        ([0, 0, 1, 0, 0], 4, [W, math.sqrt(0.75), 1, math.sqrt(0.75), W]),
        # overlapping buffers add up and are capped at 1
        ([1, 0, 1], 2, [1, 1, 1]),
        ([1, 0, 0, 1], 2, [1, W, W, 1]),
    ],
)
def test_soft_labels_table(y_true: list, buffer: int, expected: list) -> None:
    assert soft_labels(np.asarray(y_true), buffer) == pytest.approx(expected)


def test_curve_and_area_with_a_buffer_by_hand() -> None:
    y_true, scores = np.array([0, 1, 0, 0]), np.array([0.5, 1.0, 0.0, 0.0])
    # soft labels [W, 1, W, 0]: P' = (1 + 1 + 2W) / 2 = 1 + W, one range
    recall, precision = range_pr_curve(y_true, scores, buffer=2)
    positives = 1 + W
    assert recall == pytest.approx([0, 1 / positives, 1, 1])
    assert precision == pytest.approx([1, 1, positives / 2, (1 + 2 * W) / 4])

    area = 1 / positives + (1 - 1 / positives) * (1 + positives / 2) / 2
    assert range_auc_pr(y_true, scores, buffer=2) == pytest.approx(area)
    assert range_auc_pr(y_true, scores, buffer=0) == pytest.approx(1.0)
    # buffers 0, 1 (no widening) and 2
    assert vus_pr(y_true, scores, max_buffer=2) == pytest.approx((2 + area) / 3)


def test_existence_reward_halves_recall_when_one_of_two_ranges_is_found() -> None:
    # t = 1: TP 1 of P' 2, one of two ranges -> recall 1/4, precision 1;
    # t = 0: recall 1, precision 1/2.
    area = range_auc_pr(np.array([1, 0, 0, 1]), np.array([1.0, 0, 0, 0]))
    assert area == pytest.approx(0.25 + 0.75 * (1 + 0.5) / 2)


def test_perfect_random_and_empty_cases() -> None:
    y_true = np.zeros(300, dtype=int)
    y_true[100:130] = 1
    # Exact 0/1 scores lose a little as the buffer widens: the soft labels
    # around the range are never alarmed before the false positives.
    exact = vus_pr(y_true, y_true.astype(float), max_buffer=20)
    assert range_auc_pr(y_true, y_true.astype(float), buffer=0) == 1.0
    assert 0.9 < exact < 1.0
    noise = np.random.default_rng(0).random(300)
    assert vus_pr(y_true, noise, max_buffer=20) < 0.3
    assert vus_pr(np.zeros(10, dtype=int), noise[:10]) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: vus_pr(np.zeros(3), np.zeros(2)), "same length"),
        (lambda: vus_pr(np.array([0, 2]), np.zeros(2)), r"only 0 and 1; found \[2\]"),
        (lambda: vus_pr(np.array([0, 1]), np.array([0, np.nan])), "1 NaN/inf"),
        (lambda: vus_pr(np.array([0, 1]), np.zeros(2), max_buffer=-1), "max_buffer"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        call()  # type: ignore[operator]

"""Tests for aiops.evaluation.nab_scoring: hand-computed rows, and conformance
with NAB's published results where the corpus is present."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiops.config import real_datasets_dir
from aiops.errors import DataError
from aiops.evaluation import (
    NAB_PROFILES,
    NABSeries,
    load_nab_profiles,
    nab_probation_rows,
    nab_window_rows,
    score_nab_corpus,
)
from aiops.evaluation.nab_scoring import scaled_sigmoid


def _sigma(y: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


STANDARD = NAB_PROFILES["standard"]


def _series(detect: list[int], n_rows: int = 40) -> NABSeries:
    """40 rows (probation 6), one window at rows 20..23; alarms at ``detect``."""
    scores = np.zeros(n_rows)
    scores[detect] = 1.0
    return NABSeries("fake.csv", scores, [(20, 23)])


@pytest.mark.parametrize(
    ("n_rows", "expected"), [(10, 1), (100, 15), (5000, 750), (22_695, 750)]
)
def test_probation_rows(n_rows: int, expected: int) -> None:
    assert nab_probation_rows(n_rows) == expected


def test_scaled_sigmoid_edges() -> None:
    assert scaled_sigmoid(np.array([-1.0, 0.0, 3.0, 3.01])) == pytest.approx(
        [_sigma(-1.0), 0.0, _sigma(3.0), -1.0]
    )


@pytest.mark.parametrize(
    ("detect", "expected"),
    [
        ([], -1.0),  # missed window
        ([20], 1.0),  # left edge earns exactly tp_weight
        # y = -(23 - 22 + 1) / 4 = -0.5, scaled so the left edge is worth 1
        ([22], _sigma(-0.5) / _sigma(-1.0)),
        ([22, 21], _sigma(-0.75) / _sigma(-1.0)),  # only the earliest counts
        ([21, 22, 23], _sigma(-0.75) / _sigma(-1.0)),
        ([10], -1.0 - 0.11),  # FP before any window: full penalty, plus FN
        ([3, 20], 1.0),  # in probation: ignored
        # FP 3 rows past the window: y = 3 / (4 - 1) = 1
        ([20, 26], 1.0 + 0.11 * _sigma(1.0)),
        ([20, 39], 1.0 - 0.11),  # y = 16 / 3 > 3: full penalty
    ],
)
def test_single_series_scores(detect: list[int], expected: float) -> None:
    result = score_nab_corpus([_series(detect)], thresholds={"standard": 0.5})
    assert result["standard"].raw_score == pytest.approx(expected)
    if detect == [20, 26]:
        assert result["standard"].per_series["fake.csv"] == pytest.approx(
            {"score": expected, "tp": 1, "fp": 1, "fn": 3, "tn": 29}
        )


def test_optimiser_picks_the_best_corpus_threshold_and_normalises() -> None:
    # 0.9 catches the window early with one FP elsewhere, 0.5 adds 3 FPs.
    scores = np.zeros(40)
    scores[[20, 30]] = 0.9
    scores[[8, 9, 10]] = 0.5
    result = score_nab_corpus([NABSeries("a.csv", scores, [(20, 23)])])
    standard = result["standard"]

    assert standard.threshold == 0.9
    assert standard.raw_score == pytest.approx(1.0 + 0.11 * _sigma(7 / 3))
    assert (standard.null_score, standard.perfect_score) == (-1.0, 1.0)
    assert standard.score == pytest.approx(100 * (standard.raw_score + 1) / 2)
    assert result["reward_low_FN_rate"].null_score == -2.0


def test_all_zero_detector_scores_zero() -> None:
    series = [_series([]), NABSeries("b.csv", np.zeros(30), [])]
    for result in score_nab_corpus(series).values():
        assert result.score == pytest.approx(0.0)


def test_window_rows_follow_nab_on_repeated_stamps() -> None:
    stamps = pd.to_datetime(
        ["2014-01-01 01:00", "2014-01-01 02:00", "2014-01-01 03:00"] * 2
    )
    windows = [("2014-01-01 02:00", "2014-01-01 03:00")]
    # Enters at the first 02:00, leaves at the first 03:00 of the file.
    assert nab_window_rows(stamps, windows) == [(1, 2)]
    with pytest.raises(DataError, match="matches no row"):
        nab_window_rows(stamps, [("2014-01-01 02:30", "2014-01-01 03:00")])


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty corpus"):
        score_nab_corpus([])
    with pytest.raises(DataError, match="NaN/inf"):
        score_nab_corpus([NABSeries("x.csv", np.array([0.0, np.nan]), [])])
    bad = tmp_path / "profiles.json"
    bad.write_text('{"standard": {}}')
    with pytest.raises(DataError, match="cannot read NAB profiles"):
        load_nab_profiles(bad)


def _nab() -> Path | None:
    try:
        path = real_datasets_dir() / "nab"
    except DataError:
        return None
    return path if (path / "results" / "numenta").is_dir() else None


@pytest.fixture(scope="module")
def numenta_series() -> list[NABSeries]:
    root = _nab()
    if root is None:
        pytest.skip("NAB corpus with reference results not found")
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    series = []
    for name, bounds in sorted(windows.items()):
        category, file = name.split("/")
        result = pd.read_csv(
            root / "results" / "numenta" / category / f"numenta_{file}"
        )
        stamps = pd.to_datetime(result["timestamp"])
        series.append(
            NABSeries(
                name,
                result["anomaly_score"].to_numpy(),
                nab_window_rows(stamps, bounds),
            )
        )
    return series


def test_numenta_reference_results_reproduce_the_scoreboard(
    numenta_series: list[NABSeries],
) -> None:
    root = _nab()
    assert root is not None
    profiles = load_nab_profiles(root / "config" / "profiles.json")
    assert profiles == NAB_PROFILES
    result = score_nab_corpus(numenta_series, profiles)

    # Published: 70.1 / 63.1 / 74.3 (NuPIC v0.5.6 row of NAB's scoreboard).
    assert len(numenta_series) == 58
    assert result["standard"].score == pytest.approx(70.1, abs=0.5)
    assert result["reward_low_FP_rate"].score == pytest.approx(63.1, abs=0.5)
    assert result["reward_low_FN_rate"].score == pytest.approx(74.3, abs=0.5)


def test_numenta_per_file_rows_match_nab_at_its_thresholds(
    numenta_series: list[NABSeries],
) -> None:
    root = _nab()
    assert root is not None
    published = json.loads((root / "config" / "thresholds.json").read_text())
    thresholds = {k: v["threshold"] for k, v in published["numenta"].items()}
    result = score_nab_corpus(numenta_series, thresholds=thresholds)

    for profile, fixed in result.items():
        assert fixed.raw_score == pytest.approx(published["numenta"][profile]["score"])
        table = pd.read_csv(
            root / "results" / "numenta" / f"numenta_{profile}_scores.csv"
        ).set_index("File")
        for name, row in fixed.per_series.items():
            expected = table.loc[name]
            assert row["score"] == pytest.approx(expected["Score"], abs=1e-9)
            assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (
                expected["TP"],
                expected["FP"],
                expected["FN"],
                expected["TN"],
            )

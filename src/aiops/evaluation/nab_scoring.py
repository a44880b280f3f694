"""The Numenta Anomaly Benchmark (NAB) scoring rules, vectorised.

Follows Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the
Numenta Anomaly Benchmark" (ICMLA 2015) and NAB's sweeper/optimiser:

* the first ``min(floor(0.15 n), 750)`` rows of a series (probation) are ignored;
* a detection at relative position ``y`` inside a window (-1 at its left edge)
  earns ``tp_weight * sigma(y) / sigma(-1)`` with ``sigma(y) = 2 / (1 + e^{5y}) - 1``,
  and only the best (earliest) detection of a window counts;
* a detection outside every window costs ``fp_weight * sigma(d)``, ``d`` being the
  distance past the end of the previous window over that window's width - 1
  (``sigma`` is -1 beyond ``d = 3``; ``-fp_weight`` with no previous window);
* each window without a detection costs ``fn_weight``;
* one threshold per detector and profile maximises the raw score summed over the
  whole corpus (a row is a detection when its score is >= the threshold), and
  the total is normalised to 0 (null detector) .. 100 (perfect detector).

Scoring a corpus sorts every scorable row once; the corpus score at every
distinct score value then follows from cumulative sums, so the optimiser is
exact over all candidate thresholds (as NAB's sweeper is) and O(n log n).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiops.errors import DataError

__all__ = [
    "NAB_PROFILES",
    "NABCorpusScore",
    "NABProfile",
    "NABSeries",
    "load_nab_profiles",
    "nab_probation_rows",
    "nab_window_rows",
    "normalised_nab_score",
    "score_nab_corpus",
]

PROBATION_PERCENT = 0.15
# NAB caps probation at 15 % of 5000 rows.
PROBATION_CAP_ROWS = 750
# Beyond three window-widths past a window, a false positive gets the full penalty.
FP_FULL_PENALTY_DISTANCE = 3.0
# Row codes in a series' window map: outside every window, or in probation.
OUTSIDE = -1
PROBATION = -2


@dataclass(frozen=True)
class NABProfile:
    """One of NAB's application profiles (cost matrix)."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float
    tn_weight: float = 1.0


NAB_PROFILES: dict[str, NABProfile] = {
    "standard": NABProfile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": NABProfile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": NABProfile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


def load_nab_profiles(path: str | Path | None = None) -> dict[str, NABProfile]:
    """Profiles from NAB's ``config/profiles.json``, or the built-in copy."""
    if path is None:
        return dict(NAB_PROFILES)
    try:
        raw = json.loads(Path(path).read_text())
        return {
            name: NABProfile(
                name,
                float(spec["CostMatrix"]["tpWeight"]),
                float(spec["CostMatrix"]["fpWeight"]),
                float(spec["CostMatrix"]["fnWeight"]),
                float(spec["CostMatrix"].get("tnWeight", 1.0)),
            )
            for name, spec in raw.items()
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"cannot read NAB profiles from {path}: {error}; expected "
            '{"standard": {"CostMatrix": {"tpWeight": 1.0, ...}}, ...}'
        ) from None


def nab_probation_rows(n_rows: int) -> int:
    """Rows NAB ignores at the start of a series: ``min(floor(0.15 n), 750)``."""
    return min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_CAP_ROWS)


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """NAB's reward curve ``2 / (1 + e^{5y}) - 1``, -1 for ``y > 3``."""
    position = np.asarray(position, dtype=float)
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position > FP_FULL_PENALTY_DISTANCE, -1.0, value)


def nab_window_rows(
    timestamps: pd.DatetimeIndex | Sequence[Any],
    windows: Sequence[tuple[Any, Any]],
) -> list[tuple[int, int]]:
    """Inclusive ``(first_row, last_row)`` of each window, as NAB finds them.

    NAB enters a window at the first row (after the previous window's start)
    stamped with the window's start, and leaves it at the first row of the whole
    file stamped with its end; this matters where a clock change repeats stamps.
    """
    stamps = pd.DatetimeIndex(pd.to_datetime(list(timestamps))).asi8
    rows: list[tuple[int, int]] = []
    cursor = 0
    for start, end in windows:
        start_ns = pd.Timestamp(start).value
        end_ns = pd.Timestamp(end).value
        starts = np.flatnonzero(stamps[cursor:] == start_ns)
        ends = np.flatnonzero(stamps == end_ns)
        if starts.size == 0 or ends.size == 0:
            missing = start if starts.size == 0 else end
            raise DataError(
                f"anomaly window bound {missing} matches no row of the series; "
                "window bounds must be timestamps of rows (NAB labels are)"
            )
        first, last = cursor + int(starts[0]), int(ends[0])
        if last < first:
            raise DataError(
                f"anomaly window {start} .. {end} ends before it starts "
                f"(rows {first} .. {last}); fix the labels"
            )
        rows.append((first, last))
        cursor = first + 1
    return rows


@dataclass
class NABSeries:
    """One series to score: per-row anomaly scores and inclusive window rows."""

    name: str
    scores: np.ndarray
    windows: list[tuple[int, int]]

    def sweep(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unweighted reward per row inside windows, unweighted penalty per row
        outside them, and the row's window number (``OUTSIDE``/``PROBATION``)."""
        n_rows = len(self.scores)
        reward = np.zeros(n_rows)
        penalty = np.zeros(n_rows)
        window_of = np.full(n_rows, OUTSIDE, dtype=np.int64)
        max_reward = float(scaled_sigmoid(np.array(-1.0)))
        cursor = 0
        previous: tuple[int, int] | None = None
        for number, (first, last) in enumerate([*self.windows, (n_rows, n_rows)]):
            outside = np.arange(cursor, min(first, n_rows))
            if previous is None:
                penalty[outside] = -1.0
            else:
                # A one-row window would divide by zero in NAB; treat it as two.
                width = max(previous[1] - previous[0], 1)
                penalty[outside] = scaled_sigmoid((outside - previous[1]) / width)
            if first >= n_rows:
                break
            inside = np.arange(first, last + 1)
            position = -(last - inside + 1) / (last - first + 1)
            reward[inside] = scaled_sigmoid(position) / max_reward
            window_of[inside] = number
            cursor, previous = last + 1, (first, last)
        window_of[: nab_probation_rows(n_rows)] = PROBATION
        return reward, penalty, window_of


@dataclass
class NABCorpusScore:
    """Result of scoring one detector's output on a corpus under one profile."""

    profile: str
    threshold: float
    raw_score: float
    null_score: float
    perfect_score: float
    per_series: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Normalised score: 0 = null detector, 100 = perfect detector."""
        return normalised_nab_score(self.raw_score, self.null_score, self.perfect_score)


def normalised_nab_score(raw: float, null: float, perfect: float) -> float:
    """``100 (raw - null) / (perfect - null)``."""
    return 100.0 * (raw - null) / (perfect - null)


def score_nab_corpus(
    series: Sequence[NABSeries],
    profiles: Mapping[str, NABProfile] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, NABCorpusScore]:
    """Score a detector on a corpus under each profile.

    Parameters
    ----------
    series : sequence of NABSeries
        Every series of the corpus with the detector's scores for every row.
    profiles : mapping, optional
        Profiles by name; NAB's three by default.
    thresholds : mapping, optional
        A fixed threshold per profile; by default each is optimised over the
        corpus as NAB does.
    """
    if not series:
        raise DataError("cannot score an empty corpus; pass at least one series")
    profiles = dict(profiles or NAB_PROFILES)
    sweeps = [item.sweep() for item in series]
    parts = _corpus_parts(series, sweeps)
    null_parts = _CorpusParts(
        np.zeros_like(parts.scores), parts.reward, parts.penalty, parts.window
    )
    n_windows = sum(len(item.windows) for item in series)

    results: dict[str, NABCorpusScore] = {}
    for name, profile in profiles.items():
        candidates, totals = _scores_by_threshold(parts, profile)
        if thresholds is not None and name in thresholds:
            threshold = float(thresholds[name])
        else:
            # Ties go to the highest threshold, like NAB's stable sort.
            threshold = float(candidates[int(np.argmax(totals))])
        per_series = {
            item.name: _series_score(item.scores, sweep, profile, threshold)
            for item, sweep in zip(series, sweeps, strict=True)
        }
        results[name] = NABCorpusScore(
            profile=name,
            threshold=threshold,
            raw_score=float(sum(row["score"] for row in per_series.values())),
            # The null detector's score, found the same way as anyone's.
            null_score=float(_scores_by_threshold(null_parts, profile)[1].max()),
            perfect_score=profile.tp_weight * n_windows,
            per_series=per_series,
        )
    return results


@dataclass
class _CorpusParts:
    scores: np.ndarray
    reward: np.ndarray
    penalty: np.ndarray
    window: np.ndarray  # corpus-wide window id, -1 outside


def _corpus_parts(
    series: Sequence[NABSeries],
    sweeps: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> _CorpusParts:
    scores, rewards, penalties, windows = [], [], [], []
    offset = 0
    for item, (reward, penalty, window_of) in zip(series, sweeps, strict=True):
        values = np.asarray(item.scores, dtype=float)
        if values.shape != reward.shape:
            raise DataError(
                f"{item.name}: got {values.size} scores for {reward.size} rows; "
                "score every row once"
            )
        if not np.isfinite(values).all():
            raise DataError(
                f"{item.name}: anomaly scores hold NaN/inf; score every row with "
                "a finite value"
            )
        keep = window_of != PROBATION
        scores.append(values[keep])
        rewards.append(reward[keep])
        penalties.append(penalty[keep])
        ids = window_of[keep]
        windows.append(np.where(ids >= 0, ids + offset, OUTSIDE))
        offset += len(item.windows)
    return _CorpusParts(
        np.concatenate(scores),
        np.concatenate(rewards),
        np.concatenate(penalties),
        np.concatenate(windows),
    )


def _scores_by_threshold(
    parts: _CorpusParts, profile: NABProfile
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate thresholds (``inf`` = no detection, then every distinct score
    in decreasing order) and the corpus raw score at each."""
    order = np.argsort(-parts.scores, kind="stable")
    scores = parts.scores[order]
    window = parts.window[order]
    inside = window >= 0
    counted = np.unique(parts.window[parts.window >= 0])
    base = -profile.fn_weight * counted.size

    # False positives add up; a window is worth its best detection so far.
    fp_steps = np.where(inside, 0.0, profile.fp_weight * parts.penalty[order])
    gains = np.zeros(scores.size)
    if inside.any():
        rows = np.flatnonzero(inside)
        ids = window[rows]
        values = profile.tp_weight * parts.reward[order][rows]
        by_window = np.argsort(ids, kind="stable")
        ids_sorted, values_sorted = ids[by_window], values[by_window]
        best = _grouped_running_max(ids_sorted, values_sorted, -profile.fn_weight)
        starts = np.r_[True, ids_sorted[1:] != ids_sorted[:-1]]
        previous = np.where(starts, -profile.fn_weight, np.r_[0.0, best[:-1]])
        gains[rows[by_window]] = best - previous
    totals_by_row = base + np.cumsum(fp_steps + gains)

    # The score at threshold t counts every row scoring >= t: the last row of
    # each run of equal scores.
    last_of_run = np.r_[scores[1:] != scores[:-1], True]
    candidates = np.r_[np.inf, scores[last_of_run]]
    totals = np.r_[base, totals_by_row[last_of_run]]
    return candidates, totals


def _grouped_running_max(
    groups: np.ndarray, values: np.ndarray, floor: float
) -> np.ndarray:
    """Running maximum of ``values`` (never below ``floor``) restarting at each
    new group; ``groups`` must be sorted."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    result = np.maximum(values, floor)
    for first, stop in zip(starts, np.r_[starts[1:], groups.size], strict=True):
        result[first:stop] = np.maximum.accumulate(result[first:stop])
    return result


def _series_score(
    scores: np.ndarray,
    sweep: tuple[np.ndarray, np.ndarray, np.ndarray],
    profile: NABProfile,
    threshold: float,
) -> dict[str, float]:
    reward, penalty, window_of = sweep
    detected = np.asarray(scores, dtype=float) >= threshold
    scorable = window_of != PROBATION
    inside = scorable & (window_of >= 0)
    outside = scorable & (window_of == OUTSIDE)

    score = float(profile.fp_weight * penalty[detected & outside].sum())
    for number in np.unique(window_of[inside]):
        hits = inside & detected & (window_of == number)
        score += (
            profile.tp_weight * float(reward[hits].max())
            if hits.any()
            else -profile.fn_weight
        )
    return {
        "score": score,
        "tp": int(np.count_nonzero(detected & inside)),
        "fp": int(np.count_nonzero(detected & outside)),
        "fn": int(np.count_nonzero(~detected & inside)),
        "tn": int(np.count_nonzero(~detected & outside)),
    }

"""Canary analysis: judge a new version against a baseline started with it.

Both cohorts report one sample per interval (say, per minute) of a few
metrics. :class:`KayentaJudge` compares each metric on its own, the way
Netflix Kayenta's Mann-Whitney classifier does; :class:`DetectorJudge`
compares an anomaly detector's per-step scores on the two cohorts;
:class:`CombinedJudge` merges several judges. :class:`CanaryAnalysis` repeats
a judgment every interval and, like an Argo Rollouts analysis run, continues,
promotes or rolls back. A ``CanaryPolicy`` document declares all of this
(see :mod:`aiops.policies`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol, TypeAlias

import numpy as np
import pandas as pd
from scipy import stats

from aiops.errors import ConfigError, DataError

Classification = Literal["Pass", "High", "Low", "NoData"]
Verdict = Literal["pass", "marginal", "fail", "nodata"]
Action = Literal["continue", "promote", "rollback"]
Samples: TypeAlias = Mapping[str, Any] | pd.DataFrame
Scorer = Callable[[pd.DataFrame], np.ndarray]

# Hodges-Lehmann needs every pairwise difference; past this many pairs both
# cohorts are thinned to evenly spaced quantiles, which moves the estimate by
# a fraction of one quantile step at a bounded cost.
_MAX_PAIRS = 250_000
_THINNED = 500

DIRECTIONS = ("increase", "decrease", "either")
NAN_STRATEGIES = ("remove", "replace")


@dataclass(frozen=True)
class MetricSpec:
    """One metric to compare between canary and baseline.

    Parameters
    ----------
    name
        Key of the metric in the samples, e.g. ``"latency_p99_seconds"``.
    direction
        Which change is bad. A Low on an ``"increase"`` metric, or a High on a
        ``"decrease"`` one, counts as a Pass.
    critical
        A failing critical metric fails the whole judgment, whatever the score.
    effect_size
        Shift tolerated even when significant, relative to the baseline's
        median (Kayenta's allowed increase/decrease): 0.1 accepts +/-10 %.
    absolute_tolerance
        Smallest shift that can fail, in the metric's unit, so that against a
        baseline of exactly 0 a tiny canary value is not a failure.
    nan_strategy
        ``"remove"`` drops missing samples (NaN or infinite); ``"replace"``
        counts them as 0, as Kayenta does for sparse counters.
    """

    name: str
    direction: Literal["increase", "decrease", "either"] = "increase"
    critical: bool = False
    effect_size: float = 0.1
    absolute_tolerance: float = 1e-4
    nan_strategy: Literal["remove", "replace"] = "remove"

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("metric name is empty; give the key of its samples")
        where = f"metric {self.name!r}:"
        _check_choice(f"{where} direction", self.direction, DIRECTIONS)
        _check_choice(f"{where} nan_strategy", self.nan_strategy, NAN_STRATEGIES)
        _check_non_negative(f"{where} effect_size", self.effect_size)
        _check_non_negative(f"{where} absolute_tolerance", self.absolute_tolerance)


@dataclass(frozen=True)
class MetricResult:
    """How one metric compared. ``shift`` is the Hodges-Lehmann estimate of
    canary minus baseline, ``shift_lower``/``shift_upper`` its two-sided
    confidence interval at the judge's confidence."""

    name: str
    classification: Classification
    reason: str
    p_value: float | None = None
    canary_median: float | None = None
    baseline_median: float | None = None
    shift: float | None = None
    shift_lower: float | None = None
    shift_upper: float | None = None
    critical: bool = False

    @property
    def failed(self) -> bool:
        """High or Low on a metric where that change is bad."""
        return self.classification in ("High", "Low")


@dataclass(frozen=True)
class JudgeResult:
    """A score out of 100 (None without data), its verdict and the metrics."""

    score: float | None
    verdict: Verdict
    metrics: tuple[MetricResult, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values."""
        metrics = [asdict(metric) for metric in self.metrics]
        return {"score": self.score, "verdict": self.verdict, "metrics": metrics}


class Judge(Protocol):
    """What :class:`CombinedJudge` and :class:`CanaryAnalysis` accept."""

    def judge(self, canary: pd.DataFrame, baseline: pd.DataFrame) -> JudgeResult: ...


class KayentaJudge:
    """Compare each metric's canary samples with the baseline's, one at a time.

    Per metric: fewer than ``min_samples`` values on either side is NoData;
    otherwise a two-sided Mann-Whitney U test at ``confidence`` and a
    Hodges-Lehmann estimate of the shift. A metric passes when the difference
    is not significant or the shift is within its tolerance, else it is High or
    Low. The score is the share of passing metrics among those with data.

    Parameters
    ----------
    metrics
        The metrics to compare, with unique names.
    confidence
        One minus the significance level of each test.
    marginal_threshold, pass_threshold
        A score below the first fails, from the second on passes, in between is
        marginal. A failing critical metric fails regardless.
    min_samples
        Values needed on each side once missing ones are handled.
    """

    def __init__(
        self,
        metrics: Sequence[MetricSpec],
        confidence: float = 0.98,
        marginal_threshold: float = 75.0,
        pass_threshold: float = 95.0,
        min_samples: int = 10,
    ) -> None:
        self.metrics = metrics
        self.confidence = confidence
        self.marginal_threshold = marginal_threshold
        self.pass_threshold = pass_threshold
        self.min_samples = min_samples
        names = [metric.name for metric in metrics]
        if not names or len(set(names)) != len(names):
            raise ConfigError(
                f"metrics {names}: expected at least one, with unique names"
            )
        _check_test_settings(confidence, min_samples)
        if not 0.0 <= marginal_threshold <= pass_threshold <= 100.0:
            raise ConfigError(
                f"thresholds marginal={marginal_threshold}, pass={pass_threshold}: "
                "expected 0 <= marginal <= pass <= 100"
            )

    def judge(self, canary: Samples, baseline: Samples) -> JudgeResult:
        """Judge mappings (or frames) of one 1-D array of samples per metric
        name; keys that no metric names are ignored."""
        results = [
            _compare(
                metric,
                _samples(canary, metric, "canary"),
                _samples(baseline, metric, "baseline"),
                two_sided=True,
                confidence=self.confidence,
                min_samples=self.min_samples,
            )
            for metric in self.metrics
        ]
        return _verdict(results, self.marginal_threshold, self.pass_threshold)


class DetectorJudge:
    """Compare an anomaly detector's per-step scores on the two cohorts.

    ``scorer`` maps a time-ordered frame of metric rows to one score per row,
    higher being more anomalous (NaN where it has no opinion yet). Both
    cohorts are scored, the first ``warmup`` scores of each dropped, and a
    one-sided Mann-Whitney test asks whether the canary scores higher; a
    significant shift beyond ``effect_size`` of the baseline's median score
    (and beyond ``absolute_tolerance``) fails. The result holds one metric,
    ``anomaly_score``, and scores 0 or 100.
    """

    def __init__(
        self,
        scorer: Scorer,
        confidence: float = 0.98,
        effect_size: float = 0.2,
        min_samples: int = 10,
        warmup: int = 0,
        absolute_tolerance: float = 1e-4,
    ) -> None:
        self.scorer = scorer
        self.confidence = confidence
        self.effect_size = effect_size
        self.min_samples = min_samples
        self.warmup = warmup
        self.absolute_tolerance = absolute_tolerance
        _check_test_settings(confidence, min_samples)
        _check_count("warmup", warmup, least=0)

    def judge(self, canary: pd.DataFrame, baseline: pd.DataFrame) -> JudgeResult:
        """Score both frames (same columns, time-ordered rows) and compare."""
        if list(canary.columns) != list(baseline.columns):
            raise DataError(
                f"canary columns {list(canary.columns)} differ from baseline "
                f"columns {list(baseline.columns)}; give both the same metrics"
            )
        metric = MetricSpec(
            "anomaly_score",
            effect_size=self.effect_size,
            absolute_tolerance=self.absolute_tolerance,
        )
        result = _compare(
            metric,
            self._scores(canary, "canary"),
            self._scores(baseline, "baseline"),
            two_sided=False,
            confidence=self.confidence,
            min_samples=self.min_samples,
        )
        return _verdict([result], 100.0, 100.0)

    def _scores(self, frame: pd.DataFrame, cohort: str) -> np.ndarray:
        scores = np.asarray(self.scorer(frame), dtype=np.float64).ravel()
        if scores.size != len(frame):
            raise DataError(
                f"the scorer returned {scores.size} scores for {len(frame)} "
                f"{cohort} rows; it must return one per row (NaN while warming up)"
            )
        scores = scores[self.warmup :]
        return scores[np.isfinite(scores)]


class CombinedJudge:
    """Several named judges of the same cohorts, merged into one verdict.

    With ``mode="any_fail"`` the merge fails as soon as one judge fails; with
    ``"all_fail"`` only when every judge with data fails. Either way it is
    nodata when every judge is, passes when every judge with data passes, and
    is marginal otherwise. The score is the lowest score with data; metric
    names are prefixed with their judge's (``"kayenta/error_ratio"``).
    """

    def __init__(
        self,
        judges: Sequence[tuple[str, Judge]],
        mode: Literal["any_fail", "all_fail"] = "any_fail",
    ) -> None:
        self.judges = judges
        self.mode = mode
        names = [name for name, _ in judges]
        if not names or len(set(names)) != len(names) or not all(names):
            raise ConfigError(
                f"judge names {names}: expected at least one, non-empty and unique"
            )
        _check_choice("mode", mode, ("any_fail", "all_fail"))

    def judge(self, canary: pd.DataFrame, baseline: pd.DataFrame) -> JudgeResult:
        """Run every judge on the frames and merge their results."""
        parts = [(name, judge.judge(canary, baseline)) for name, judge in self.judges]
        metrics = tuple(
            replace(metric, name=f"{name}/{metric.name}")
            for name, part in parts
            for metric in part.metrics
        )
        with_data = [part for _, part in parts if part.verdict != "nodata"]
        if not with_data:
            return JudgeResult(None, "nodata", metrics)

        failed = [part.verdict == "fail" for part in with_data]
        verdict: Verdict = "marginal"
        if any(failed) if self.mode == "any_fail" else all(failed):
            verdict = "fail"
        elif all(part.verdict == "pass" for part in with_data):
            verdict = "pass"
        score = min(part.score for part in with_data if part.score is not None)
        return JudgeResult(score, verdict, metrics)


@dataclass(frozen=True)
class Decision:
    """What a canary analysis decided after its ``measurement``-th judgment."""

    action: Action
    measurement: int
    judge: JudgeResult
    failures: int
    inconclusives: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values."""
        return asdict(self) | {"judge": self.judge.as_dict()}


class CanaryAnalysis:
    """Runs a judge every ``interval_s`` over the samples since the canary
    started, and decides, the way an Argo Rollouts analysis run does.

    Each :meth:`step` is one measurement. A ``fail`` verdict is a failure; a
    ``nodata`` one is inconclusive, and so is a ``marginal`` one when
    ``marginal_is_inconclusive`` (otherwise it counts as a pass). The canary
    is rolled back as soon as failures exceed ``failure_limit`` or
    inconclusives exceed ``inconclusive_limit``, and promoted after ``count``
    measurements within both limits.

    Notes
    -----
    Argo pauses an inconclusive run until a person decides; with no one to
    ask, this analysis rolls back, the safe side. A promote or rollback is
    final: later calls to :meth:`step` judge nothing and return that same
    decision until :meth:`reset`. The caller keeps the clock and calls
    :meth:`step` once :attr:`next_measurement_s` seconds have passed.
    """

    def __init__(
        self,
        judge: Judge,
        interval_s: float = 300.0,
        count: int = 6,
        failure_limit: int = 0,
        inconclusive_limit: int = 1,
        marginal_is_inconclusive: bool = True,
    ) -> None:
        self.judge = judge
        self.interval_s = interval_s
        self.count = count
        self.failure_limit = failure_limit
        self.inconclusive_limit = inconclusive_limit
        self.marginal_is_inconclusive = marginal_is_inconclusive
        if not (math.isfinite(interval_s) and interval_s > 0.0):
            raise ConfigError(f"interval_s = {interval_s!r}; expected seconds > 0")
        _check_count("count", count, least=1)
        _check_count("failure_limit", failure_limit, least=0)
        _check_count("inconclusive_limit", inconclusive_limit, least=0)
        self.reset()

    def reset(self) -> None:
        """Forget every measurement, ready for a new canary."""
        self._measurements = 0
        self._failures = 0
        self._inconclusives = 0
        self._final: Decision | None = None

    @property
    def next_measurement_s(self) -> float:
        """Seconds after the canary's start at which the next step is due."""
        return (self._measurements + 1) * self.interval_s

    def step(
        self, canary_frame: pd.DataFrame, baseline_frame: pd.DataFrame
    ) -> Decision:
        """Judge the samples since the start and decide; see the class notes."""
        if self._final is not None:
            return self._final
        result = self.judge.judge(canary_frame, baseline_frame)
        self._measurements += 1
        if result.verdict == "fail":
            self._failures += 1
        elif result.verdict == "nodata" or (
            result.verdict == "marginal" and self.marginal_is_inconclusive
        ):
            self._inconclusives += 1

        action: Action = "rollback"
        if self._failures > self.failure_limit:
            why = f"{self._failures} failures exceed the limit of {self.failure_limit}"
        elif self._inconclusives > self.inconclusive_limit:
            why = (
                f"{self._inconclusives} inconclusive measurements exceed the limit "
                f"of {self.inconclusive_limit}"
            )
        elif self._measurements >= self.count:
            action, why = "promote", "every measurement within the limits"
        else:
            action, why = "continue", f"{self.count - self._measurements} to go"
        done = f"measurement {self._measurements} of {self.count}: {result.verdict}"
        decision = Decision(
            action=action,
            measurement=self._measurements,
            judge=result,
            failures=self._failures,
            inconclusives=self._inconclusives,
            reason=f"{done}; {why}",
        )
        if action != "continue":
            self._final = decision
        return decision


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} = {value!r}; expected one of {list(allowed)}")


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ConfigError(f"{name} = {value!r}; expected a finite number >= 0")


def _check_count(name: str, value: int, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{name} = {value!r}; expected a whole number >= {least}")


def _check_test_settings(confidence: float, min_samples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence = {confidence!r}; expected 0 < confidence < 1")
    _check_count("min_samples", min_samples, least=2)


def _samples(source: Samples, metric: MetricSpec, cohort: str) -> np.ndarray:
    """One cohort's samples of a metric, the missing ones handled."""
    if metric.name not in source:
        found = list(source.columns if isinstance(source, pd.DataFrame) else source)
        raise DataError(
            f"metric {metric.name!r} is missing from the {cohort} samples; found "
            f"{found}; give every metric an array (an empty one counts as no data)"
        )
    try:
        values = np.asarray(source[metric.name], dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"{cohort} samples of {metric.name!r} are not numbers; pass floats"
        ) from None
    if values.ndim != 1:
        raise DataError(
            f"{cohort} samples of {metric.name!r} have shape {values.shape}; "
            "expected one value per interval (1-D)"
        )
    missing = ~np.isfinite(values)
    if metric.nan_strategy == "replace":
        return np.where(missing, 0.0, values)
    return values[~missing]


def _compare(
    metric: MetricSpec,
    canary: np.ndarray,
    baseline: np.ndarray,
    *,
    two_sided: bool,
    confidence: float,
    min_samples: int,
) -> MetricResult:
    """Classify a metric by a Mann-Whitney test and the Hodges-Lehmann shift
    of the canary over the baseline; one-sided asks only "is it higher?"."""
    name, critical = metric.name, metric.critical
    if min(canary.size, baseline.size) < min_samples:
        reason = (
            f"{canary.size} canary and {baseline.size} baseline samples; "
            f"need {min_samples} on each side"
        )
        return MetricResult(name, "NoData", reason, critical=critical)

    p_value = 1.0
    # One value repeated on both sides leaves nothing to rank (older SciPy
    # answers NaN): identical constants are no difference.
    if np.ptp(np.concatenate([canary, baseline])) > 0.0:
        side = "two-sided" if two_sided else "greater"
        test = stats.mannwhitneyu(canary, baseline, alternative=side)
        p_value = float(test.pvalue) if np.isfinite(test.pvalue) else 1.0
    shift, lower, upper = _hodges_lehmann(canary, baseline, confidence)
    canary_median = float(np.median(canary))
    baseline_median = float(np.median(baseline))

    allowed = max(metric.effect_size * abs(baseline_median), metric.absolute_tolerance)
    ratio = f" (x{canary_median / baseline_median:.3g})" if baseline_median else ""
    reason = (
        f"canary median {canary_median:.3g} vs baseline {baseline_median:.3g}"
        f"{ratio}, p={p_value:.2g}: "
    )
    classification: Classification = "Pass"
    tolerance = f"the {metric.effect_size:.0%} tolerance"
    if p_value >= 1.0 - confidence:
        reason += "no significant difference"
    elif abs(shift) <= allowed:
        reason += f"significant but within {tolerance}"
    elif metric.direction == ("decrease" if shift > 0 else "increase"):
        reason += f"{'higher' if shift > 0 else 'lower'}, which is harmless here"
    else:
        classification = "High" if shift > 0 else "Low"
        reason += f"{'higher' if shift > 0 else 'lower'} beyond {tolerance}"
    return MetricResult(
        name,
        classification,
        reason,
        p_value=p_value,
        canary_median=canary_median,
        baseline_median=baseline_median,
        shift=shift,
        shift_lower=lower,
        shift_upper=upper,
        critical=critical,
    )


def _hodges_lehmann(
    canary: np.ndarray, baseline: np.ndarray, confidence: float
) -> tuple[float, float, float]:
    """Median pairwise difference and its distribution-free interval.

    The interval's order statistics come from the normal approximation of the
    U statistic (Hollander & Wolfe, Nonparametric Statistical Methods, 4.3);
    where so few samples would leave it unbounded, the extreme differences
    stand in for the bounds.
    """
    if canary.size * baseline.size > _MAX_PAIRS:
        levels = np.linspace(0.0, 1.0, _THINNED)
        canary, baseline = np.quantile(canary, levels), np.quantile(baseline, levels)
    n, m = canary.size, baseline.size
    differences = np.sort(np.subtract.outer(canary, baseline).ravel())
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    rank = math.floor(n * m / 2.0 - z * math.sqrt(n * m * (n + m + 1) / 12.0))
    rank = min(max(rank, 1), (n * m + 1) // 2)
    median, lower = np.median(differences), differences[rank - 1]
    return float(median), float(lower), float(differences[n * m - rank])


def _verdict(
    results: Sequence[MetricResult], marginal_threshold: float, pass_threshold: float
) -> JudgeResult:
    """Score the metrics with data and turn the score into a verdict."""
    with_data = [result for result in results if result.classification != "NoData"]
    if not with_data:
        return JudgeResult(None, "nodata", tuple(results))
    score = 100.0 * sum(not result.failed for result in with_data) / len(with_data)
    verdict: Verdict = "pass"
    if score < marginal_threshold or any(r.failed and r.critical for r in with_data):
        verdict = "fail"
    elif score < pass_threshold:
        verdict = "marginal"
    return JudgeResult(score, verdict, tuple(results))

"""Canary analysis: the judges' classifications and rates, the analysis run's
decisions, and the policy documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from aiops.canary import (
    CanaryAnalysis,
    CombinedJudge,
    DetectorJudge,
    JudgeResult,
    KayentaJudge,
    MetricResult,
    MetricSpec,
)
from aiops.errors import ConfigError, DataError
from aiops.policies import build_canary_analysis, load_canary_policy
from tests.conftest import REPO

POLICIES = REPO / "data" / "policies"

FLEET_METRICS = (
    MetricSpec("error_ratio", critical=True, effect_size=0.25),
    MetricSpec("latency_p99_seconds", effect_size=0.2),
    MetricSpec("cpu_seconds_per_request", effect_size=0.2),
    MetricSpec("memory_ratio", effect_size=0.2),
)


def cohort(
    rng: np.random.Generator, size: int = 30, error_factor: float = 1.0
) -> dict[str, np.ndarray]:
    """Per-minute samples of a replica set serving 1000 requests a minute."""
    return {
        "error_ratio": rng.poisson(10.0 * error_factor, size) / 1000.0,
        "latency_p99_seconds": rng.gamma(20.0, 0.01, size),
        "cpu_seconds_per_request": rng.normal(0.02, 0.002, size),
        "memory_ratio": rng.normal(0.5, 0.03, size),
    }


def one_metric(
    canary: Any, baseline: Any, **spec: Any
) -> tuple[JudgeResult, MetricResult]:
    judge = KayentaJudge([MetricSpec("m", **spec)])
    result = judge.judge({"m": np.asarray(canary)}, {"m": np.asarray(baseline)})
    return result, result.metrics[0]


def test_identical_noisy_samples_pass_with_full_score(seed: int) -> None:
    samples = cohort(np.random.default_rng(seed))
    result = KayentaJudge(FLEET_METRICS).judge(samples, samples)
    assert (result.score, result.verdict) == (100.0, "pass")
    assert all(m.p_value == pytest.approx(1.0) for m in result.metrics)
    assert all(m.shift == 0.0 for m in result.metrics)


def test_a_tripled_error_ratio_is_high_and_fails_the_run(seed: int) -> None:
    rng = np.random.default_rng(seed)
    canary, baseline = cohort(rng, error_factor=3.0), cohort(rng)
    result = KayentaJudge(FLEET_METRICS).judge(canary, baseline)
    errors = result.metrics[0]
    assert errors.classification == "High" and errors.critical
    assert errors.p_value is not None and errors.p_value < 1e-6
    assert errors.shift_lower is not None and errors.shift_lower > 0.01
    assert "(x3" in errors.reason and "higher beyond the 25% tolerance" in errors.reason
    # Three of four metrics pass, which alone would be marginal.
    assert (result.score, result.verdict) == (75.0, "fail")


@pytest.mark.parametrize(
    ("direction", "offset", "classification", "verdict"),
    [
        ("increase", -0.5, "Pass", "pass"),
        ("increase", +0.5, "High", "fail"),
        ("decrease", -0.5, "Low", "fail"),
        ("decrease", +0.5, "Pass", "pass"),
        ("either", -0.5, "Low", "fail"),
        ("either", +0.5, "High", "fail"),
    ],
)
def test_only_the_bad_direction_fails(
    seed: int, direction: str, offset: float, classification: str, verdict: str
) -> None:
    rng = np.random.default_rng(seed)
    baseline = rng.normal(1.0, 0.05, 30)
    canary = rng.normal(1.0 + offset, 0.05, 30)
    result, metric = one_metric(canary, baseline, direction=direction)
    assert (metric.classification, result.verdict) == (classification, verdict)
    if classification == "Pass":
        assert metric.reason.endswith("which is harmless here")


@pytest.mark.parametrize(
    ("offset", "classification", "ending"),
    [
        (0.05, "Pass", "significant but within the 10% tolerance"),
        (0.09, "Pass", "significant but within the 10% tolerance"),
        (0.15, "High", "higher beyond the 10% tolerance"),
        (0.0, "Pass", "no significant difference"),
    ],
)
def test_a_significant_shift_within_the_effect_size_passes(
    seed: int, offset: float, classification: str, ending: str
) -> None:
    rng = np.random.default_rng(seed)
    baseline = rng.normal(1.0, 0.01, 30)
    canary = baseline + offset
    _, metric = one_metric(canary, baseline, effect_size=0.1)
    assert metric.classification == classification
    assert metric.reason.endswith(ending)
    assert metric.shift == pytest.approx(offset)


def test_too_few_samples_is_no_data_and_left_out_of_the_score(seed: int) -> None:
    rng = np.random.default_rng(seed)
    judge = KayentaJudge(FLEET_METRICS)
    short = judge.judge(cohort(rng, size=9), cohort(rng, size=30))
    assert (short.score, short.verdict) == (None, "nodata")
    assert {m.classification for m in short.metrics} == {"NoData"}
    assert short.metrics[0].reason == (
        "9 canary and 30 baseline samples; need 10 on each side"
    )

    canary, baseline = cohort(rng), cohort(rng)
    canary["memory_ratio"] = canary["memory_ratio"][:3]
    mixed = judge.judge(canary, baseline)
    assert [m.classification for m in mixed.metrics][-1] == "NoData"
    assert (mixed.score, mixed.verdict) == (100.0, "pass")


@pytest.mark.parametrize(
    ("strategy", "classification", "canary_median"),
    [
        # Eighteen missing values are dropped: twelve values of 1.0 remain.
        ("remove", "Pass", 1.0),
        # Counted as 0, they make most of the canary fall far below the baseline.
        ("replace", "Low", 0.0),
    ],
)
def test_missing_samples_are_removed_or_replaced_by_zero(
    strategy: str, classification: str, canary_median: float
) -> None:
    canary = np.r_[np.full(12, 1.0), np.full(9, np.nan), np.full(9, np.inf)]
    baseline = np.full(30, 1.0)
    _, metric = one_metric(canary, baseline, direction="either", nan_strategy=strategy)
    assert metric.classification == classification
    assert metric.canary_median == canary_median
    if strategy == "remove":
        assert metric.p_value == 1.0


@pytest.mark.parametrize(
    ("canary", "baseline"),
    [
        (np.full(30, 0.25), np.full(30, 0.25)),
        (np.zeros(30), np.zeros(30)),
        # Significant, but a millionth above a baseline of exactly zero.
        (np.full(30, 1e-6), np.zeros(30)),
    ],
)
def test_constant_samples_pass(canary: np.ndarray, baseline: np.ndarray) -> None:
    result, metric = one_metric(canary, baseline, direction="either")
    assert (metric.classification, result.verdict, result.score) == (
        "Pass",
        "pass",
        100.0,
    )


@pytest.mark.parametrize("effect_size", [0.0, 0.2])
def test_good_canaries_rarely_fail(effect_size: float) -> None:
    # Without any tolerance this is the tests' own false-positive rate: about
    # 2 % per metric at 98 % confidence.
    judge = KayentaJudge([replace(m, effect_size=effect_size) for m in FLEET_METRICS])
    verdicts = [
        judge.judge(cohort(rng), cohort(rng)).verdict
        for rng in map(np.random.default_rng, range(200))
    ]
    assert verdicts.count("fail") <= 10


def test_a_doubled_error_ratio_is_caught() -> None:
    judge = KayentaJudge(FLEET_METRICS)
    verdicts = [
        judge.judge(cohort(rng, error_factor=2.0), cohort(rng)).verdict
        for rng in map(np.random.default_rng, range(200))
    ]
    assert verdicts.count("fail") >= 190


def test_results_are_json_ready(seed: int) -> None:
    rng = np.random.default_rng(seed)
    result = KayentaJudge(FLEET_METRICS).judge(cohort(rng, 5), cohort(rng))
    back = json.loads(json.dumps(result.as_dict()))
    assert back["verdict"] == "nodata" and back["score"] is None
    assert back["metrics"][0]["name"] == "error_ratio"
    assert back["metrics"][0]["classification"] == "NoData"


def test_frames_and_mappings_judge_alike(seed: int) -> None:
    rng = np.random.default_rng(seed)
    canary, baseline = cohort(rng, error_factor=3.0), cohort(rng)
    judge = KayentaJudge(FLEET_METRICS)
    from_frames = judge.judge(pd.DataFrame(canary), pd.DataFrame(baseline))
    assert from_frames == judge.judge(canary, baseline)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MetricSpec("m", direction="up"), r"direction = 'up'; expected one"),  # type: ignore[arg-type]
        (lambda: MetricSpec("m", effect_size=-1), r"effect_size = -1; expected a"),
        (lambda: MetricSpec(""), "metric name is empty"),
        (lambda: KayentaJudge([]), r"metrics \[\]: expected at least one"),
        (
            lambda: KayentaJudge([MetricSpec("a"), MetricSpec("a")]),
            "with unique names",
        ),
        (lambda: KayentaJudge(FLEET_METRICS, confidence=98), "confidence = 98; "),
        (lambda: KayentaJudge(FLEET_METRICS, min_samples=1), "min_samples = 1; "),
        (
            lambda: KayentaJudge(FLEET_METRICS, marginal_threshold=96),
            r"marginal=96, pass=95.0: expected 0 <= marginal <= pass <= 100",
        ),
        (lambda: DetectorJudge(np.ones, warmup=-1), "warmup = -1; expected a whole"),
        (lambda: CombinedJudge([]), "judge names"),
        (lambda: CombinedJudge([("a", Fixed("pass"))], "most"), "mode = 'most'"),  # type: ignore[arg-type]
        (lambda: CanaryAnalysis(KayentaJudge(FLEET_METRICS), count=0), "count = 0"),
        (
            lambda: CanaryAnalysis(KayentaJudge(FLEET_METRICS), interval_s=0),
            "interval_s = 0; expected seconds > 0",
        ),
    ],
)
def test_bad_settings_are_refused(make: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.mark.parametrize(
    ("canary", "message"),
    [
        ({}, r"metric 'm' is missing from the canary samples; found \[\]"),
        ({"m": np.ones((3, 10))}, r"have shape \(3, 10\); expected one value"),
        ({"m": ["a", "b"]}, "canary samples of 'm' are not numbers"),
    ],
)
def test_bad_samples_are_refused(canary: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        KayentaJudge([MetricSpec("m")]).judge(canary, {"m": np.ones(10)})


def distance_from_normal(frame: pd.DataFrame) -> np.ndarray:
    """A stand-in detector: how far each row is from the healthy mean, in
    healthy standard deviations, with a 3-row warm-up."""
    healthy_mean = np.array([0.01, 0.2])
    healthy_std = np.array([0.003, 0.02])
    scores = np.abs((frame.to_numpy() - healthy_mean) / healthy_std).mean(axis=1)
    scores[:3] = np.nan
    return scores


def rows(rng: np.random.Generator, shift: float = 0.0, size: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "error_ratio": rng.normal(0.01 + shift * 0.003, 0.003, size),
            "latency_p99_seconds": rng.normal(0.2 + shift * 0.02, 0.02, size),
        }
    )


@pytest.mark.parametrize(
    ("shift", "verdict", "classification"),
    [(0.0, "pass", "Pass"), (2.0, "fail", "High"), (-2.0, "fail", "High")],
)
def test_detector_judge_flags_a_canary_that_scores_higher(
    seed: int, shift: float, verdict: str, classification: str
) -> None:
    rng = np.random.default_rng(seed)
    judge = DetectorJudge(distance_from_normal, warmup=3)
    result = judge.judge(rows(rng, shift), rows(rng))
    assert result.verdict == verdict
    assert result.score == (100.0 if verdict == "pass" else 0.0)
    [metric] = result.metrics
    assert (metric.name, metric.classification) == ("anomaly_score", classification)


def test_detector_judge_needs_one_score_per_row(seed: int) -> None:
    rng = np.random.default_rng(seed)
    judge = DetectorJudge(lambda frame: np.ones(len(frame) - 1))
    with pytest.raises(DataError, match="returned 39 scores for 40 canary rows"):
        judge.judge(rows(rng), rows(rng))
    with pytest.raises(DataError, match=r"canary columns .* differ from baseline"):
        judge.judge(rows(rng)[["error_ratio"]], rows(rng))


def test_detector_judge_without_enough_scores_has_no_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    judge = DetectorJudge(distance_from_normal, min_samples=10, warmup=3)
    result = judge.judge(rows(rng, size=12), rows(rng))
    assert (result.verdict, result.score) == ("nodata", None)


class Fixed:
    """A judge that always returns one verdict and score."""

    def __init__(self, verdict: str, score: float | None = None) -> None:
        default = {"pass": 100.0, "marginal": 80.0, "fail": 25.0, "nodata": None}
        self.result = JudgeResult(
            score if score is not None else default[verdict],
            verdict,  # type: ignore[arg-type]
            (MetricResult("m", "Pass", "fixed"),),
        )

    def judge(self, canary: pd.DataFrame, baseline: pd.DataFrame) -> JudgeResult:
        return self.result


@pytest.mark.parametrize(
    ("verdicts", "any_fail", "all_fail", "score"),
    [
        (("pass", "pass"), "pass", "pass", 100.0),
        (("pass", "fail"), "fail", "marginal", 25.0),
        (("fail", "fail"), "fail", "fail", 25.0),
        (("pass", "marginal"), "marginal", "marginal", 80.0),
        (("pass", "nodata"), "pass", "pass", 100.0),
        (("fail", "nodata"), "fail", "fail", 25.0),
        (("nodata", "nodata"), "nodata", "nodata", None),
    ],
)
def test_combined_verdicts(
    verdicts: tuple[str, str], any_fail: str, all_fail: str, score: float | None
) -> None:
    judges = [("kayenta", Fixed(verdicts[0])), ("detector", Fixed(verdicts[1]))]
    frame = pd.DataFrame({"m": [1.0]})
    for mode, expected in (("any_fail", any_fail), ("all_fail", all_fail)):
        result = CombinedJudge(judges, mode).judge(frame, frame)  # type: ignore[arg-type]
        assert (result.verdict, result.score) == (expected, score)
        assert [m.name for m in result.metrics] == ["kayenta/m", "detector/m"]


def test_combined_judge_runs_real_judges(seed: int) -> None:
    rng = np.random.default_rng(seed)
    canary, baseline = rows(rng, shift=2.0), rows(rng)
    kayenta = KayentaJudge([MetricSpec("error_ratio", critical=True)])
    detector = DetectorJudge(distance_from_normal, warmup=3)
    result = CombinedJudge([("kayenta", kayenta), ("detector", detector)]).judge(
        canary, baseline
    )
    assert result.verdict == "fail"
    assert [m.name for m in result.metrics] == [
        "kayenta/error_ratio",
        "detector/anomaly_score",
    ]


class Scripted:
    """A judge that returns the given verdicts, one per call."""

    def __init__(self, verdicts: str) -> None:
        self.calls = 0
        self.verdicts: Iterator[str] = iter(verdicts.split())

    def judge(self, canary: pd.DataFrame, baseline: pd.DataFrame) -> JudgeResult:
        self.calls += 1
        return Fixed(next(self.verdicts)).result


@pytest.mark.parametrize(
    ("verdicts", "settings", "actions"),
    [
        ("pass pass pass", {}, "continue continue promote"),
        ("pass fail", {}, "continue rollback"),
        ("fail pass pass", {"failure_limit": 1}, "continue continue promote"),
        ("fail pass fail", {"failure_limit": 1}, "continue continue rollback"),
        ("nodata pass pass", {}, "continue continue promote"),
        ("nodata nodata", {}, "continue rollback"),
        ("nodata marginal", {}, "continue rollback"),
        (
            "marginal marginal pass",
            {"marginal_is_inconclusive": False},
            "continue continue promote",
        ),
        ("nodata", {"inconclusive_limit": 0}, "rollback"),
        ("fail", {"failure_limit": 0, "count": 1}, "rollback"),
    ],
)
def test_analysis_decisions(
    verdicts: str, settings: dict[str, Any], actions: str
) -> None:
    analysis = CanaryAnalysis(Scripted(verdicts), **({"count": 3} | settings))
    frame = pd.DataFrame({"m": [1.0]})
    decisions = [analysis.step(frame, frame) for _ in verdicts.split()]
    assert " ".join(d.action for d in decisions) == actions
    assert [d.measurement for d in decisions] == list(range(1, len(decisions) + 1))


def test_a_final_decision_is_repeated_until_reset() -> None:
    judge = Scripted("pass fail pass pass")
    analysis = CanaryAnalysis(judge, interval_s=60.0, count=2)
    frame = pd.DataFrame({"m": [1.0]})
    assert analysis.next_measurement_s == 60.0
    analysis.step(frame, frame)
    assert analysis.next_measurement_s == 120.0
    final = analysis.step(frame, frame)
    assert final.action == "rollback" and (final.failures, final.inconclusives) == (
        1,
        0,
    )
    assert final.reason == (
        "measurement 2 of 2: fail; 1 failures exceed the limit of 0"
    )
    assert analysis.step(frame, frame) is final and judge.calls == 2
    analysis.reset()
    assert analysis.step(frame, frame).action == "continue"
    assert json.loads(json.dumps(final.as_dict()))["judge"]["verdict"] == "fail"


def test_analysis_rolls_back_a_bad_canary_from_samples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    analysis = CanaryAnalysis(KayentaJudge(FLEET_METRICS, min_samples=5), count=6)
    canary, baseline = cohort(rng, 60, error_factor=3.0), cohort(rng, 60)
    decisions = []
    for minutes in (5, 10, 15):
        canary_frame = pd.DataFrame(canary).iloc[:minutes]
        baseline_frame = pd.DataFrame(baseline).iloc[:minutes]
        decisions.append(analysis.step(canary_frame, baseline_frame))
        if decisions[-1].action != "continue":
            break
    assert decisions[-1].action == "rollback"
    assert decisions[-1].judge.metrics[0].classification == "High"


@pytest.mark.parametrize(
    ("name", "judge_type"),
    [("canary-kayenta.yaml", KayentaJudge), ("canary-combined.yaml", CombinedJudge)],
)
def test_committed_documents_build_their_analysis(name: str, judge_type: type) -> None:
    document = load_canary_policy(POLICIES / name)
    analysis = build_canary_analysis(document, scorer=distance_from_normal)
    assert document.metadata.name == name[:-5]
    assert isinstance(analysis.judge, judge_type)
    assert (analysis.interval_s, analysis.count, analysis.inconclusive_limit) == (
        300.0,
        6,
        1,
    )
    assert document.spec.metrics[0].name == "error_ratio"


def test_a_detector_policy_needs_a_scorer() -> None:
    document = load_canary_policy(POLICIES / "canary-combined.yaml")
    with pytest.raises(ConfigError, match=r"train a detector first \(`aiops train"):
        build_canary_analysis(document)
    detector_only = load_canary_policy(_document(judge="detector", metrics=[]))
    analysis = build_canary_analysis(detector_only, scorer=distance_from_normal)
    assert isinstance(analysis.judge, DetectorJudge)


def _document(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "aiops/v1",
        "kind": "CanaryPolicy",
        "metadata": {"name": "c"},
        "spec": {"judge": "kayenta", "metrics": [{"name": "error_ratio"}], **spec},
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            _document(metrics=[{"name": "e", "direction": "up"}]),
            "policy: spec.metrics.0.direction = 'up'; input should be "
            "'increase', 'decrease' or 'either'",
        ),
        (
            _document(metrics=[{"name": "e", "effectSize": -1}]),
            "spec.metrics.0.effectSize = -1; input should be greater than or equal",
        ),
        (_document(count=0), "spec.count = 0; input should be greater than"),
        (_document(judge="magic"), "spec.judge = 'magic'; input should be 'kayenta'"),
        (_document(colour="red"), "spec.colour = 'red'; extra inputs"),
        (_document(metrics=[]), "spec: the kayenta judge needs at least one metric"),
        (
            _document(marginalThreshold=96),
            "spec: marginalThreshold 96 is above passThreshold 95; lower it",
        ),
        (
            _document(metrics=[{"name": "e"}, {"name": "e"}]),
            r"metric names \['e', 'e'\] repeat",
        ),
        (
            {**_document(), "kind": "Canary"},
            "kind = 'Canary'; expected one of ScalingPolicy, CanaryPolicy",
        ),
    ],
)
def test_bad_documents_name_the_field(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_canary_policy(document)
    assert "\n" not in str(caught.value)


def test_a_scaling_policy_is_not_a_canary_policy() -> None:
    with pytest.raises(ConfigError, match="'hpa' is a ScalingPolicy; expected a "):
        load_canary_policy(POLICIES / "hpa.yaml")


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"policy file .* does not exist"):
        load_canary_policy(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected a mapping"):
        load_canary_policy(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("spec: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_canary_policy(tmp_path / "bad.yaml")

"""Judge canary policies in closed loop on a scenario suite.

Every canary policy runs every suite scenario that releases by canary, with
the scenario's seed; its verdicts act on the simulator (a rollback takes the
new version's traffic away at once). Each release in the judged window
counts: a bad release rolled back is caught, a good one rolled back is a
false rollback, and the time to verdict runs from the moment the canary takes
traffic. The scenario's built-in controller (an error-ratio and latency
alarm) runs beside the policies as a reference.

The detector-based judges need an anomaly detector of cohort telemetry. It is
an LSTM forecaster trained on healthy cohorts only: the canary and baseline
samples of the releases in each scenario's warm-up, which are all good.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aiops.canary import Scorer
from aiops.policies import CanaryPolicyDocument, build_canary_analysis
from aiops.simulator import simulate
from aiops.simulator.cohorts import COHORT_METRICS
from aiops.suite import Suite, SuiteScenario

logger = logging.getLogger(__name__)

BUILTIN = "builtin"
# small and fast: cohorts report a few dozen samples per release
COHORT_DETECTOR: dict[str, Any] = {
    "window": 5,
    "hidden_size": 16,
    "num_layers": 1,
    "epochs": 8,
    "batch_size": 64,
    "windows_per_epoch": 2048,
    "require_regular": False,
    "seed": 0,
}


def canary_scenarios(suite: Suite) -> list[SuiteScenario]:
    return [s for s in suite.scenarios if s.spec.deployment.strategy == "canary"]


def cohort_rows(samples: pd.DataFrame) -> pd.DataFrame:
    """The metric columns of cohort samples, as a detector reads them: an
    empty cohort minute (no requests) has no error ratio, read as 0."""
    return samples[list(COHORT_METRICS)].fillna(0.0).reset_index(drop=True)


def train_cohort_detector(healthy: pd.DataFrame, seed: int = 0) -> Any:
    """An LSTM forecast detector of healthy cohort samples (long frame with
    the cohort metric columns, in time order within each release)."""
    from aiops.detectors import LSTMForecastDetector

    settings = {**COHORT_DETECTOR, "seed": seed}
    return LSTMForecastDetector(**settings).fit(cohort_rows(healthy))


def detector_scorer(detector: Any) -> Scorer:
    """The per-row anomaly score of a cohort frame under ``detector``; NaN
    while the frame is no longer than the detector's context window."""

    def score(frame: pd.DataFrame) -> np.ndarray:
        if len(frame) <= detector.window:  # not one step past the context yet
            return np.full(len(frame), np.nan)
        return np.asarray(detector.score_samples(cohort_rows(frame)), dtype=float)

    return score


def cohort_samples(suite: Suite) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cohort samples of the suite's canary scenarios under the built-in
    controller: (every release of the warm-ups, which holds no bad one; the
    releases of the judged windows, with ``bad`` marking the canary cohorts
    of bad releases)."""
    healthy, judged = [], []
    for scenario in canary_scenarios(suite):
        telemetry = simulate(
            scenario.spec, days=scenario.days, seed=scenario.seed, logs=False
        )
        samples = telemetry.canary_samples
        warmup = (samples["timestamp"] < pd.Timestamp(scenario.judged_from)).to_numpy()
        healthy.append(samples.loc[warmup])
        later = samples.loc[~warmup].copy()
        deploys = telemetry.deploys
        bad_versions = set(deploys.loc[deploys["bad"].astype(bool), "version"])
        later["bad"] = later["version"].isin(bad_versions) & (
            later["cohort"] == "canary"
        )
        judged.append(later)
    columns = ["timestamp", "version", "cohort", *COHORT_METRICS]
    return (
        pd.concat(healthy, ignore_index=True)
        if healthy
        else pd.DataFrame(columns=columns),
        pd.concat(judged, ignore_index=True)
        if judged
        else pd.DataFrame(columns=[*columns, "bad"]),
    )


def held_out_auc_pr(detector: Any, judged: pd.DataFrame) -> float:
    """How well the detector's scores single out the canary cohorts of bad
    releases among all judged-window cohort samples (AUC-PR), each cohort of
    each release scored on its own, as a canary analysis scores it."""
    from aiops.evaluation import auc_pr

    scorer = detector_scorer(detector)
    scores, labels = [], []
    for _, frame in judged.groupby(["version", "cohort"], sort=False):
        values = scorer(frame)
        keep = np.isfinite(values)
        scores.append(values[keep])
        labels.append(frame["bad"].to_numpy(dtype=bool)[keep])
    if not scores or not np.concatenate(labels).any():
        return float("nan")
    return float(auc_pr(np.concatenate(labels), np.concatenate(scores)))


@dataclass
class CanaryOutcome:
    """One canary policy on one scenario: a row per judged-window release."""

    scenario: str
    policy: str
    deploys: pd.DataFrame

    def metrics(self) -> dict[str, float]:
        return canary_metrics(self.deploys)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "policy": self.policy, **self.metrics()}


def canary_metrics(deploys: pd.DataFrame) -> dict[str, float]:
    """Bad deploys caught, false rollbacks, time to verdict and the requests
    a bad version served, over the releases in ``deploys``."""
    bad = deploys[deploys["bad"].astype(bool)]
    good = deploys[~deploys["bad"].astype(bool)]
    caught = bad["rolled_back"].astype(bool) & bad["reason"].str.startswith(
        ("canary analysis", "automated rollback")
    )
    false = good["rolled_back"].astype(bool)
    decided = deploys["seconds_to_verdict"].astype(float)
    return {
        "releases": float(len(deploys)),
        "bad_deploys": float(len(bad)),
        "bad_caught": float(caught.sum()),
        "good_deploys": float(len(good)),
        "false_rollbacks": float(false.sum()),
        "seconds_to_verdict": _mean(decided),
        "seconds_to_verdict_bad": _mean(decided[deploys["bad"].astype(bool)]),
        "seconds_to_catch": _mean(bad.loc[caught, "seconds_to_verdict"].astype(float)),
        "requests_on_bad_versions": float(bad["requests_on_new_version"].sum()),
    }


def _mean(values: pd.Series) -> float:
    finite = values[np.isfinite(values.to_numpy(dtype=float))]
    return float(finite.mean()) if len(finite) else float("nan")


def run_canary_suite(
    suite: Suite,
    policies: Mapping[str, CanaryPolicyDocument],
    scorer: Scorer | None = None,
    include_builtin: bool = True,
) -> list[CanaryOutcome]:
    """Run every canary policy (and the built-in controller) on every canary
    scenario of ``suite``."""
    outcomes: list[CanaryOutcome] = []
    for scenario in canary_scenarios(suite):
        began = time.perf_counter()
        runs: dict[str, Any] = {BUILTIN: None} if include_builtin else {}
        for name, document in policies.items():
            runs[name] = build_canary_analysis(document, scorer=scorer)
        for name, analysis in runs.items():
            telemetry = simulate(
                scenario.spec,
                days=scenario.days,
                seed=scenario.seed,
                logs=False,
                canary=analysis,
            )
            deploys = telemetry.deploys
            judged = deploys["timestamp"] >= pd.Timestamp(scenario.judged_from)
            outcomes.append(
                CanaryOutcome(scenario.name, name, deploys.loc[judged.to_numpy()])
            )
        logger.info(
            "scenario %s: %d canary policies in %.2f s",
            scenario.name,
            len(runs),
            time.perf_counter() - began,
        )
    return outcomes


def canary_totals(outcomes: list[CanaryOutcome]) -> dict[str, dict[str, float]]:
    """Per policy, over the suite: the counts, the catch and false-rollback
    rates, and the mean time to verdict."""
    by_policy: dict[str, list[pd.DataFrame]] = {}
    for outcome in outcomes:
        by_policy.setdefault(outcome.policy, []).append(outcome.deploys)
    totals = {}
    for policy, frames in by_policy.items():
        kept = [frame for frame in frames if len(frame)] or frames[:1]
        metrics = canary_metrics(pd.concat(kept, ignore_index=True))
        bad, good = metrics["bad_deploys"], metrics["good_deploys"]
        metrics["catch_rate"] = metrics["bad_caught"] / bad if bad else float("nan")
        metrics["false_rollback_rate"] = (
            metrics["false_rollbacks"] / good if good else float("nan")
        )
        totals[policy] = metrics
    return totals

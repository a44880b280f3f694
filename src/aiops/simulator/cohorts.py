"""What a canary analysis sees: per-minute metrics of two cohorts.

While a canary release holds its share of the traffic, a baseline cohort of
the old version, started at the same time, takes an equal share (as Kayenta
and Argo Rollouts set it up). Each cohort reports one sample per step:

* ``error_ratio``: failed over served requests, drawn binomially from the
  requests the cohort served, so a small cohort is a noisy one;
* ``latency_p99_seconds``: the version's p99, times a load shock both
  cohorts share, times measurement noise of each cohort's own;
* ``cpu_seconds_per_request`` and ``memory_ratio`` (resident memory over the
  pod's limit), with their own noise.

A good release is never quite the old version: each one shifts latency, CPU
and memory a little at random, which a judge must tolerate. A defective one
adds its defect's cost on top (see :mod:`aiops.simulator.deployments`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from aiops.simulator.spec import ScenarioSpec

COHORT_METRICS = (
    "error_ratio",
    "latency_p99_seconds",
    "cpu_seconds_per_request",
    "memory_ratio",
)
P99_OVER_MEAN = 3.0  # p99 latency of a healthy pod over its mean service time
BASE_MEMORY_RATIO = 0.55  # resident memory over the limit, healthy pod
SHARED_SHOCK_SD = 0.08  # load-driven latency swings both cohorts see
BENIGN_SHIFT_SD = 0.03  # how far a good release drifts from the old one


def cohort_samples(
    spec: ScenarioSpec,
    offered_rps: np.ndarray,
    share: float,
    steps: np.ndarray,
    version_cost: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    rng: np.random.Generator,
    step_s: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(canary, baseline) samples at ``steps``; ``version_cost`` is the
    canary's own (error ratio, latency factor, cpu factor, memory ratio) at
    those steps, all ones and zeros for a good release."""
    app = spec.services[spec.service_of_kind("app") or ""]
    noise = spec.deployment.canary_metric_noise
    n = steps.size
    requests = np.maximum(np.round(offered_rps[steps] * share * step_s), 0.0)
    errors, latency, cpu, memory = version_cost

    shifts = np.exp(rng.normal(0.0, BENIGN_SHIFT_SD, size=2))
    memory_shift = rng.normal(0.0, BENIGN_SHIFT_SD / 3.0)
    shared = np.exp(rng.normal(0.0, SHARED_SHOCK_SD, size=n))
    base_p99 = app.latency_seconds * P99_OVER_MEAN * shared

    def cohort(
        error_ratio: np.ndarray,
        latency_factor: np.ndarray,
        cpu_factor: np.ndarray,
        memory_ratio: np.ndarray,
    ) -> pd.DataFrame:
        failed = rng.binomial(requests.astype(np.int64), np.clip(error_ratio, 0, 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            observed = np.where(requests > 0, failed / requests, np.nan)
        values: dict[str, Any] = {
            "error_ratio": observed,
            "latency_p99_seconds": base_p99
            * latency_factor
            * np.exp(rng.normal(0.0, noise, size=n)),
            "cpu_seconds_per_request": app.cpu_seconds_per_request
            * cpu_factor
            * np.exp(rng.normal(0.0, noise, size=n)),
            "memory_ratio": np.clip(
                memory_ratio + rng.normal(0.0, noise / 5.0, size=n), 0.0, 1.5
            ),
        }
        return pd.DataFrame(values, index=pd.Index(steps, name="step"))

    ones = np.ones(n)
    baseline = cohort(
        np.full(n, app.base_error_ratio), ones, ones, np.full(n, BASE_MEMORY_RATIO)
    )
    canary = cohort(
        app.base_error_ratio + errors,
        latency * shifts[0],
        cpu * shifts[1],
        BASE_MEMORY_RATIO + memory_shift + (1.0 - BASE_MEMORY_RATIO) * memory,
    )
    return canary, baseline


def measurement_steps(
    first_step: int, interval_s: float, count: int, step_s: float, n_steps: int
) -> list[int]:
    """Steps at which an analysis with ``count`` measurements every
    ``interval_s`` takes them, counting from ``first_step``; the analysis may
    stop early."""
    every = max(1, math.ceil(interval_s / step_s - 1e-9))
    # a rollback needs one more step to take effect, so stop short of the end
    return [
        first_step + k * every - 1
        for k in range(1, count + 1)
        if first_step + k * every - 1 < n_steps - 1
    ]

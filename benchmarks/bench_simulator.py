"""Simulator speed and memory.

* 30 days of production (1-minute steps, HPA in the loop, logs and access log
  included) on one core: wall-clock time, target < 5 s;
* throughput in labelled metric samples per second;
* simulator time over the time numpy takes to draw as many Gaussian samples
  (the cost of "just noise"), aim <= 10x;
* peak resident memory of 90 days of the experimental profile, measured in a
  fresh subprocess (``ru_maxrss``), target < 2 GB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.harness import Measurement, best_of

NAME = "simulator"
PEAK_SCRIPT = """
import resource, sys
from aiops.simulator import load_scenario, simulate
telemetry = simulate(load_scenario("experimental"), days=90, seed=1)
rows = len(telemetry.metrics) + len(telemetry.logs) + len(telemetry.access_log)
print(rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _on_one_core() -> set[int] | None:
    """Pin this process to one CPU; returns the previous set to restore."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(previous)})
    return previous


def run() -> list[Measurement]:
    from aiops.simulator import load_scenario, simulate

    scenario = load_scenario("production")
    simulate(scenario, days=1, seed=1)  # imports and caches warm
    previous = _on_one_core()
    try:
        seconds = best_of(lambda: simulate(scenario, days=30, seed=1), repeat=3)
        telemetry = simulate(scenario, days=30, seed=1)
        samples = len(telemetry.metrics)
        rng = np.random.default_rng(0)
        gaussian_s = best_of(lambda: rng.standard_normal(samples), repeat=5)
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)

    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout.split()
    peak_seconds = time.perf_counter() - started
    rows, peak_bytes = int(output[0]), int(output[1])

    ratio = seconds / gaussian_s
    return [
        Measurement(
            NAME,
            "production 30 d, HPA loop, one core",
            seconds,
            "s",
            target="< 5 s",
            passed=seconds < 5.0,
        ),
        Measurement(
            NAME, "labelled metric samples per second", samples / seconds, "samples/s"
        ),
        Measurement(
            NAME,
            "time vs numpy drawing as many Gaussians",
            seconds,
            "s",
            baseline=gaussian_s,
            target="ratio <= 10",
            passed=ratio <= 10.0,
        ),
        Measurement(
            NAME,
            "experimental 90 d peak memory",
            peak_bytes / 2**30,
            "GiB",
            target="< 2 GiB",
            passed=peak_bytes < 2 * 2**30,
        ),
        Measurement(
            NAME, "experimental 90 d wall time (subprocess)", peak_seconds, "s"
        ),
        Measurement(
            NAME, "experimental 90 d rows (metrics + logs + access)", rows, "rows"
        ),
    ]

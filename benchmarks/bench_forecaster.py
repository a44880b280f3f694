"""Load forecaster speed.

* fitting the XGBoost forecaster with the defaults of ``models/xgboost.yaml``
  on one year of 1-minute load (525,600 rows) with 2 threads, target < 60 s;
  statsforecast's AutoETS fitted on the same series in the same run is the
  baseline (it fits on its latest ``max_fit_steps`` rows);
* one decision's forecast: ``predict`` of the full horizon from the latest
  history, as an online controller calls it every interval, median of many
  calls once the model is loaded; target < 5 ms.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd

from benchmarks.harness import Measurement

NAME = "forecaster"
YEAR_STEPS = 365 * 1440
DECISIONS = 200


def year_of_load(seed: int = 0) -> pd.Series:
    """Requests per second on a 1-minute grid: daily and weekly cycles, a
    slow trend, AR(1) noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2025-01-01", periods=YEAR_STEPS, freq="1min", tz="UTC")
    minutes = np.arange(YEAR_STEPS)
    daily = 0.35 * np.sin(2 * np.pi * (minutes / 1440 - 0.3))
    weekly = 0.1 * (index.dayofweek.to_numpy() < 5)
    trend = minutes / YEAR_STEPS * 0.3
    shocks = rng.standard_normal(YEAR_STEPS) * 0.03
    noise = pd.Series(shocks).ewm(alpha=0.2).mean().to_numpy()
    return pd.Series(400.0 * (1.0 + daily + weekly + trend + noise), index=index)


def run() -> list[Measurement]:
    from aiops.forecasting import XGBForecaster
    from aiops.forecasting.statistical import AutoETSForecaster

    load = year_of_load()
    started = time.perf_counter()
    forecaster = XGBForecaster.from_config().fit(load)
    fit_s = time.perf_counter() - started

    started = time.perf_counter()
    AutoETSForecaster(horizon=forecaster.spec_.horizon).fit(load)
    ets_s = time.perf_counter() - started

    history = load.iloc[-(forecaster.min_history_steps_ + 1) :]
    forecaster.predict(history=history)  # first call builds caches
    latencies = []
    for _ in range(DECISIONS):
        began = time.perf_counter()
        forecaster.predict(history=history)
        latencies.append(time.perf_counter() - began)
    decision_ms = 1000.0 * statistics.median(latencies)

    return [
        Measurement(
            NAME,
            "XGBoost fit, 525,600 rows at 1 min, 2 threads (baseline: AutoETS)",
            fit_s,
            "s",
            baseline=ets_s,
            target="< 60 s",
            passed=fit_s < 60.0,
        ),
        Measurement(
            NAME,
            f"one decision's forecast ({forecaster.spec_.horizon} steps), median",
            decision_ms,
            "ms",
            target="< 5 ms",
            passed=decision_ms < 5.0,
        ),
    ]

"""Offered load at the entry point: seasonality, trend, noise, flash crowds."""

from __future__ import annotations

import datetime as dt

import numpy as np
from scipy.signal import lfilter

from aiops.simulator.spec import WorkloadSpec

DAY_S = 86400.0
WEEK_S = 7 * DAY_S


def request_rate(
    workload: WorkloadSpec,
    start: dt.datetime,
    times_s: np.ndarray,
    run_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Offered requests per second at the entry, one value per step.

    Parameters
    ----------
    workload : the scenario's workload block.
    start : the run's first timestamp (UTC); seasonality follows the wall clock.
    times_s : seconds since ``start`` of each step.
    run_s : run length in seconds; flash crowd starts are fractions of it.
    rng : the workload's own random stream.
    """
    start_of_week_s = (
        start.weekday() * DAY_S
        + (
            start - start.replace(hour=0, minute=0, second=0, microsecond=0)
        ).total_seconds()
    )
    clock_s = times_s + start_of_week_s
    hour = (clock_s % DAY_S) / 3600.0

    # one smooth bump per day peaking at peak_hour_utc
    daily = 1.0 + workload.daily_amplitude * np.cos(
        2.0 * np.pi * (hour - workload.peak_hour_utc) / 24.0
    )
    # weekends (Saturday, Sunday) dip, with a few hours of ramp either side
    day_of_week = (clock_s % WEEK_S) / DAY_S
    weekend = np.clip(np.minimum(day_of_week - 4.85, 7.15 - day_of_week) / 0.3, 0, 1)
    weekly = 1.0 - workload.weekly_amplitude * weekend
    trend = np.maximum(1.0 + workload.trend_per_day * times_s / DAY_S, 0.05)

    rate = workload.base_rps * daily * weekly * trend
    rate *= _holiday_factor(workload, start, times_s)
    rate *= _flash_crowd_factor(workload, times_s, run_s)
    rate *= _noise_factor(workload, times_s, rng)
    return np.maximum(rate, 0.0)


def _holiday_factor(
    workload: WorkloadSpec, start: dt.datetime, times_s: np.ndarray
) -> np.ndarray:
    factor = np.ones_like(times_s)
    if not workload.holidays:
        return factor
    midnight = dt.datetime.combine(start.date(), dt.time(), tzinfo=dt.UTC)
    offset_s = (start - midnight).total_seconds()
    day_index = np.floor((times_s + offset_s) / DAY_S)
    for holiday in workload.holidays:
        index = (holiday.date - start.date()).days
        factor[day_index == index] *= holiday.factor
    return factor


def _flash_crowd_factor(
    workload: WorkloadSpec, times_s: np.ndarray, run_s: float
) -> np.ndarray:
    factor = np.ones_like(times_s)
    for crowd in workload.flash_crowds:
        begin_s = crowd.start * run_s
        end_s = begin_s + crowd.duration_s
        ramp_s = max(crowd.ramp_s, 1.0)
        # trapezoid: ramp up, plateau, ramp down over the same ramp time
        rise = np.clip((times_s - begin_s) / ramp_s, 0.0, 1.0)
        fall = np.clip((end_s - times_s) / ramp_s, 0.0, 1.0)
        factor *= 1.0 + (crowd.multiplier - 1.0) * np.minimum(rise, fall)
    return factor


def _noise_factor(
    workload: WorkloadSpec, times_s: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    shocks = rng.standard_normal(times_s.size)
    if workload.noise == 0.0:
        return np.ones_like(times_s)
    step_s = float(times_s[1] - times_s[0]) if times_s.size > 1 else 60.0
    # AR(1) log-noise: correlated over noise_correlation_s, stationary sd = noise
    phi = (
        float(np.exp(-step_s / workload.noise_correlation_s))
        if (workload.noise_correlation_s > 0)
        else 0.0
    )
    innovation_sd = workload.noise * np.sqrt(1.0 - phi**2)
    first = shocks[0] * workload.noise  # start in the stationary distribution
    rest, _ = lfilter([innovation_sd], [1.0, -phi], shocks[1:], zi=[phi * first])
    log_noise = np.concatenate(([first], rest))
    return np.exp(log_noise - 0.5 * workload.noise**2)

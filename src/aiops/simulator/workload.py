"""Offered load at the entry point: seasonality, trend, noise, flash crowds."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from aiops.config import real_datasets_dir
from aiops.errors import DataError
from aiops.simulator.spec import TraceSpec, WorkloadSpec

logger = logging.getLogger(__name__)

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
    if workload.trace is not None:
        rate = trace_rate(workload.trace, times_s, workload.base_rps)
        rate *= _flash_crowd_factor(workload, times_s, run_s)
        rate *= _noise_factor(workload, times_s, rng)
        return np.maximum(rate, 0.0)

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


def resolve_trace_path(path: str) -> Path:
    """An absolute path, or one relative to the real datasets folder."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = real_datasets_dir() / candidate
    if not candidate.is_file():
        raise DataError(
            f"workload.trace.path = {path!r}: no file at {candidate}; expected a "
            "CSV, absolute or relative to the datasets folder (AIOPS_DATASETS)"
        )
    return candidate


def read_trace(trace: TraceSpec) -> tuple[np.ndarray, np.ndarray, float]:
    """(seconds since the first row, req/s, interval in seconds) of a trace.

    Counts become rates over the trace's most common interval. Rows are
    sorted by time; repeated stamps are summed.
    """
    path = resolve_trace_path(trace.path)
    raw = pd.read_csv(path)
    missing = [c for c in (trace.time_column, trace.column) if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path.name} lacks column(s) {missing}; found {list(raw.columns)}; "
            "set workload.trace.column / time_column"
        )
    stamps = pd.to_datetime(raw[trace.time_column], utc=True)
    counts = pd.to_numeric(raw[trace.column], errors="coerce")
    frame = pd.DataFrame({"t": stamps, "count": counts}).dropna()
    frame = frame.groupby("t", sort=True)["count"].sum()
    if len(frame) < 2:
        raise DataError(f"{path.name}: fewer than two usable rows in the trace")
    seconds = (frame.index - frame.index[0]).total_seconds().to_numpy()
    steps = np.diff(seconds)
    values, tally = np.unique(steps, return_counts=True)
    interval_s = float(values[tally.argmax()])
    return seconds, frame.to_numpy(dtype=float) / interval_s, interval_s


def trace_rate(trace: TraceSpec, times_s: np.ndarray, base_rps: float) -> np.ndarray:
    """The trace on the simulation grid, rescaled, with gaps handled as asked.

    A gap is a jump between rows of more than 1.5 trace intervals: under
    ``interpolate`` the rate runs linearly across it, under ``zero`` steps
    inside it get no load (the service was down), and ``error`` refuses it.
    """
    seconds, rps, interval_s = read_trace(trace)
    # a count covers [t, t + interval): its rate belongs to the middle
    middle = seconds + interval_s / 2.0
    wanted = times_s + trace.skip_days * 86400.0
    span_s = seconds[-1] + interval_s
    if wanted[-1] >= span_s:
        raise DataError(
            f"workload trace {Path(trace.path).name} covers "
            f"{span_s / 86400.0:.2f} days; the run needs "
            f"{wanted[-1] / 86400.0:.2f} days from skip_days = {trace.skip_days:g}; "
            "shorten the run or lower skip_days"
        )
    gaps = np.flatnonzero(np.diff(seconds) > 1.5 * interval_s)
    if gaps.size and trace.gaps == "error":
        first = gaps[0]
        raise DataError(
            f"workload trace {Path(trace.path).name} has {gaps.size} gap(s), the "
            f"first {seconds[first + 1] - seconds[first]:g} s long after row "
            f"{first}; set workload.trace.gaps to interpolate or zero"
        )
    rate = np.interp(wanted, middle, rps)
    if gaps.size:
        logger.warning(
            "workload trace %s: %d gap(s) longer than %g s, handled by %s",
            Path(trace.path).name,
            gaps.size,
            1.5 * interval_s,
            trace.gaps,
        )
        if trace.gaps == "zero":
            for gap in gaps:
                inside = (wanted >= seconds[gap] + interval_s) & (
                    wanted < seconds[gap + 1]
                )
                rate[inside] = 0.0
    if trace.rescale_peak_rps is not None:
        peak = float(rate.max())
        return rate * (trace.rescale_peak_rps / peak) if peak > 0 else rate
    mean = float(rate.mean())
    return rate * (base_rps / mean) if mean > 0 else rate

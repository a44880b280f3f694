"""Input cleaning and the direct multi-horizon feature matrix.

:func:`prepare_series` turns whatever arrives (unsorted, duplicated, gappy,
naive local timestamps) into a float series on a regular UTC-spaced grid and
reports every repair. :func:`build_features` then lays out one row per
(origin, horizon) pair, using only values observed up to the origin.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from aiops.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

MIN_STEP = pd.Timedelta("1min")
MAX_STEP = pd.Timedelta("1h")
# Width (in steps, odd) of the centred mean around "same time last season": one
# point a day ago is as noisy as the target itself, a few points are not.
SEASONAL_SMOOTH_STEPS = 5
SECONDS_PER_DAY = 86_400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY


@dataclass
class PreparationReport:
    """What :func:`prepare_series` repaired; counts are in rows or grid steps."""

    n_input: int
    n_output: int = 0
    step: pd.Timedelta = MIN_STEP
    n_out_of_order: int = 0
    n_duplicates: int = 0
    n_off_grid: int = 0
    n_nat_dropped: int = 0
    n_dst_dropped: int = 0
    n_leading_dropped: int = 0
    n_gaps: int = 0
    n_missing_filled: int = 0
    max_gap_steps: int = 0
    filled_mask: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=bool), repr=False
    )

    def describe(self) -> str:
        """The repairs made, in words (empty when there were none)."""
        parts = {
            "rows out of order": self.n_out_of_order,
            "duplicate rows merged": self.n_duplicates,
            "rows off the grid snapped to it": self.n_off_grid,
            "rows without a time dropped": self.n_nat_dropped,
            "wall-clock times in a DST fold or gap dropped": self.n_dst_dropped,
            "leading empty steps dropped": self.n_leading_dropped,
            "missing steps filled": self.n_missing_filled,
        }
        words = [f"{count} {what}" for what, count in parts.items() if count]
        if self.n_gaps:
            words.append(f"longest gap {self.max_gap_steps} steps")
        return ", ".join(words)

    @property
    def changed(self) -> bool:
        """Whether any row was moved, merged, dropped or filled."""
        return any(
            (
                self.n_out_of_order,
                self.n_duplicates,
                self.n_off_grid,
                self.n_nat_dropped,
                self.n_dst_dropped,
                self.n_leading_dropped,
                self.n_missing_filled,
            )
        )


def prepare_series(
    y: pd.Series,
    *,
    fill: Literal["interpolate", "ffill"] = "interpolate",
    assume_tz: str | tzinfo | None = None,
) -> tuple[pd.Series, PreparationReport]:
    """Clean ``y`` onto a regular grid and report what was repaired.

    Parameters
    ----------
    y
        Numeric series indexed by timestamps on a grid of 1 minute to 1 hour.
    fill
        ``"interpolate"`` fills gaps linearly (fine for training);
        ``"ffill"`` carries the last value forward, so a filled point never
        depends on later data (use it when replaying origins one by one).
    assume_tz
        Time zone for a naive index. Wall-clock times that fall in a DST fold
        or gap are dropped (counted in ``n_dst_dropped``) and then filled.

    Returns
    -------
    clean, report
        ``clean`` is float64 on a gap-free grid in the input's time zone;
        ``report.filled_mask`` flags the filled points.
    """
    if fill not in ("interpolate", "ffill"):
        raise ConfigError(f"fill must be 'interpolate' or 'ffill'; got {fill!r}")
    index = _check_input(y)
    report = PreparationReport(n_input=len(y))
    values = _numeric_values(y)

    # Work in UTC nanoseconds: a regular grid there is regular across DST.
    index, tz, n_dst = _localise(index, assume_tz)
    report.n_dst_dropped = n_dst
    valid_time = ~index.isna()
    report.n_nat_dropped = int((~valid_time).sum()) - n_dst
    stamps_ns = index[valid_time].asi8
    values = values[valid_time]
    if stamps_ns.size < 2:
        raise DataError(
            f"series needs at least 2 valid timestamps; found {stamps_ns.size}; "
            "pass a longer series"
        )

    if valid_time.all() and _is_clean_grid(stamps_ns, values):
        # Already on a regular grid with every value present: nothing to
        # repair, and nothing to pay for on the per-decision path.
        report.step = pd.Timedelta(int(stamps_ns[1] - stamps_ns[0]), unit="ns")
        report.filled_mask = np.zeros(len(values), dtype=bool)
        report.n_output = len(values)
        clean_index = utc_index(stamps_ns).tz_convert(tz)
        return pd.Series(values, index=clean_index, name=y.name), report

    report.n_out_of_order = int((np.diff(stamps_ns) < 0).sum())
    order = np.argsort(stamps_ns, kind="stable")
    stamps_ns, values = stamps_ns[order], values[order]
    step_ns = _infer_step_ns(stamps_ns)
    report.step = pd.Timedelta(step_ns, unit="ns")

    # Snap to the grid anchored at the first timestamp, then merge rows that
    # share a grid point by their mean.
    offsets = stamps_ns - stamps_ns[0]
    report.n_off_grid = int((offsets % step_ns != 0).sum())
    positions = np.rint(offsets / step_ns).astype(np.int64)
    merged = pd.Series(values).groupby(positions).mean()
    report.n_duplicates = len(values) - len(merged)

    grid = np.full(int(positions[-1]) + 1, np.nan)
    grid[merged.index.to_numpy()] = merged.to_numpy()
    finite = np.flatnonzero(~np.isnan(grid))
    if finite.size == 0:
        raise DataError("series holds no finite value; pass a series with numeric data")
    report.n_leading_dropped = int(finite[0])
    grid = grid[finite[0] :]
    first_ns = int(stamps_ns[0]) + int(finite[0]) * step_ns

    missing = np.isnan(grid)
    report.n_missing_filled = int(missing.sum())
    report.n_gaps, report.max_gap_steps = _gap_runs(missing)
    grid = _fill(grid, missing, fill)
    report.filled_mask = missing
    report.n_output = len(grid)

    clean_index = utc_index(first_ns + step_ns * np.arange(len(grid))).tz_convert(tz)
    clean = pd.Series(grid, index=clean_index, name=y.name, dtype=np.float64)
    if report.changed:
        logger.info("prepared series: %s", report)
    return clean, report


def _check_input(y: object) -> pd.DatetimeIndex:
    if isinstance(y, pd.DataFrame):
        raise DataError(
            "expected a pandas Series; found a DataFrame with columns "
            f"{list(y.columns)}; pass one column, e.g. df['value']"
        )
    if not isinstance(y, pd.Series):
        raise DataError(
            f"expected a pandas Series with a DatetimeIndex; found {type(y).__name__}"
        )
    if not isinstance(y.index, pd.DatetimeIndex):
        raise DataError(
            "expected a DatetimeIndex; found "
            f"{type(y.index).__name__}; fix: y.index = pd.to_datetime(y.index, "
            "utc=True) or y.set_index(timestamp_column)"
        )
    return y.index


def _numeric_values(y: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        coerced = pd.to_numeric(y, errors="coerce")
        bad = y[coerced.isna() & y.notna()]
        example = f" such as {bad.iloc[0]!r} at {bad.index[0]}" if len(bad) else ""
        raise DataError(
            f"expected numeric values; found dtype {y.dtype}{example}; fix: "
            "y = pd.to_numeric(y, errors='coerce') to turn them into gaps"
        )
    values = y.to_numpy(dtype=np.float64, na_value=np.nan).copy()
    values[~np.isfinite(values)] = np.nan
    return values


def _localise(
    index: pd.DatetimeIndex, assume_tz: str | tzinfo | None
) -> tuple[pd.DatetimeIndex, tzinfo, int]:
    """Return the index in UTC, the zone to report in, and DST drops."""
    if index.tz is not None:
        return index.tz_convert("UTC"), index.tz, 0
    if assume_tz is None:
        raise DataError(
            "expected a tz-aware DatetimeIndex; found a naive one; fix: pass "
            "assume_tz='UTC' (or the local zone) or call y.tz_localize(...)"
        )
    n_nat_before = int(index.isna().sum())
    try:
        # "infer" resolves a fall-back hour recorded twice, in order.
        local = index.tz_localize(assume_tz, ambiguous="infer", nonexistent="NaT")
    except Exception:  # pandas raises pytz and ValueError variants here
        local = index.tz_localize(assume_tz, ambiguous="NaT", nonexistent="NaT")
    n_dst = int(local.isna().sum()) - n_nat_before
    if n_dst:
        logger.warning("dropped %d wall-clock times in a DST fold or gap", n_dst)
    tz = local.tz
    assert tz is not None  # just localised
    return local.tz_convert("UTC"), tz, n_dst


def _is_clean_grid(stamps_ns: np.ndarray, values: np.ndarray) -> bool:
    """Strictly regular time stamps, a step within bounds, no missing value."""
    if stamps_ns.size < 2:
        return False
    diffs = np.diff(stamps_ns)
    step = int(diffs[0])
    return (
        MIN_STEP.value <= step <= MAX_STEP.value
        and bool((diffs == step).all())
        and not np.isnan(values).any()
    )


def _infer_step_ns(stamps_ns: np.ndarray) -> int:
    diffs = np.diff(np.unique(stamps_ns))
    step = pd.Timedelta(int(np.median(diffs)), unit="ns")
    if not MIN_STEP <= step <= MAX_STEP:
        raise DataError(
            "expected a regular grid of 1 minute to 1 hour; found a median step "
            f"of {step}; fix: resample, e.g. y.resample('1min').mean()"
        )
    return int(step.value)


def _gap_runs(missing: np.ndarray) -> tuple[int, int]:
    """Number of runs of missing points and the longest run."""
    if not missing.any():
        return 0, 0
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return len(starts), int((ends - starts).max())


def _fill(grid: np.ndarray, missing: np.ndarray, fill: str) -> np.ndarray:
    if not missing.any():
        return grid
    if fill == "interpolate":
        known = np.flatnonzero(~missing)
        # np.interp holds the last value beyond the end: a forward fill there.
        return np.interp(np.arange(len(grid)), known, grid[known])
    return pd.Series(grid).ffill().to_numpy()


def steps_in(period: str | pd.Timedelta, step: pd.Timedelta) -> int:
    """Whole number of grid steps in ``period`` (e.g. ``"1D"`` at 1 min: 1440)."""
    try:
        span = pd.Timedelta(period)
    except ValueError as error:
        raise ConfigError(
            f"seasonal lag {period!r} is not a duration; use e.g. '1D' or '7D'"
        ) from error
    steps = span / step
    if steps < 1 or steps != int(steps):
        raise ConfigError(
            f"seasonal lag {period!r} must be a whole number of steps of {step}"
        )
    return int(steps)


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to build; every length is in grid steps."""

    horizon: int
    lags: tuple[int, ...]
    rolling_windows: tuple[int, ...]
    season_steps: tuple[int, ...]
    season_names: tuple[str, ...]
    fourier_order: int
    holidays: tuple[str, ...] = ()
    exog_columns: tuple[str, ...] = ()

    @property
    def anchor_window(self) -> int:
        """Window of the level and scale that targets and lags are relative to."""
        return max(self.rolling_windows, default=max(self.lags, default=1))

    def season_offset(self, season: int, horizon: int) -> int:
        """Steps back from the target to the latest same-phase observed point."""
        return season * math.ceil(horizon / season)

    @property
    def min_history_steps(self) -> int:
        """Observations needed up to and including an origin."""
        reach = max(
            (self.season_offset(s, self.horizon) for s in self.season_steps),
            default=0,
        )
        return max(
            max(self.lags, default=1),
            max(self.rolling_windows, default=1),
            reach + self.anchor_window,
        )

    def feature_names(self) -> list[str]:
        names = ["horizon_steps"]
        names += [f"lag_{k}" for k in self.lags]
        for w in self.rolling_windows:
            if w != self.anchor_window:
                names.append(f"roll_mean_{w}")
            names.append(f"roll_std_{w}")
        for name in self.season_names:
            names += [f"season_{name}{part}" for part in _SEASON_PARTS]
        names += ["hour", "minute_of_day", "weekday", "holiday"]
        for period in ("day", "week"):
            for k in range(1, self.fourier_order + 1):
                names += [f"{period}_sin_{k}", f"{period}_cos_{k}"]
        names += [f"exog_{column}" for column in self.exog_columns]
        return names


_SEASON_PARTS = ("", "_smooth", "_shape", "_level_change")


@dataclass
class FeatureMatrix:
    """Rows of features with the level and scale that de-normalise targets."""

    X: np.ndarray
    level: np.ndarray
    scale: np.ndarray


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window`` values ending at each position (NaN before)."""
    return window_stat_at(values, window, np.arange(len(values)), "mean")


def window_stat_at(
    values: np.ndarray, window: int, positions: np.ndarray, stat: str
) -> np.ndarray:
    """Mean or standard deviation of the ``window`` values ending at each of
    ``positions`` (NaN where fewer than ``window`` values end there).

    Only the windows asked for are reduced, in blocks of bounded size, so one
    forecast from a long history costs a few windows, not the whole series.
    """
    positions = np.asarray(positions, dtype=np.int64)
    out = np.full(len(positions), np.nan)
    if len(values) < window:
        return out
    view = sliding_window_view(values, window)
    valid = np.flatnonzero(positions >= window - 1)
    block = max(1, (1 << 21) // window)
    for first in range(0, len(valid), block):
        chosen = valid[first : first + block]
        rows = view[positions[chosen] - window + 1]
        out[chosen] = rows.mean(axis=1) if stat == "mean" else rows.std(axis=1)
    return out


def utc_index(stamps_ns: np.ndarray) -> pd.DatetimeIndex:
    """UTC DatetimeIndex of integer nanoseconds since the epoch."""
    return pd.DatetimeIndex(np.asarray(stamps_ns, dtype="datetime64[ns]"), tz="UTC")


def calendar_features(
    start_ns: int, step_ns: int, positions: np.ndarray, tz: tzinfo, spec: FeatureSpec
) -> np.ndarray:
    """Calendar and Fourier terms (local wall clock) at grid ``positions``."""
    positions = np.asarray(positions, dtype=np.int64)
    local = utc_index(start_ns + step_ns * positions).tz_convert(tz)
    hour = local.hour.to_numpy(np.float64)
    second_of_day = hour * 3600 + local.minute.to_numpy() * 60 + local.second.to_numpy()
    weekday = local.dayofweek.to_numpy(np.float64)
    days = local.tz_localize(None).to_numpy().astype("datetime64[D]")
    holiday = np.isin(days, np.array(spec.holidays, dtype="datetime64[D]"))
    columns = [hour, second_of_day / 60.0, weekday, holiday.astype(np.float64)]
    phases = (
        second_of_day / SECONDS_PER_DAY,
        (weekday * SECONDS_PER_DAY + second_of_day) / SECONDS_PER_WEEK,
    )
    for phase in phases:
        for k in range(1, spec.fourier_order + 1):
            angle = 2.0 * np.pi * k * phase
            columns += [np.sin(angle), np.cos(angle)]
    return np.column_stack(columns)


def build_features(
    values: np.ndarray,
    start_ns: int,
    step_ns: int,
    tz: tzinfo,
    spec: FeatureSpec,
    origins: np.ndarray,
    horizons: np.ndarray,
    scale_floor: float,
    exog: np.ndarray | None = None,
) -> FeatureMatrix:
    """Feature rows for (origin, horizon) pairs of a clean series.

    Every value is read at or before its origin, so a row is unchanged by
    anything that happens later. Lags and seasonal values are expressed as
    ``(value - level) / scale`` with level and scale taken over the anchor
    window ending at the origin.
    """
    origins = np.asarray(origins, dtype=np.int64)
    horizons = np.asarray(horizons, dtype=np.int64)
    anchor = spec.anchor_window
    magnitudes = np.abs(values)

    def level_scale(at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        level = window_stat_at(values, anchor, at, "mean")
        scale = np.maximum(window_stat_at(magnitudes, anchor, at, "mean"), scale_floor)
        return level, scale

    level, scale = level_scale(origins)

    def relative(raw: np.ndarray) -> np.ndarray:
        return (raw - level) / scale

    columns: list[np.ndarray] = [horizons.astype(np.float64)]
    columns += [relative(values[origins - k + 1]) for k in spec.lags]
    for w in spec.rolling_windows:
        if w != anchor:
            columns.append(relative(window_stat_at(values, w, origins, "mean")))
        columns.append(window_stat_at(values, w, origins, "std") / scale)

    half = SEASONAL_SMOOTH_STEPS // 2
    for season in spec.season_steps:
        offsets = season * np.ceil(horizons / season).astype(np.int64)
        same_phase = origins + horizons - offsets
        past_origin = origins - offsets
        # The centred mean needs points up to same_phase + half: keep it only
        # where those are observed by the origin.
        smooth_end = same_phase + half
        smooth_ok = (smooth_end <= origins) & (same_phase - half >= 0)
        smooth_at = window_stat_at(
            values, SEASONAL_SMOOTH_STEPS, np.where(smooth_ok, smooth_end, 0), "mean"
        )
        smooth = np.where(smooth_ok, smooth_at, np.nan)
        past_level, past_scale = level_scale(past_origin)
        columns += [
            relative(values[same_phase]),
            relative(smooth),
            (values[same_phase] - past_level) / past_scale,
            (level - past_level) / scale,
        ]

    columns.append(calendar_features(start_ns, step_ns, origins + horizons, tz, spec))
    if exog is not None:
        columns.append(exog[origins])

    X = np.column_stack(columns).astype(np.float32)
    return FeatureMatrix(X=X, level=level, scale=scale)


def training_pairs(
    n_values: int, spec: FeatureSpec, max_rows: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """All (origin, horizon) pairs with an observed target, subsampled."""
    first = spec.min_history_steps - 1
    origin_grid, horizon_grid = np.meshgrid(
        np.arange(first, n_values - 1), np.arange(1, spec.horizon + 1), indexing="ij"
    )
    keep = (origin_grid + horizon_grid) <= n_values - 1
    origins, horizons = origin_grid[keep], horizon_grid[keep]
    if len(origins) > max_rows:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(len(origins), size=max_rows, replace=False))
        origins, horizons = origins[chosen], horizons[chosen]
    return origins, horizons


def future_index(
    last: pd.Timestamp, step: pd.Timedelta, horizon: int
) -> pd.DatetimeIndex:
    """Timestamps of the ``horizon`` steps after ``last`` (same time zone)."""
    return pd.date_range(last + step, periods=horizon, freq=step)


def quantile_column(alpha: float) -> str:
    """Column name of a quantile forecast, e.g. ``q0.9``."""
    return f"q{alpha:g}"

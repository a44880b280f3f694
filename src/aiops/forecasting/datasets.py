"""Real and simulated load series for the forecasting benchmark.

Each loader returns a :class:`BenchmarkSeries`: a clean series on a regular
grid, the horizon that matters for scaling on that grid, and notes on every
repair. Real files are read from :func:`aiops.config.real_datasets_dir`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aiops.errors import DataError
from aiops.forecasting.features import prepare_series

logger = logging.getLogger(__name__)

NAB_SERIES = {
    "nyc_taxi": ("realKnownCause/nyc_taxi.csv", "America/New_York"),
    **{
        f"twitter_{ticker}": (f"realTweets/Twitter_volume_{ticker}.csv", "UTC")
        for ticker in (
            "AAPL",
            "AMZN",
            "CRM",
            "CVS",
            "FB",
            "GOOG",
            "IBM",
            "KO",
            "PFE",
            "UPS",
        )
    },
    "cpu_asg": (
        "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
        "UTC",
    ),
}
NASA_FILE = "load/nasa_http_1995/requests_per_minute.csv"
# The server was shut down by Hurricane Erin (SOURCES.md, section 3a): the
# zeros in these minutes are missing data, not an idle server. Both edge
# minutes are partial and left out too.
NASA_SHUTDOWN = (
    pd.Timestamp("1995-08-01T14:52:00-04:00"),
    pd.Timestamp("1995-08-03T04:36:00-04:00"),
)
# Minutes observed for less than this many seconds are too noisy to rescale.
MIN_SECONDS_OBSERVED = 30
WEEK = pd.Timedelta("7D")

# Scaling-relevant horizon per grid step: the next hour on minute data, a
# couple of hours on 5-minute data, a quarter day on 30-minute data.
HORIZONS = {
    pd.Timedelta("1min"): pd.Timedelta("1h"),
    pd.Timedelta("5min"): pd.Timedelta("2h"),
    pd.Timedelta("30min"): pd.Timedelta("6h"),
}


@dataclass
class BenchmarkSeries:
    """A clean series and how to evaluate forecasts on it.

    ``imputed`` flags points filled by the loader; they are used as history
    but never scored as targets.
    """

    name: str
    source: str
    values: pd.Series
    horizon_steps: int
    notes: list[str] = field(default_factory=list)
    imputed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(self.values.index[1] - self.values.index[0])

    @property
    def horizon(self) -> pd.Timedelta:
        return self.horizon_steps * self.step


def default_horizon_steps(step: pd.Timedelta) -> int:
    """Steps in the scaling-relevant horizon of a grid (one hour by default)."""
    span = HORIZONS.get(step, pd.Timedelta("1h"))
    return max(1, int(span / step))


def horizon_steps_for(horizon: str | None, step: pd.Timedelta) -> int:
    """A duration such as ``"2h"`` in whole grid steps (None: the default)."""
    if horizon is None:
        return default_horizon_steps(step)
    try:
        span = pd.Timedelta(horizon)
    except ValueError:
        raise DataError(
            f"horizon must be a duration such as '1h' or '90min'; got {horizon!r}"
        ) from None
    steps = span / step
    if steps < 1 or steps != int(steps):
        raise DataError(
            f"horizon {horizon!r} must be a whole number (>= 1) of the series "
            f"step {step}; pass a multiple of {step}"
        )
    return int(steps)


def load_nab_series(root: Path, name: str) -> BenchmarkSeries:
    """One of :data:`NAB_SERIES` from the NAB folder under ``root``."""
    relative, zone = NAB_SERIES[name]
    path = root / "nab" / "data" / relative
    if not path.is_file():
        raise DataError(
            f"NAB file {path} not found; set AIOPS_DATASETS to the folder "
            "holding nab/data"
        )
    raw = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")
    clean, report = prepare_series(raw["value"].rename(name), assume_tz=zone)
    notes = [f"NAB {relative}, naive timestamps read as {zone}"]
    if report.changed:
        notes.append(
            f"repaired: {report.n_dst_dropped} DST-ambiguous rows dropped, "
            f"{report.n_duplicates} duplicates merged, {report.n_missing_filled} "
            f"missing steps interpolated"
        )
    return BenchmarkSeries(
        name=name,
        source=f"nab/{relative}",
        values=clean,
        horizon_steps=default_horizon_steps(report.step),
        notes=notes,
        imputed=report.filled_mask.copy(),
    )


def load_nasa_http(root: Path) -> BenchmarkSeries:
    """NASA KSC web server requests per second, on a one-minute grid.

    The log has no data from Jul 28 13:33 to Jul 31 23:59 and the hurricane
    shutdown of Aug 1-3 shows as zeros; both stretches are treated as missing
    and filled with the value one week earlier (the trace's strongest
    season), flagged so that they are never scored.
    """
    path = root / NASA_FILE
    if not path.is_file():
        raise DataError(
            f"NASA HTTP trace {path} not found; set AIOPS_DATASETS to the folder "
            "holding load/nasa_http_1995"
        )
    raw = pd.read_csv(path)
    stamps = pd.DatetimeIndex(pd.to_datetime(raw["timestamp"], utc=True))
    rate = pd.Series(
        (raw["requests"] / raw["seconds_observed"]).to_numpy(dtype=np.float64),
        index=stamps.tz_convert("America/New_York"),
        name="nasa_http",
    )
    partial = (raw["seconds_observed"] < MIN_SECONDS_OBSERVED).to_numpy()
    rate = rate[~partial]
    grid = pd.date_range(rate.index[0], rate.index[-1], freq="1min")
    rate = rate.reindex(grid)
    absent = rate.isna()

    shutdown = (grid >= NASA_SHUTDOWN[0]) & (grid <= NASA_SHUTDOWN[1])
    zeros_in_shutdown = int((rate[shutdown] == 0).sum())
    rate[shutdown] = np.nan
    missing = rate.isna().to_numpy()
    filled = _fill_from_previous_week(rate)

    notes = [
        f"{int(partial.sum())} partial minutes (< {MIN_SECONDS_OBSERVED} s "
        "observed) dropped; others rescaled to requests per second",
        f"log gap: {int(absent.sum())} minutes absent "
        f"({_span(grid[absent.to_numpy()])})",
        f"hurricane shutdown: {int(shutdown.sum())} minutes "
        f"({zeros_in_shutdown} recorded as 0) treated as missing",
        f"{int(missing.sum())} missing minutes filled with the value one week "
        "earlier; never scored",
    ]
    for note in notes:
        logger.info("nasa_http: %s", note)
    return BenchmarkSeries(
        name="nasa_http",
        source=NASA_FILE,
        values=filled,
        horizon_steps=default_horizon_steps(pd.Timedelta("1min")),
        notes=notes,
        imputed=missing,
    )


def load_simulated_series(dataset: Path) -> BenchmarkSeries:
    """The request rate of a simulated dataset folder."""
    from aiops.simulator import load_dataset

    telemetry = load_dataset(dataset)
    clean, report = prepare_series(telemetry.request_rate())
    return BenchmarkSeries(
        name=f"sim_{dataset.name}",
        source=str(dataset),
        values=clean.rename("request_rate"),
        horizon_steps=default_horizon_steps(report.step),
        notes=[f"simulated dataset {dataset.name}, entry request rate (req/s)"],
        imputed=report.filled_mask.copy(),
    )


def load_series(root: Path, names: list[str] | None = None) -> list[BenchmarkSeries]:
    """The real load series, in a fixed order (``names`` selects some)."""
    available = [*NAB_SERIES, "nasa_http"]
    chosen = available if names is None else names
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise DataError(f"unknown series {unknown}; choose from {available}")
    return [
        load_nasa_http(root) if name == "nasa_http" else load_nab_series(root, name)
        for name in chosen
    ]


def _fill_from_previous_week(rate: pd.Series) -> pd.Series:
    filled = rate.copy()
    week_steps = int(WEEK / (rate.index[1] - rate.index[0]))
    values = filled.to_numpy()
    for position in np.flatnonzero(np.isnan(values)):
        source = position - week_steps
        while source >= 0 and np.isnan(values[source]):
            source -= week_steps
        if source < 0:
            raise DataError(
                f"{rate.name}: no observation one or more weeks before "
                f"{rate.index[position]} to fill the gap from"
            )
        values[position] = values[source]
    return pd.Series(values, index=rate.index, name=rate.name)


def _span(stamps: pd.DatetimeIndex) -> str:
    if len(stamps) == 0:
        return "none"
    return f"{stamps[0]:%Y-%m-%d %H:%M} to {stamps[-1]:%Y-%m-%d %H:%M}"

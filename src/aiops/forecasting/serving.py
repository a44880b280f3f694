"""Forecast a load file with a registered forecaster.

The input is a history of the load (CSV or Parquet) with a time column and a
value column; the output is the forecast table for the steps after its last
time stamp: ``timestamp``, ``mean`` and one ``q<alpha>`` column per quantile.
The output is written to a temporary file and renamed at the end, so a failure
leaves nothing half-written.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from aiops.errors import ConfigError, DataError
from aiops.scoring import check_paths, input_columns

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastResult:
    history_rows: int
    horizon_steps: int
    first: pd.Timestamp
    last: pd.Timestamp


def parse_horizon(text: str) -> pd.Timedelta:
    """A positive duration such as ``"2h"``, ``"90min"`` or ``"1d"``."""
    try:
        horizon = pd.Timedelta(text)
    except (ValueError, TypeError):
        raise ConfigError(
            f"--horizon {text!r} is not a duration; expected e.g. 30min, 2h or 1d"
        ) from None
    if horizon <= pd.Timedelta(0):
        raise ConfigError(f"--horizon must be positive; got {text!r}")
    return horizon


def horizon_in_steps(horizon: pd.Timedelta, step: pd.Timedelta, limit: int) -> int:
    """Steps of ``step`` that cover ``horizon``; refused beyond ``limit``."""
    steps = math.ceil(horizon / step)
    if steps > limit:
        raise ConfigError(
            f"--horizon {horizon} is {steps} steps of {step}; the model forecasts "
            f"at most {limit} steps ({limit * step}); ask for less or train with "
            f"--set xgboost.horizon={steps}"
        )
    return steps


def read_history(path: Path, time_column: str, value_column: str) -> pd.Series:
    """The load history in ``path`` as a float series indexed by UTC time."""
    found = input_columns(path)
    missing = [c for c in (time_column, value_column) if c not in found]
    if missing:
        raise DataError(
            f"{path} lacks columns {missing}; found {found[:8]}; name the columns "
            "with --time-column and --value-column"
        )
    columns = [time_column, value_column]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path, columns=columns)
    else:
        frame = pd.read_csv(path, usecols=columns)
    if frame.empty:
        raise DataError(f"{path} holds no data rows; nothing to forecast from")
    try:
        times = pd.to_datetime(frame[time_column], utc=True)
    except (ValueError, TypeError) as error:
        raise DataError(
            f"column {time_column!r} of {path} is not a time stamp: {error}"
        ) from None
    values = pd.to_numeric(frame[value_column], errors="coerce")
    return pd.Series(
        values.to_numpy(dtype="float64"),
        index=pd.DatetimeIndex(times),
        name=value_column,
    )


def forecast_history(forecaster: Any, history: pd.Series, horizon: str) -> pd.DataFrame:
    """The forecast table for ``horizon`` after the end of ``history``."""
    duration = parse_horizon(horizon)
    steps = horizon_in_steps(duration, forecaster.step_, forecaster.spec_.horizon)
    forecast = forecaster.predict(horizon=steps, history=history)
    # Every time in the table is UTC, written without a zone.
    forecast.index = forecast.index.tz_convert("UTC").tz_localize(None)
    forecast.index.name = "timestamp"
    return forecast.reset_index()


def forecast_file(
    model_uri: str,
    input_path: Path,
    output_path: Path | None,
    horizon: str,
    time_column: str = "timestamp",
    value_column: str = "request_rate",
) -> tuple[ForecastResult, pd.DataFrame]:
    """Forecast ``horizon`` past the end of the history in ``input_path``.

    The table is written to ``output_path`` when one is given, and returned.
    """
    from aiops.registry import load_model

    check_paths(input_path, output_path or input_path)
    parse_horizon(horizon)
    history = read_history(input_path, time_column, value_column)
    forecaster = load_model(model_uri).unwrap_python_model().forecaster
    table = forecast_history(forecaster, history, horizon)

    if output_path is not None:
        temporary = output_path.with_name(f".{output_path.name}.partial")
        try:
            _write(table, temporary, output_path.suffix)
            os.replace(temporary, output_path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    logger.info("forecast %d steps from %d history rows", len(table), len(history))
    result = ForecastResult(
        history_rows=len(history),
        horizon_steps=len(table),
        first=table["timestamp"].iloc[0],
        last=table["timestamp"].iloc[-1],
    )
    return result, table


def _write(table: pd.DataFrame, path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)

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

import numpy as np
import pandas as pd

from aiops.errors import ConfigError, DataError
from aiops.forecasting.features import PreparationReport, prepare_series
from aiops.scoring import check_paths, input_columns

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastResult:
    history_rows: int
    horizon_steps: int
    first: pd.Timestamp
    last: pd.Timestamp
    # what the history needed before it could be read (gaps, duplicates, ...)
    repairs: PreparationReport | None = None


def parse_horizon(text: str) -> pd.Timedelta:
    """A positive duration such as ``"2h"``, ``"90min"`` or ``"1d"``."""
    try:
        float(text)
    except ValueError:
        pass
    else:  # a bare number would be read as nanoseconds
        raise ConfigError(
            f"--horizon {text!r} has no unit; expected e.g. {text}min or {text}h"
        )
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
    bad = values.isna() & frame[value_column].notna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"column {value_column!r} of {path} holds {int(bad.sum())} non-numeric "
            f"value(s), such as {frame[value_column].iloc[first]!r} in data row "
            f"{first + 1}; fix them or leave the cells empty to mark a gap"
        )
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

    check_paths(input_path, output_path)
    parse_horizon(horizon)
    wrapper = load_model(model_uri).unwrap_python_model()
    if not hasattr(wrapper, "forecaster"):
        raise DataError(
            f"model {model_uri!r} is of type {type(wrapper).__name__}, not a load "
            "forecaster; forecast with models:/aiops-load-xgb@champion, or score "
            "with `aiops score`"
        )
    history = read_history(input_path, time_column, value_column)
    # repaired once here, to report it; the forecaster then finds a clean grid
    clean, repaired = prepare_series(history)
    table = forecast_history(wrapper.forecaster, clean, horizon)

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
        repairs=repaired if repaired.changed else None,
    )
    return result, table


def _write(table: pd.DataFrame, path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)

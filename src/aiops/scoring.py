"""Batch scoring of telemetry files with a registered anomaly detector.

The input (CSV or Parquet) is read in chunks so memory stays flat whatever the
file size. Chunks go through the detector's streaming scorer
(:meth:`aiops.detectors.BaseDetector.streaming_scorer`): the LSTM forecaster
carries its hidden state from chunk to chunk, so chunked scores equal those of
one pass; other detectors get the last rows of the previous chunk as context.
Every input row yields exactly one output row; missing values and gaps in the
time column (or jumps back in time) are filled for the model and flagged in
the output, and so are the first rows, scored before the detector has its
full look-back (``warming_up``). The output is written to a temporary file and
renamed at the end, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from aiops.errors import DataError
from aiops.pyfunc_models import top_metric_names
from aiops.registry import load_model
from aiops.thresholds import AlarmFilter

logger = logging.getLogger(__name__)

TIME_COLUMN = "timestamp"
SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class ScoringResult:
    rows: int
    alarms: int
    flagged: int


def read_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if path.suffix == ".parquet":
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, chunksize=chunk_rows)


def input_columns(path: Path) -> list[str]:
    """Column names of a CSV or Parquet file; an unreadable file is refused."""
    kind = "Parquet" if path.suffix == ".parquet" else "CSV"
    try:
        if path.suffix == ".parquet":
            return list(pq.ParquetFile(path).schema_arrow.names)
        return list(pd.read_csv(path, nrows=0).columns)
    except (pa.ArrowException, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(
            f"{path} cannot be read as {kind}: {str(e).splitlines()[0]}; pass a "
            f"{kind} file with a header row"
        ) from None


def check_paths(input_path: Path, output_path: Path | None) -> None:
    """Refuse a missing or unsupported input, and an output that cannot be
    written or would overwrite the input (``None``: output to stdout)."""
    if input_path.is_dir():
        raise DataError(
            f"input {input_path} is a folder; expected a CSV or Parquet file"
        )
    if not input_path.is_file():
        raise DataError(f"input file {input_path} does not exist")
    for path in (input_path, output_path or input_path):
        if path.suffix not in SUFFIXES:
            raise DataError(
                f"{path} has suffix {path.suffix!r}; expected .csv or .parquet"
            )
    if output_path is None:
        return
    if output_path.resolve() == input_path.resolve():
        raise DataError(
            f"--output {output_path} is the input file; write the output elsewhere"
        )
    if not output_path.parent.is_dir():
        raise DataError(
            f"output folder {output_path.parent} does not exist; create it or "
            "write the output elsewhere"
        )


def score_file(
    model_uri: str,
    input_path: Path,
    output_path: Path,
    chunk_rows: int = 50_000,
    top_k: int = 3,
    alarm_filter: AlarmFilter | None = None,
) -> ScoringResult:
    """Score ``input_path`` with the detector at ``model_uri``."""
    check_paths(input_path, output_path)
    wrapper = load_model(model_uri).unwrap_python_model()
    if not hasattr(wrapper, "detector"):
        raise DataError(
            f"model {model_uri!r} is of type {type(wrapper).__name__}, not an anomaly "
            "detector; score with models:/aiops-anomaly-lstm@champion, or "
            "forecast with `aiops forecast`"
        )
    return score_file_with_detector(
        wrapper.detector, input_path, output_path, chunk_rows, top_k, alarm_filter
    )


def score_file_with_detector(
    detector: Any,
    input_path: Path,
    output_path: Path,
    chunk_rows: int = 50_000,
    top_k: int = 3,
    alarm_filter: AlarmFilter | None = None,
) -> ScoringResult:
    """Score ``input_path`` with a fitted detector; see :func:`score_file`.

    With ``alarm_filter`` the ``alarm`` column holds the cleaned alarms and
    ``raw_alarm`` the threshold's own.
    """
    check_paths(input_path, output_path)
    if chunk_rows < 1:
        raise DataError(f"chunk_rows must be >= 1; got {chunk_rows!r}")
    expected = list(detector.feature_names_in_)
    found = input_columns(input_path)
    missing = [name for name in expected if name not in found]
    if missing:
        raise DataError(
            f"{input_path} does not match the model's signature: missing columns "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}; expected "
            f"{len(expected)} columns {expected[:5]}...; found {found[:8]}; "
            "rename the columns or score with the model trained on them"
        )

    scorer = detector.streaming_scorer()
    # A value missing before any valid one is filled with the training mean.
    fill = pd.Series(np.asarray(detector.mean_, dtype=float), index=expected)
    # an adaptive threshold carries its state from chunk to chunk too
    alarm_stream = detector.threshold_.streaming()
    temporary = output_path.with_name(f".{output_path.name}.partial")
    writer: pq.ParquetWriter | None = None
    rows = alarms = flagged = 0
    # rows before the detector has its full look-back score 0 and say so
    context_rows = int(detector._context_length())
    last_values: pd.DataFrame | None = None
    last_time: pd.Timestamp | None = None
    step: pd.Timedelta | None = None
    try:
        for number, chunk in enumerate(read_chunks(input_path, chunk_rows)):
            values, missing_flags = _clean(chunk[expected], last_values, fill)
            gap_flags, last_time, step = _gaps(chunk, last_time, step)
            scores, contributions = scorer.score_chunk(values)
            raw_alarm = alarm_stream.predict(scores)
            alarm = (
                raw_alarm if alarm_filter is None else alarm_filter.filter(raw_alarm)
            )
            out = pd.DataFrame(
                {
                    "score": scores.astype("float64"),
                    "alarm": alarm,
                    "top_metrics": top_metric_names(contributions, expected, top_k),
                    "missing_values": missing_flags,
                    "gap_before": gap_flags,
                    "warming_up": (
                        np.arange(rows, rows + len(chunk)) < context_rows
                    ).astype("int8"),
                }
            )
            if alarm_filter is not None:
                out.insert(2, "raw_alarm", raw_alarm)
            if TIME_COLUMN in chunk.columns:
                out.insert(0, TIME_COLUMN, chunk[TIME_COLUMN].to_numpy())
            writer = _write(out, temporary, output_path.suffix, writer, number == 0)
            rows += len(out)
            alarms += int(alarm.sum())
            flagged += int((missing_flags | gap_flags).astype(bool).sum())
            last_values = values.iloc[-1:]
        if writer is not None:
            writer.close()
        if rows == 0:
            raise DataError(f"{input_path} holds no data rows; nothing to score")
        os.replace(temporary, output_path)
    except BaseException:
        if writer is not None:
            writer.close()
        temporary.unlink(missing_ok=True)
        raise
    logger.info("scored %d rows, %d alarms, %d flagged", rows, alarms, flagged)
    return ScoringResult(rows=rows, alarms=alarms, flagged=flagged)


def _clean(
    values: pd.DataFrame, previous: pd.DataFrame | None, fill: pd.Series
) -> tuple[pd.DataFrame, np.ndarray]:
    """Fill missing values forward (from the previous chunk too) and flag them."""
    numeric = values.apply(pd.to_numeric, errors="coerce").astype("float64")
    bad = ~np.isfinite(numeric.to_numpy())
    flags = bad.any(axis=1).astype("int8")
    if bad.any():
        numeric = numeric.mask(bad)
        if previous is not None:
            numeric = pd.concat([previous.iloc[-1:], numeric]).ffill().iloc[1:]
        numeric = numeric.ffill().fillna(fill)
    return numeric.reset_index(drop=True), flags


def _gaps(
    chunk: pd.DataFrame, last_time: pd.Timestamp | None, step: pd.Timedelta | None
) -> tuple[np.ndarray, pd.Timestamp | None, pd.Timedelta | None]:
    """Flag rows whose time stamp follows a gap larger than the usual step."""
    if TIME_COLUMN not in chunk.columns or chunk.empty:
        return np.zeros(len(chunk), dtype="int8"), last_time, step
    times = pd.to_datetime(chunk[TIME_COLUMN], utc=True)
    if last_time is not None:
        times = pd.concat([pd.Series([last_time]), times], ignore_index=True)
    deltas = times.diff().iloc[1:] if last_time is not None else times.diff()
    if step is None:
        positive = deltas[deltas > pd.Timedelta(0)]
        step = positive.median() if len(positive) else None
    flags = np.zeros(len(chunk), dtype="int8")
    if step is not None:
        # a jump back in time (rows out of order, a file appended to itself)
        # breaks the series as much as a gap does
        deltas = deltas.fillna(step)
        broken = (deltas > step * 1.5) | (deltas <= pd.Timedelta(0))
        flags = broken.to_numpy(dtype="int8")
    return flags, times.iloc[-1], step


def _write(
    out: pd.DataFrame,
    path: Path,
    suffix: str,
    writer: pq.ParquetWriter | None,
    first: bool,
) -> Any:
    if suffix == ".parquet":
        table = pa.Table.from_pandas(out, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        return writer
    out.to_csv(path, mode="w" if first else "a", header=first, index=False)
    return None

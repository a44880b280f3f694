"""Export telemetry for other tools: OpenMetrics text and NAB-style CSV.

:func:`export_openmetrics` writes a file that ``promtool tsdb
create-blocks-from openmetrics FILE DIR`` backfills into a Prometheus TSDB;
:func:`export_nab_csv` writes the layout of the Numenta Anomaly Benchmark
(``data/<scenario>/<series>.csv`` plus ``labels/combined_windows.json``), which
:func:`aiops.nab.load_nab_series` reads back with ``root=`` the folder.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from aiops.errors import DataError
from aiops.simulator.catalogue import is_counter
from aiops.simulator.telemetry import Telemetry

logger = logging.getLogger(__name__)

LABELS = ("service", "region", "cloud", "env", "version")
UNITS = ("seconds", "bytes", "ratio")
HELP = {
    "http_requests": "HTTP requests received",
    "http_request_errors": "HTTP requests answered with a server error",
    "http_requests_dropped": "HTTP requests dropped past the fleet's capacity",
    "process_cpu_seconds": "CPU time used by the service",
    "process_resident_memory_bytes": "Resident memory of the service",
    "kube_deployment_replicas": "Desired replicas of the deployment",
    "kube_deployment_status_replicas_available": "Ready replicas",
    "redis_commands": "Redis commands processed",
    "redis_cache_hit_ratio": "Share of cache lookups that hit",
    "redis_memory_used_bytes": "Memory used by Redis",
    "pg_queries": "PostgreSQL queries executed",
    "pg_stat_activity_count": "Open PostgreSQL connections",
    "pg_replication_lag_seconds": "Replay lag of the read replicas",
    "node_filesystem_avail_bytes": "Free bytes on the database data disk",
    "kafka_messages_in": "Messages produced to Kafka",
    "kafka_messages_consumed": "Messages consumed from Kafka",
    "kafka_consumergroup_lag": "Messages the consumer group is behind",
}


def _help(family: str) -> str:
    if family in HELP:
        return HELP[family]
    quantile = re.fullmatch(r"(.+)_p(\d\d)", family)
    if quantile:
        return f"{quantile.group(2)}th percentile of {quantile.group(1)}"
    return f"Simulated {family}"


def _unit(family: str) -> str | None:
    """The family's unit when its name ends in one, as OpenMetrics requires."""
    for unit in UNITS:
        if family.endswith(f"_{unit}"):
            return unit
    return None


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def export_openmetrics(telemetry: Telemetry, path: str | Path) -> Path:
    """Write every metric series as OpenMetrics text with timestamps.

    One family after another (never interleaved), each with HELP, TYPE and,
    where the name ends in a unit, UNIT; counters keep their cumulative
    ``_total`` samples under a family named without the suffix. Timestamps
    are Unix seconds, and the file ends with ``# EOF``.
    """
    target = Path(path)
    if target.is_dir():
        raise DataError(f"export path {target} is a folder; expected a file name")
    metrics = telemetry.metrics
    seconds = pd.DatetimeIndex(metrics["timestamp"]).asi8 // 1_000_000_000
    stamps = seconds.astype(str).astype(object)
    values = metrics["value"].to_numpy(dtype=float)

    # one integer per series; factorize keeps first-appearance order
    combined = np.zeros(len(metrics), dtype=np.int64)
    for column in ("metric", *LABELS):
        part, names = pd.factorize(metrics[column], sort=False)
        combined = combined * (len(names) + 1) + part
    codes, _ = pd.factorize(combined, sort=False)
    order = np.argsort(codes, kind="stable")
    n_series = int(codes.max()) + 1 if codes.size else 0
    bounds = np.searchsorted(codes[order], np.arange(n_series + 1))
    firsts = order[bounds[:-1]]
    keys = metrics[["metric", *LABELS]].iloc[firsts].astype(str).to_numpy()
    families: dict[str, list[int]] = {}
    for number, key in enumerate(keys):
        families.setdefault(str(key[0]), []).append(number)

    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="\n") as handle:
        for metric, numbers in families.items():
            counter = is_counter(metric)
            family = metric.removesuffix("_total") if counter else metric
            handle.write(f"# TYPE {family} {'counter' if counter else 'gauge'}\n")
            unit = _unit(family)
            if unit is not None:
                handle.write(f"# UNIT {family} {unit}\n")
            handle.write(f"# HELP {family} {_help(family)}\n")
            for number in numbers:
                rows = order[bounds[number] : bounds[number + 1]]
                parts = keys[number][1:]
                labels = ",".join(
                    f'{name}="{_escape(value)}"'
                    for name, value in zip(LABELS, parts, strict=True)
                )
                head = f"{metric}{{{labels}}} "
                # repr is the shortest text that parses back to the same float
                text = [repr(v) for v in values[rows].tolist()]
                lines = head + np.array(text, dtype=object) + " " + stamps[rows]
                handle.write("\n".join(lines.tolist()))
                handle.write("\n")
        handle.write("# EOF\n")
    logger.info("wrote OpenMetrics export %s (%d samples)", target, len(metrics))
    return target


def nab_file_name(column: str) -> str:
    """``service:metric[:region]`` -> a file name NAB tools accept."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", column.replace(":", "__")) + ".csv"


def export_nab_csv(telemetry: Telemetry, folder: str | Path) -> Path:
    """Write one ``timestamp,value`` CSV per series and NAB label windows.

    Series are the columns of :meth:`Telemetry.wide` (counters as per-second
    rates) under ``data/<scenario>/``; ``labels/combined_windows.json`` gives
    every file the run's incident windows, bounds inclusive as in NAB.
    """
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise DataError(f"export folder {root} is a file; expected a folder")
    category = telemetry.scenario.name
    data = root / "data" / category
    data.mkdir(parents=True, exist_ok=True)
    wide = telemetry.wide()
    stamps = np.array(
        wide.index.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S"), dtype=object
    )

    step = pd.Timedelta(seconds=telemetry.step_s)
    windows = [
        [
            row.start.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S.%f"),
            (row.end - step).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S.%f"),
        ]
        for row in telemetry.incidents.sort_values("start").itertuples()
    ]
    labels: dict[str, list[list[str]]] = {}
    for column in wide.columns:
        name = nab_file_name(column)
        # repr: the shortest text that reads back as the same float
        text = [repr(value) for value in wide[column].tolist()]
        rows = stamps + "," + np.array(text, dtype=object)
        (data / name).write_text("timestamp,value\n" + "\n".join(rows) + "\n")
        labels[f"{category}/{name}"] = windows
    (root / "labels").mkdir(exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(
        json.dumps(labels, indent=4, sort_keys=True) + "\n"
    )
    logger.info("wrote %d NAB series under %s", len(wide.columns), data)
    return root

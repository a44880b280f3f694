"""Write and read simulated datasets: Parquet tables, a gzipped JSON-lines
log file and a manifest.

Files are written into a hidden sibling folder and renamed into place, so a
reader never sees half a dataset. Nothing time-dependent goes into the files,
so the same seed gives byte-identical output.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow

from aiops.errors import DataError
from aiops.simulator.exports import export_nab_csv, export_openmetrics
from aiops.simulator.spec import ScenarioSpec
from aiops.simulator.telemetry import LOG_COLUMNS, Telemetry

FORMAT = "aiops-telemetry/1"
TABLES = ("metrics", "incidents", "labels", "events")
# written since the first format; a dataset without them loads them empty
EXTRA_TABLES = ("access_log", "rollouts", "deploys", "canary_samples")
LOGS_FILE = "logs.jsonl.gz"
# Optional exports written beside the tables, hashed in the manifest too.
EXPORTS = ("openmetrics", "nab", "wide")
OPENMETRICS_FILE = "metrics.openmetrics.txt"
# One column per series (counters as per-second rates), what detectors read.
WIDE_FILE = "metrics_wide.parquet"
NAB_FOLDER = "nab"


def _package_versions() -> dict[str, str]:
    try:
        aiops_version = metadata.version("aiops")
    except metadata.PackageNotFoundError:
        aiops_version = "unknown"
    return {
        "aiops": aiops_version,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pyarrow.__version__,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_dataset(
    telemetry: Telemetry,
    out_dir: str | Path,
    overwrite: bool = False,
    exports: Sequence[str] = (),
) -> Path:
    """Write ``telemetry`` to ``out_dir`` and return the folder.

    Refuses a non-empty existing folder unless ``overwrite`` is true.
    ``exports`` adds ``openmetrics`` (text that ``promtool tsdb
    create-blocks-from openmetrics`` loads), ``nab`` (one NAB-style CSV per
    series with label windows) and ``wide`` (one column per series, the
    input ``aiops score`` takes) to the folder.
    """
    unknown = sorted(set(exports) - set(EXPORTS))
    if unknown:
        raise DataError(
            f"unknown export {unknown[0]!r}; expected one of {', '.join(EXPORTS)}"
        )
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise DataError(f"dataset path {target} is a file; expected a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise DataError(
            f"dataset folder {target} is not empty; pass overwrite=True or choose "
            "another folder"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()

    try:
        files = {}
        for table in TABLES:
            path = staging / f"{table}.parquet"
            frame: pd.DataFrame = getattr(telemetry, table)
            frame.to_parquet(path, engine="pyarrow", index=False, compression="zstd")
            files[path.name] = _sha256(path)
        for table in EXTRA_TABLES:
            path = staging / f"{table}.parquet"
            frame = getattr(telemetry, table)
            frame.to_parquet(path, engine="pyarrow", index=False, compression="zstd")
            files[path.name] = _sha256(path)
        path = staging / LOGS_FILE
        write_logs(telemetry.logs, path)
        files[path.name] = _sha256(path)
        if "openmetrics" in exports:
            path = export_openmetrics(telemetry, staging / OPENMETRICS_FILE)
            files[path.name] = _sha256(path)
        if "wide" in exports:
            path = staging / WIDE_FILE
            wide = telemetry.wide().rename_axis("timestamp").reset_index()
            wide.to_parquet(path, engine="pyarrow", index=False, compression="zstd")
            files[path.name] = _sha256(path)
        if "nab" in exports:
            root = export_nab_csv(telemetry, staging / NAB_FOLDER)
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                files[path.relative_to(staging).as_posix()] = _sha256(path)
        manifest = {
            "format": FORMAT,
            "scenario": telemetry.scenario.model_dump(mode="json"),
            "seed": telemetry.seed,
            "days": telemetry.days,
            "step_s": telemetry.step_s,
            "policy": telemetry.policy_name,
            "n_steps": len(telemetry.labels),
            "versions": _package_versions(),
            "sha256": files,
        }
        (staging / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        )
        if target.exists():
            retired = target.parent / f".{target.name}.old-{os.getpid()}"
            target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_dataset(path: str | Path, verify: bool = True) -> Telemetry:
    """Read a dataset written by :func:`write_dataset`.

    With ``verify`` the sha256 of every file is checked against the manifest.
    """
    folder = Path(path)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(
            f"{folder} holds no manifest.json; expected a folder written by "
            "aiops.simulator.write_dataset"
        )
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(
            f"{manifest_path} is not valid JSON ({error.msg} at line {error.lineno}); "
            "the dataset is damaged, write it again"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise DataError(f"{manifest_path}: format = {found!r}; expected {FORMAT!r}")
    frames = {}
    for table in TABLES:
        file = folder / f"{table}.parquet"
        if not file.is_file():
            raise DataError(f"{folder} is missing {file.name}; rewrite the dataset")
        if verify and _sha256(file) != manifest["sha256"].get(file.name):
            raise DataError(
                f"{file} does not match the sha256 in its manifest; the file was "
                "changed after writing, regenerate the dataset"
            )
        frames[table] = pd.read_parquet(file, engine="pyarrow")
    extras: dict[str, pd.DataFrame] = {}
    for name in (*[f"{t}.parquet" for t in EXTRA_TABLES], LOGS_FILE):
        file = folder / name
        if not file.is_file():
            continue  # written before logs existed
        if verify and _sha256(file) != manifest["sha256"].get(name):
            raise DataError(
                f"{file} does not match the sha256 in its manifest; the file was "
                "changed after writing, regenerate the dataset"
            )
        if name == LOGS_FILE:
            extras["logs"] = read_logs(file)
        else:
            extras[name.removesuffix(".parquet")] = pd.read_parquet(file)
    return Telemetry(
        metrics=frames["metrics"],
        incidents=frames["incidents"],
        labels=frames["labels"],
        events=frames["events"],
        scenario=ScenarioSpec.model_validate(manifest["scenario"]),
        seed=int(manifest["seed"]),
        step_s=int(manifest["step_s"]),
        days=float(manifest["days"]),
        policy_name=str(manifest.get("policy", "hpa")),
        **extras,
    )


# JSON-lines field -> log frame column, in the order a line is written
_LOG_FIELDS = (
    ("@timestamp", "timestamp"),
    ("log.level", "level"),
    ("service.name", "service"),
    ("service.version", "version"),
    ("event.dataset", "dataset"),
    ("trace.id", "trace_id"),
    ("message", "message"),
)
_LABEL_FIELDS = ("incident_id", "incident_kind")


def write_logs(logs: pd.DataFrame, path: Path) -> None:
    """ELK-style JSON lines, gzipped with no name or time in the header so
    the same logs give the same bytes."""
    stamps = pd.DatetimeIndex(logs["timestamp"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # Elasticsearch keeps milliseconds: 2026-01-05T00:00:51.589Z
    stamps = [stamp[:23] + "Z" for stamp in stamps]
    columns = [logs[column].tolist() for _, column in _LOG_FIELDS[1:]]
    ids = logs["incident_id"].tolist()
    kinds = logs["incident_kind"].tolist()
    flags = logs["anomalous"].tolist()
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle,
    ):
        lines = []
        for row, stamp in enumerate(stamps):
            record: dict[str, Any] = {"@timestamp": stamp}
            for (key, _), column in zip(_LOG_FIELDS[1:], columns, strict=True):
                if column[row] != "":
                    record[key] = column[row]
            if ids[row]:
                record["labels"] = {
                    "incident_id": ids[row],
                    "incident_kind": kinds[row],
                    "anomalous": bool(flags[row]),
                }
            lines.append(json.dumps(record, separators=(",", ":")))
        handle.write(("\n".join(lines) + ("\n" if lines else "")).encode())


def read_logs(path: Path) -> pd.DataFrame:
    """Read :func:`write_logs` output back into the log frame."""
    rows: dict[str, list[Any]] = {column: [] for column in LOG_COLUMNS}
    with gzip.open(path, "rt") as handle:
        for line in handle:
            record = json.loads(line)
            for key, column in _LOG_FIELDS:
                rows[column].append(record.get(key, ""))
            labels = record.get("labels", {})
            for column in _LABEL_FIELDS:
                rows[column].append(labels.get(column, ""))
            rows["anomalous"].append(bool(labels.get("anomalous", False)))
    frame = pd.DataFrame(rows, columns=list(LOG_COLUMNS))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ns")
    frame["anomalous"] = frame["anomalous"].astype(bool)
    return frame

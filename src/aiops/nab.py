"""Reader for the Numenta Anomaly Benchmark (NAB) corpus.

The corpus lives under ``aiops.config.real_datasets_dir() / "nab"``:
``data/<category>/<name>.csv`` (``timestamp,value``) and
``labels/combined_windows.json`` (inclusive ``[start, end]`` anomaly windows per
file). Series are named ``"<category>/<name>.csv"`` as in NAB itself.

NAB stamps carry no time zone, and some files repeat a stamp where a clock
change folded an hour, or have gaps. Rows are never dropped or reordered; what
was found is reported in ``frame.attrs`` and logged, so the caller decides:

* ``attrs["duplicate_timestamps"]`` - rows whose stamp repeats an earlier one;
* ``attrs["regular"]`` - whether the stamps form one strictly increasing grid;
* ``attrs["step_s"]`` - the most common step in seconds.

Detectors refuse an irregular index unless built with ``require_regular=False``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from aiops.config import real_datasets_dir
from aiops.errors import DataError

logger = logging.getLogger(__name__)

DEFAULT_CATEGORIES = ("realAWSCloudwatch", "realKnownCause")
WINDOWS_FILE = Path("labels") / "combined_windows.json"


def nab_root(root: str | Path | None = None) -> Path:
    """The NAB folder: ``root`` if given, else ``real_datasets_dir() / "nab"``."""
    path = Path(root) if root is not None else real_datasets_dir() / "nab"
    if not (path / "data").is_dir():
        raise DataError(
            f"no NAB corpus at {path} (expected a data/ folder inside); "
            "set AIOPS_DATASETS or pass root= the folder holding data/ and labels/"
        )
    return path


def list_nab_series(
    categories: Iterable[str] = DEFAULT_CATEGORIES, root: str | Path | None = None
) -> list[str]:
    """Sorted ``"<category>/<name>.csv"`` names of the series in ``categories``."""
    data = nab_root(root) / "data"
    available = sorted(path.name for path in data.iterdir() if path.is_dir())
    names: list[str] = []
    for category in categories:
        if category not in available:
            raise DataError(
                f"unknown NAB category {category!r}; available: {available}"
            )
        names.extend(
            f"{category}/{path.name}"
            for path in sorted((data / category).glob("*.csv"))
        )
    return names


def load_nab_series(category_file: str, root: str | Path | None = None) -> pd.DataFrame:
    """Load one NAB series with its labels.

    Parameters
    ----------
    category_file : str
        ``"<category>/<name>.csv"``, e.g. ``"realKnownCause/nyc_taxi.csv"``.
    root : path, optional
        NAB folder; defaults to ``real_datasets_dir() / "nab"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``value`` (float) and ``label`` (int8, 1 inside an anomaly
        window, bounds inclusive), indexed by a ``DatetimeIndex`` named
        ``timestamp`` in file order; see the module notes for ``attrs``.
    """
    base = nab_root(root)
    name = category_file.replace("\\", "/").strip("/")
    if not name.endswith(".csv"):
        name += ".csv"
    path = base / "data" / name
    if not path.is_file():
        raise DataError(
            f"NAB series {name!r} not found under {base / 'data'}; "
            "names look like 'realKnownCause/nyc_taxi.csv' (see list_nab_series)"
        )

    raw = pd.read_csv(path)
    missing = {"timestamp", "value"} - set(raw.columns)
    if missing:
        raise DataError(
            f"{path} lacks column(s) {sorted(missing)}; found {list(raw.columns)}"
        )
    index = pd.DatetimeIndex(pd.to_datetime(raw["timestamp"]), name="timestamp")
    frame = pd.DataFrame(
        {"value": raw["value"].to_numpy(dtype=np.float64)}, index=index
    )
    frame["label"] = _window_labels(index, _windows(base, name))

    duplicates = int(index.duplicated().sum())
    steps_ns = np.diff(index.asi8)
    regular = bool(steps_ns.size == 0 or (steps_ns.min() == steps_ns.max() > 0))
    values, counts = np.unique(steps_ns, return_counts=True)
    step_s = float(values[counts.argmax()]) / 1e9 if steps_ns.size else float("nan")
    frame.attrs.update(
        {
            "source": name,
            "duplicate_timestamps": duplicates,
            "regular": regular,
            "step_s": step_s,
        }
    )
    if duplicates or not regular:
        logger.warning(
            "%s: %d repeated timestamps, %d of %d steps off the %g s grid; rows kept "
            "in file order (fit detectors with require_regular=False)",
            name,
            duplicates,
            int(np.count_nonzero(steps_ns != values[counts.argmax()])),
            steps_ns.size,
            step_s,
        )
    logger.info(
        "loaded NAB %s: %d rows, %d labelled rows",
        name,
        len(frame),
        int(frame["label"].sum()),
    )
    return frame


def nab_windows(
    category_file: str, root: str | Path | None = None
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Inclusive ``(start, end)`` stamps of a series' labelled anomaly windows."""
    name = category_file.replace("\\", "/").strip("/")
    if not name.endswith(".csv"):
        name += ".csv"
    return _windows(nab_root(root), name)


def label_windows(frame: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Start and end stamps of each run of ``label == 1`` in a loaded series."""
    flags = frame["label"].to_numpy()
    edges = np.diff(np.concatenate(([0], flags, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [
        (frame.index[start], frame.index[end])
        for start, end in zip(starts, ends, strict=True)
    ]


def _windows(base: Path, name: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    path = base / WINDOWS_FILE
    if not path.is_file():
        raise DataError(f"NAB label file {path} is missing; the corpus is incomplete")
    with path.open() as handle:
        windows = json.load(handle)
    if name not in windows:
        raise DataError(
            f"{path} has no entry for {name!r}; the series is not part of NAB's labels"
        )
    return [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in windows[name]]


def _window_labels(
    index: pd.DatetimeIndex, windows: list[tuple[pd.Timestamp, pd.Timestamp]]
) -> np.ndarray:
    labels = np.zeros(len(index), dtype=np.int8)
    for start, end in windows:
        labels[(index >= start) & (index <= end)] = 1
    return labels

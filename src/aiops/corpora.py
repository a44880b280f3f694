"""Labelled benchmark corpora for the anomaly detectors: NAB, SMD, SKAB, sim.

Each loader returns a :class:`Corpus` of :class:`LabelledSeries`, each split
into the rows a detector may learn from (``train``, never labelled) and the
rows it is judged on (``test`` with ``labels``), following the corpus' own
protocol:

* **NAB** - every row is scored; the model learns from the probation period
  (first 15 %, at most 750 rows), which NAB's scorer ignores.
* **SMD** - ``train/<machine>.txt.xz`` and ``test/<machine>.txt.xz`` (38 values
  per row, no header), ``test_label/`` and ``interpretation_label/``
  (``start-end:d1,d2,...``, 0-based start, end exclusive by default, 1-based
  dimensions). Machines whose values are missing are skipped with a note.
* **SKAB** - per labelled file, the first 400 rows train and the rest test, as
  upstream does; steps are 1-2 s, so the rows are taken as a plain sequence.
* **sim** - a simulated dataset (the latest by default): first half train,
  second half test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aiops.config import real_datasets_dir
from aiops.errors import ConfigError, DataError
from aiops.evaluation.nab_scoring import nab_probation_rows, nab_window_rows

logger = logging.getLogger(__name__)

BENCHMARKS = ("nab", "smd", "skab", "sim")
SKAB_TRAIN_ROWS = 400
SKAB_SENSORS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
SMD_DIMENSIONS = 38


@dataclass
class LabelledSeries:
    """One series of a corpus, split by the corpus' protocol.

    ``interpretation`` lists ``(start, stop, columns)`` per labelled anomaly:
    test-row range (stop exclusive) and 0-based column numbers at fault.
    ``nab_windows`` holds inclusive test-row windows for NAB scoring, and
    metrics ignore the first ``evaluate_from`` test rows (NAB's probation).
    """

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    labels: np.ndarray
    step_s: float
    require_regular: bool = True
    interpretation: list[tuple[int, int, list[int]]] = field(default_factory=list)
    nab_windows: list[tuple[int, int]] | None = None
    evaluate_from: int = 0


@dataclass
class Corpus:
    name: str
    series: list[LabelledSeries]
    notes: list[str] = field(default_factory=list)


def load_corpus(
    benchmark: str,
    path: Path | None = None,
    max_series: int | None = None,
    inclusive_interpretation_end: bool = False,
) -> Corpus:
    """Load ``benchmark`` (nab, smd, skab or sim) from ``path`` or its default."""
    if benchmark not in BENCHMARKS:
        raise ConfigError(
            f"unknown benchmark {benchmark!r}; expected one of {', '.join(BENCHMARKS)}"
        )
    if max_series is not None and max_series < 1:
        raise ConfigError(f"max_series must be >= 1 or None; got {max_series!r}")
    if benchmark == "nab":
        return load_nab_corpus(path, max_series)
    if benchmark == "smd":
        return load_smd_corpus(path, max_series, inclusive_interpretation_end)
    if benchmark == "skab":
        return load_skab_corpus(path, max_series)
    return load_sim_corpus(path)


def load_nab_corpus(path: Path | None = None, max_series: int | None = None) -> Corpus:
    """All 58 NAB series (or the first ``max_series`` by name)."""
    from aiops.nab import list_nab_series, load_nab_series, nab_root, nab_windows

    root = nab_root(path)
    categories = sorted(p.name for p in (root / "data").iterdir() if p.is_dir())
    names = list_nab_series(categories, root=root)[:max_series]
    series = []
    for name in names:
        frame = load_nab_series(name, root=root)
        cut = nab_probation_rows(len(frame))
        values = frame[["value"]]
        series.append(
            LabelledSeries(
                name=name,
                train=values.iloc[:cut],
                test=values,
                labels=frame["label"].to_numpy(dtype=np.int8),
                step_s=float(frame.attrs["step_s"]),
                require_regular=False,
                nab_windows=nab_window_rows(frame.index, nab_windows(name, root)),
                evaluate_from=cut,
            )
        )
    return Corpus("nab", series)


def load_smd_corpus(
    path: Path | None = None,
    max_series: int | None = None,
    inclusive_interpretation_end: bool = False,
) -> Corpus:
    """SMD machines that have metric values (19 of 28 in the shared copy)."""
    root = _root(path, "smd", "test_label")
    labelled = sorted(p.stem for p in (root / "test_label").glob("machine-*.txt"))
    with_values = [
        m for m in labelled if all(_smd_values(root, s, m) for s in ("train", "test"))
    ]
    notes = []
    missing = sorted(set(labelled) - set(with_values), key=_machine_key)
    if missing:
        notes.append(
            f"skipped {len(missing)} machine(s) without metric values: "
            + ", ".join(missing)
        )
        logger.info(notes[-1])
    if not with_values:
        raise DataError(
            f"no SMD machine under {root} has values in train/ and test/ "
            "(<machine>.txt or .txt.xz)"
        )
    columns = [f"dim{i}" for i in range(1, SMD_DIMENSIONS + 1)]
    series = []
    for machine in sorted(with_values, key=_machine_key)[:max_series]:
        train = _read_smd(_smd_values(root, "train", machine), columns)
        test = _read_smd(_smd_values(root, "test", machine), columns)
        labels = np.loadtxt(root / "test_label" / f"{machine}.txt", dtype=np.int8)
        if labels.shape[0] != len(test):
            raise DataError(
                f"SMD {machine}: {labels.shape[0]} labels for {len(test)} test rows"
            )
        interpretation = _read_interpretation(
            root / "interpretation_label" / f"{machine}.txt",
            inclusive_interpretation_end,
        )
        series.append(
            LabelledSeries(machine, train, test, labels, 60.0, True, interpretation)
        )
    return Corpus("smd", series, notes)


def load_skab_corpus(path: Path | None = None, max_series: int | None = None) -> Corpus:
    """SKAB's 34 labelled files, first 400 rows of each for training."""
    root = _root(path, "skab", None)
    files = sorted(
        (p for p in root.glob("*/*.csv") if p.parent.name != "anomaly-free"),
        key=lambda p: (p.parent.name, int(p.stem) if p.stem.isdigit() else p.stem),
    )
    if not files:
        raise DataError(f"no SKAB files (<folder>/<n>.csv) under {root}")
    notes = [
        "other/2.csv: its anomaly starts at row 104, inside the 400 training rows "
        "(upstream protocol kept)"
    ]
    series = []
    for file in files[:max_series]:
        frame = pd.read_csv(file, sep=";", index_col="datetime", parse_dates=True)
        missing = [c for c in (*SKAB_SENSORS, "anomaly") if c not in frame.columns]
        if missing:
            raise DataError(
                f"{file} lacks column(s) {missing}; found {list(frame.columns)}"
            )
        values = frame[list(SKAB_SENSORS)].astype(float)
        labels = frame["anomaly"].to_numpy().astype(np.int8)
        series.append(
            LabelledSeries(
                name=f"{file.parent.name}/{file.stem}",
                train=values.iloc[:SKAB_TRAIN_ROWS],
                test=values.iloc[SKAB_TRAIN_ROWS:],
                labels=labels[SKAB_TRAIN_ROWS:],
                step_s=1.0,
                require_regular=False,
            )
        )
    return Corpus("skab", series, notes)


def load_sim_corpus(path: Path | None = None) -> Corpus:
    """One simulated dataset as a one-series corpus."""
    from aiops.simulator import load_dataset
    from aiops.steps import resolve_dataset

    folder = resolve_dataset(path)
    telemetry = load_dataset(folder)
    wide = telemetry.wide()
    labels = (
        telemetry.labels.set_index("timestamp")["anomaly"]
        .reindex(wide.index)
        .fillna(0)
        .to_numpy(dtype=np.int8)
    )
    cut = len(wide) // 2
    series = LabelledSeries(
        folder.name,
        wide.iloc[:cut],
        wide.iloc[cut:],
        labels[cut:],
        float(telemetry.step_s),
    )
    return Corpus("sim", [series])


def _root(path: Path | None, name: str, marker: str | None) -> Path:
    root = Path(path) if path is not None else real_datasets_dir() / name
    if not root.is_dir() or (marker is not None and not (root / marker).is_dir()):
        expected = f" with a {marker}/ folder" if marker else ""
        raise DataError(
            f"no {name.upper()} corpus at {root}; pass --path a folder{expected} "
            "or set AIOPS_DATASETS"
        )
    return root


def _smd_values(root: Path, split: str, machine: str) -> Path | None:
    for suffix in (".txt.xz", ".txt"):
        candidate = root / split / f"{machine}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _read_smd(path: Path | None, columns: list[str]) -> pd.DataFrame:
    assert path is not None  # callers keep only machines with values
    frame = pd.read_csv(path, header=None, dtype=np.float64)
    if frame.shape[1] != len(columns):
        raise DataError(
            f"{path}: expected {len(columns)} comma-separated values per row, "
            f"found {frame.shape[1]}"
        )
    frame.columns = columns
    return frame


def _read_interpretation(
    path: Path, inclusive_end: bool
) -> list[tuple[int, int, list[int]]]:
    if not path.is_file():
        return []
    anomalies = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            span, dimensions = line.split(":")
            start, end = (int(part) for part in span.split("-"))
            columns = [int(d) - 1 for d in dimensions.split(",") if d.strip()]
        except ValueError:
            raise DataError(
                f"{path}:{number}: expected 'start-end:d1,d2,...', got {line!r}"
            ) from None
        anomalies.append((start, end + 1 if inclusive_end else end, columns))
    return anomalies


def _machine_key(machine: str) -> tuple[int, ...]:
    return tuple(int(part) for part in machine.removeprefix("machine-").split("-"))

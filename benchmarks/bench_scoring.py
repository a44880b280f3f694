"""Batch scoring speed and memory of the LSTM forecasting detector.

* time steps per second scoring a 38-metric series (the first SMD machine
  with values when the real datasets are there, else a synthetic one of the
  same shape) in one recurrent pass, beside the same network run once per
  window position (the usual sliding-window scorer), one window per call and
  512 windows per call; aim >= 20x;
* peak resident memory of ``score_file_with_detector`` over a 1,000,000-row
  Parquet file beside a 100,000-row one, each in a fresh subprocess; the
  output must hold exactly one row per input row, and memory should stay flat
  (ratio near 1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.harness import Measurement, best_of

NAME = "scoring"
WINDOW_POSITIONS = 4000  # sliding-window scorer is timed on this many steps
SINGLE_WINDOW_POSITIONS = 500  # and one window per call on this many
MEMORY_FEATURES = 8

PEAK_SCRIPT = """
import resource, sys, pickle
from pathlib import Path
import pyarrow.parquet as pq
from aiops.scoring import score_file_with_detector
detector = pickle.loads(Path(sys.argv[1]).read_bytes())
result = score_file_with_detector(detector, Path(sys.argv[2]), Path(sys.argv[3]))
rows_out = pq.ParquetFile(sys.argv[3]).metadata.num_rows
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(result.rows, rows_out, peak)
"""


def _series_38() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train, test) frames with 38 metrics, and where they came from."""
    datasets = Path(os.environ.get("AIOPS_DATASETS", "../shared/datasets"))
    if list((datasets / "smd" / "test").glob("machine-*")):
        from aiops.corpora import load_corpus

        (series,) = load_corpus("smd", datasets / "smd", max_series=1).series
        return series.train, series.test, f"SMD {series.name}"
    rng = np.random.default_rng(0)
    steps = np.arange(30_000)
    phases = rng.uniform(0, 2 * np.pi, 38)
    values = np.sin(2 * np.pi * steps[:, None] / 1440 + phases) + 0.1 * (
        rng.standard_normal((steps.size, 38))
    )
    frame = pd.DataFrame(values, columns=[f"m{i}" for i in range(38)])
    return frame.iloc[:15_000], frame.iloc[15_000:], "synthetic"


def _window_by_window(
    detector: Any, standardised: np.ndarray, batch: int = 512
) -> np.ndarray:
    """Errors of the same network restarted on every window, ``batch``
    windows per forward call."""
    import torch

    window = int(detector.window)
    values = torch.from_numpy(standardised.astype(np.float32))
    errors = []
    with torch.no_grad():
        for first in range(window, values.shape[0], batch):
            ends = range(first, min(first + batch, values.shape[0]))
            windows = torch.stack([values[end - window : end] for end in ends])
            predictions, _ = detector.network_(windows, None)
            targets = values[list(ends)]
            errors.append((predictions[:, -1] - targets).pow(2).sum(dim=1))
    return torch.cat(errors).numpy()


def _speed() -> list[Measurement]:
    import torch

    from aiops.detectors import LSTMForecastDetector

    torch.set_num_threads(2)
    train, test, source = _series_38()
    detector = LSTMForecastDetector(epochs=2, windows_per_epoch=1024, seed=0)
    detector.fit(train)

    recurrent_s = best_of(lambda: detector.score_samples(test), repeat=3)
    recurrent_rate = len(test) / recurrent_s
    part = detector._standardise(test.iloc[:WINDOW_POSITIONS], check_length=False)
    window_s = best_of(lambda: _window_by_window(detector, part), repeat=2)
    window_rate = (len(part) - int(detector.window)) / window_s
    single = part[: SINGLE_WINDOW_POSITIONS + int(detector.window)]
    single_s = best_of(lambda: _window_by_window(detector, single, 1), repeat=2)
    single_rate = SINGLE_WINDOW_POSITIONS / single_s
    what = f"LSTM recurrent pass, 38 metrics ({source}), 2 threads"
    return [
        Measurement(
            NAME,
            f"{what} (baseline: one window per call)",
            recurrent_rate,
            "steps/s",
            baseline=single_rate,
            target="ratio >= 20",
            passed=recurrent_rate / single_rate >= 20.0,
        ),
        Measurement(
            NAME,
            f"{what} (baseline: 512 windows per call)",
            recurrent_rate,
            "steps/s",
            baseline=window_rate,
            target="ratio >= 20",
            passed=recurrent_rate / window_rate >= 20.0,
        ),
    ]


def _peak(detector_path: Path, rows: int, folder: Path) -> tuple[int, int, int]:
    rng = np.random.default_rng(rows)
    source = folder / f"in-{rows}.parquet"
    frame = pd.DataFrame(
        rng.standard_normal((rows, MEMORY_FEATURES)),
        columns=[f"m{i}" for i in range(MEMORY_FEATURES)],
    )
    frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=rows, freq="1min"))
    frame.to_parquet(source, row_group_size=50_000)
    del frame
    output = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_SCRIPT,
            str(detector_path),
            str(source),
            str(folder / f"out-{rows}.parquet"),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=1200,
    ).stdout.split()
    rows_in, rows_out, peak = (int(value) for value in output)
    return rows_in, rows_out, peak


def _memory() -> list[Measurement]:
    import pickle

    from aiops.detectors import LSTMForecastDetector

    rng = np.random.default_rng(1)
    train = pd.DataFrame(
        rng.standard_normal((5000, MEMORY_FEATURES)),
        columns=[f"m{i}" for i in range(MEMORY_FEATURES)],
    )
    detector = LSTMForecastDetector(epochs=1, windows_per_epoch=256, seed=0)
    detector.fit(train)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        detector_path = folder / "detector.pkl"
        detector_path.write_bytes(pickle.dumps(detector))
        _, small_out, small_peak = _peak(detector_path, 100_000, folder)
        large_in, large_out, large_peak = _peak(detector_path, 1_000_000, folder)
    ratio = large_peak / small_peak
    return [
        Measurement(
            NAME,
            "rows out = rows in, 1,000,000-row file",
            float(large_out),
            "rows",
            target="= 1000000",
            passed=large_in == large_out == 1_000_000 and small_out == 100_000,
        ),
        Measurement(
            NAME,
            "peak memory scoring 1,000,000 rows (baseline: 100,000 rows)",
            large_peak / 2**20,
            "MiB",
            baseline=small_peak / 2**20,
            target="ratio <= 1.3 (flat)",
            passed=ratio <= 1.3,
        ),
    ]


def run() -> list[Measurement]:
    return _speed() + _memory()

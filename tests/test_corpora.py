"""Tests for aiops.corpora on tiny corpora laid out like the real ones."""

from __future__ import annotations

import json
import lzma
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiops.config import real_datasets_dir
from aiops.corpora import SKAB_SENSORS, load_corpus
from aiops.errors import ConfigError, DataError


def write_smd(root: Path, machines: dict[str, int], n_rows: int = 300) -> Path:
    """Machines with values (``n_rows`` train and test rows, metrics 1-10
    shifted at ``start .. start + 20``) and one machine with labels only."""
    rng = np.random.default_rng(1)
    for folder in ("train", "test", "test_label", "interpretation_label"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for machine, start in machines.items():
        for split in ("train", "test"):
            values = 0.5 + 0.02 * rng.standard_normal((n_rows, 38))
            if split == "test":
                values[start : start + 20, :10] += 0.4
            text = "\n".join(",".join(f"{v:.4f}" for v in row) for row in values)
            with lzma.open(root / split / f"{machine}.txt.xz", "wt") as handle:
                handle.write(text + "\n")
        labels = np.zeros(n_rows, dtype=int)
        labels[start : start + 20] = 1
        np.savetxt(root / "test_label" / f"{machine}.txt", labels, fmt="%d")
        (root / "interpretation_label" / f"{machine}.txt").write_text(
            f"{start}-{start + 20}:1,2,3,4,5,6,7,8,9,10\n"
        )
    np.savetxt(root / "test_label" / "machine-9-9.txt", np.zeros(5), fmt="%d")
    return root


def write_skab(root: Path, n_files: int = 2, n_rows: int = 600) -> Path:
    rng = np.random.default_rng(2)
    (root / "valve1").mkdir(parents=True)
    (root / "anomaly-free").mkdir()
    for number in range(n_files):
        frame = pd.DataFrame(rng.random((n_rows, 8)), columns=list(SKAB_SENSORS))
        frame.insert(
            0, "datetime", pd.date_range("2020-03-09", periods=n_rows, freq="1s")
        )
        frame["anomaly"] = 0.0
        frame.loc[450:500, "anomaly"] = 1.0
        frame.loc[450:500, "Pressure"] += 2.0
        frame["changepoint"] = 0.0
        frame.to_csv(root / "valve1" / f"{number}.csv", sep=";", index=False)
    return root


def test_smd_split_labels_and_interpretation(tmp_path: Path) -> None:
    root = write_smd(tmp_path / "smd", {"machine-1-2": 100, "machine-1-10": 200})
    corpus = load_corpus("smd", root)

    assert [s.name for s in corpus.series] == ["machine-1-2", "machine-1-10"]
    assert corpus.notes == ["skipped 1 machine(s) without metric values: machine-9-9"]
    first = corpus.series[0]
    assert first.train.shape == first.test.shape == (300, 38)
    assert list(first.test.columns[:2]) == ["dim1", "dim2"]
    assert first.labels.sum() == 20
    assert first.interpretation == [(100, 120, list(range(10)))]
    inclusive = load_corpus("smd", root, inclusive_interpretation_end=True)
    assert inclusive.series[0].interpretation == [(100, 121, list(range(10)))]
    assert len(load_corpus("smd", root, max_series=1).series) == 1


def test_skab_keeps_the_first_400_rows_for_training(tmp_path: Path) -> None:
    corpus = load_corpus("skab", write_skab(tmp_path / "skab"))
    assert [s.name for s in corpus.series] == ["valve1/0", "valve1/1"]
    series = corpus.series[0]
    assert (len(series.train), len(series.test)) == (400, 200)
    assert list(series.test.columns) == list(SKAB_SENSORS)
    assert series.labels.sum() == 51 and not series.require_regular


def test_bad_benchmark_and_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown benchmark 'kdd'"):
        load_corpus("kdd")
    with pytest.raises(ConfigError, match="max_series must be >= 1"):
        load_corpus("skab", tmp_path, max_series=0)
    with pytest.raises(DataError, match=r"no SMD corpus at .*test_label"):
        load_corpus("smd", tmp_path)
    with pytest.raises(DataError, match="no SKAB files"):
        load_corpus("skab", tmp_path)
    bad = write_smd(tmp_path / "bad", {"machine-1-2": 10})
    (bad / "interpretation_label" / "machine-1-2.txt").write_text("oops\n")
    with pytest.raises(DataError, match=re.escape("expected 'start-end:d1,d2,...'")):
        load_corpus("smd", bad)


def _real(name: str) -> Path | None:
    try:
        path = real_datasets_dir() / name
    except DataError:
        return None
    return path if path.is_dir() else None


@pytest.mark.skipif(_real("nab") is None, reason="NAB corpus not found")
def test_real_nab_corpus_uses_probation_for_training() -> None:
    corpus = load_corpus("nab", max_series=2)
    series = corpus.series[0]
    assert series.name == "artificialNoAnomaly/art_daily_no_noise.csv"
    assert len(series.train) == series.evaluate_from == 604
    assert len(series.test) == 4032 and series.nab_windows == []
    windows = json.loads(
        (real_datasets_dir() / "nab" / "labels" / "combined_windows.json").read_text()
    )
    assert sum(len(v) for v in windows.values()) == 116

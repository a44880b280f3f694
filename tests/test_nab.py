"""Tests for aiops.nab: the real corpus where present, a small fake one always."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiops.config import real_datasets_dir
from aiops.detectors import RollingZScoreDetector
from aiops.errors import DataError
from aiops.nab import label_windows, list_nab_series, load_nab_series


def _real_nab() -> Path | None:
    try:
        path = real_datasets_dir() / "nab"
    except DataError:
        return None
    return path if (path / "data").is_dir() else None


needs_corpus = pytest.mark.skipif(_real_nab() is None, reason="NAB corpus not found")


@pytest.fixture
def fake_nab(tmp_path: Path) -> Path:
    """A two-file corpus: one clean, one with a repeated (folded DST) stamp."""
    root = tmp_path / "nab"
    (root / "data" / "realFake").mkdir(parents=True)
    (root / "labels").mkdir()
    stamps = pd.date_range("2014-03-09 01:00", periods=8, freq="30min")
    pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": range(8)}
    ).to_csv(root / "data" / "realFake" / "clean.csv", index=False)
    folded = [str(s) for s in stamps[:4]] + [str(stamps[3])] * 2 + [str(stamps[4])]
    pd.DataFrame({"timestamp": folded, "value": [1, 2, 3, 4, 5, 6, 7]}).to_csv(
        root / "data" / "realFake" / "folded.csv", index=False
    )
    windows = {
        "realFake/clean.csv": [
            ["2014-03-09 02:00:00.000000", "2014-03-09 03:00:00.000000"]
        ],
        "realFake/folded.csv": [],
    }
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    return root


def test_loads_values_and_inclusive_window_labels(fake_nab: Path) -> None:
    frame = load_nab_series("realFake/clean.csv", root=fake_nab)
    assert list(frame.columns) == ["value", "label"]
    assert frame.index.name == "timestamp"
    assert frame["value"].dtype == np.float64
    assert frame["label"].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert frame.attrs["duplicate_timestamps"] == 0
    assert frame.attrs["regular"] is True
    assert frame.attrs["step_s"] == 1800.0


def test_repeated_stamps_are_kept_and_reported(fake_nab: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="aiops.nab"):
        frame = load_nab_series("realFake/folded", root=fake_nab)

    assert frame["value"].tolist() == [1, 2, 3, 4, 5, 6, 7]  # no row dropped
    assert frame.attrs["duplicate_timestamps"] == 2
    assert frame.attrs["regular"] is False
    assert "2 repeated timestamps" in caplog.text
    with pytest.raises(DataError, match="not a regular grid"):
        RollingZScoreDetector(window=2).fit(frame[["value"]])


def test_list_and_bad_names(fake_nab: Path) -> None:
    assert list_nab_series(["realFake"], root=fake_nab) == [
        "realFake/clean.csv",
        "realFake/folded.csv",
    ]
    with pytest.raises(DataError, match=r"unknown NAB category 'realNope'.*realFake"):
        list_nab_series(["realNope"], root=fake_nab)
    with pytest.raises(
        DataError, match=r"NAB series 'realFake/missing\.csv' not found"
    ):
        load_nab_series("realFake/missing.csv", root=fake_nab)
    with pytest.raises(DataError, match="no NAB corpus at"):
        load_nab_series("realFake/clean.csv", root=fake_nab / "data")


@needs_corpus
def test_nyc_taxi_has_five_labelled_windows() -> None:
    frame = load_nab_series("realKnownCause/nyc_taxi.csv")
    windows = label_windows(frame)

    assert len(frame) == 10_320
    assert frame.attrs == {
        "source": "realKnownCause/nyc_taxi.csv",
        "duplicate_timestamps": 0,
        "regular": True,
        "step_s": 1800.0,
    }
    assert len(windows) == 5
    assert windows[0] == (
        pd.Timestamp("2014-10-30 15:30:00"),
        pd.Timestamp("2014-11-03 22:30:00"),
    )
    assert frame.loc["2014-07-01 00:00:00", "value"] == 10844.0


@needs_corpus
def test_default_listing_and_a_folded_clock_file() -> None:
    names = list_nab_series()
    assert len(names) == 17 + 7
    assert "realKnownCause/nyc_taxi.csv" in names

    frame = load_nab_series("realKnownCause/machine_temperature_system_failure.csv")
    assert len(frame) == 22_695
    assert frame.attrs["duplicate_timestamps"] == 12
    assert len(label_windows(frame)) == 4

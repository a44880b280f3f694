"""Small pieces of the main job's steps and the registry wrappers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiops.errors import DataError
from aiops.pyfunc_models import top_metric_names
from aiops.real_data import probation_rows
from aiops.steps import (
    latest_dataset,
    resolve_dataset,
    split_index,
    usable_seasonal_lags,
)


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        ("7D", ("1D",)),
        ("14D", ("1D", "7D")),
        ("36h", ()),
        ("2D", ("1D",)),
    ],
)
def test_usable_seasonal_lags_need_twice_their_length(
    span: str, expected: tuple[str, ...]
) -> None:
    assert usable_seasonal_lags(("1D", "7D"), pd.Timedelta(span)) == expected


def test_top_metric_names_rank_contributions_per_row() -> None:
    contributions = np.array([[0.1, 3.0, 2.0], [5.0, np.nan, 1.0]])
    names = ["cpu", "memory", "latency"]
    assert top_metric_names(contributions, names, 2) == [
        "memory,latency",
        "cpu,latency",
    ]


@pytest.mark.parametrize(("rows", "expected"), [(100, 15), (4032, 604), (22695, 750)])
def test_probation_follows_nab(rows: int, expected: int) -> None:
    assert probation_rows(rows) == expected


def test_split_keeps_the_first_half_for_training() -> None:
    assert split_index(20_160) == 10_080
    assert split_index(5) == 2


def test_missing_dataset_is_refused_with_the_fix(aiops_home: Path) -> None:
    with pytest.raises(DataError, match=r"no simulated dataset under .*aiops simulate"):
        latest_dataset()
    with pytest.raises(DataError, match=r"has no manifest\.json"):
        resolve_dataset(aiops_home / "nowhere")

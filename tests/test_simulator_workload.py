"""Workload replayed from a real trace: resampling, rescaling, gaps, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from aiops.errors import DataError
from aiops.simulator import Telemetry, parse_scenario, simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
NYC = "nab/data/realKnownCause/nyc_taxi.csv"
NASA = "load/nasa_http_1995/requests_per_minute.csv"


def replay(trace: dict[str, Any], days: float = 3.0, noise: float = 0.0) -> Telemetry:
    raw = yaml.safe_load((SCENARIOS / "production.yaml").read_text())
    raw["faults"] = []
    raw["workload"]["trace"] = trace
    raw["workload"]["noise"] = noise
    raw["workload"]["flash_crowds"] = []
    return simulate(parse_scenario(raw), days=days, seed=7)


def test_nyc_taxi_half_hours_are_interpolated_and_rescaled(
    datasets_dir: Path,
) -> None:
    telemetry = replay({"path": NYC, "rescale_peak_rps": 1200.0})
    rate = telemetry.request_rate()
    assert rate.max() == pytest.approx(1200.0)
    taxi = pd.read_csv(datasets_dir / NYC)["value"].to_numpy(dtype=float)
    # each 30-minute count is a rate at the middle of its half hour
    per_second = taxi[:144] / 1800.0
    middles = rate.iloc[15::30].to_numpy()[:144]
    ratio = middles / per_second
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
    # linear in between: the minute after a middle sits between its neighbours
    between = rate.iloc[16::30].to_numpy()[:143]
    low = np.minimum(middles[:-1], middles[1:])
    high = np.maximum(middles[:-1], middles[1:])
    assert ((between >= low - 1e-9) & (between <= high + 1e-9)).all()


def test_mean_follows_base_rps_without_a_peak(datasets_dir: Path) -> None:
    telemetry = replay({"path": str(datasets_dir / NYC)})
    assert telemetry.request_rate().mean() == pytest.approx(600.0, rel=1e-6)


def test_nasa_gap_is_handled_as_asked(
    datasets_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the NASA log stops on 28 July 1995 13:32 (EDT) and resumes on 1 August
    trace = {"path": NASA, "column": "requests", "skip_days": 27.0}
    interpolated = replay(trace | {"gaps": "interpolate"}).request_rate()
    zeroed = replay(trace | {"gaps": "zero"}).request_rate()
    assert "1 gap(s) longer than 90 s, handled by" in caplog.text
    silent = zeroed.index[zeroed.to_numpy() == 0.0]
    assert silent[0] == pd.Timestamp("2026-01-05T13:33Z")
    assert len(silent) > 2 * 1440
    # interpolation runs straight across: the rate is flat and positive there
    across = interpolated[silent[1:-1]]
    assert (across > 0).all() and np.all(np.diff(across.to_numpy()) > -1e-6)
    with pytest.raises(DataError, match=r"has 1 gap\(s\).*set workload\.trace\.gaps"):
        replay(trace | {"gaps": "error"})


@pytest.mark.parametrize(
    ("trace", "message"),
    [
        ({"path": "nope/missing.csv"}, r"trace\.path = 'nope/missing\.csv': no file"),
        ({"path": NYC, "column": "count"}, r"lacks column\(s\) \['count'\]; found"),
        ({"path": NASA, "column": "requests"}, r"covers 62\.00 days; the run needs"),
    ],
)
def test_bad_traces_are_refused(
    datasets_dir: Path, trace: dict[str, Any], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        replay(trace, days=70.0 if "requests" in trace.get("column", "") else 3.0)


def test_gaps_policy_must_be_known() -> None:
    with pytest.raises(Exception, match=r"workload\.trace\.gaps = 'skip'"):
        replay({"path": NYC, "gaps": "skip"})

"""Releases: rolling updates, canaries, defective versions and rollbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from aiops.errors import ConfigError
from aiops.simulator import Telemetry, parse_scenario, simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
SEED = 7


def run(
    profile: str,
    faults: list[dict[str, Any]],
    deployment: dict[str, Any] | None = None,
    days: float = 2.0,
) -> Telemetry:
    raw = yaml.safe_load((SCENARIOS / f"{profile}.yaml").read_text())
    raw.pop("random_faults", None)
    raw["faults"] = faults
    raw["days"] = days
    raw["deployment"] = raw["deployment"] | (deployment or {})
    return simulate(parse_scenario(raw), days=days, seed=SEED)


def bad(defect: str = "errors", duration_s: float = 7200, **extra: Any) -> dict:
    return {
        "kind": "bad_deploy",
        "target": "app",
        "start": 0.6,
        "duration_s": duration_s,
        "intensity": 0.8,
        "defect": defect,
    } | extra


def shares(telemetry: Telemetry, version: str) -> pd.Series:
    rows = telemetry.rollouts[telemetry.rollouts["version"] == version]
    return rows.set_index("timestamp")["traffic_ratio"]


def test_rolling_update_moves_traffic_in_batches() -> None:
    telemetry = run("production", [], days=3.0)
    deploys = telemetry.events[telemetry.events["kind"] == "deployment"]
    first = deploys.iloc[0]
    assert first["detail"].startswith("rolling update, max surge 25% 2.3.0 -> 2.3.1")
    share = shares(telemetry, "2.3.1")
    # new pods take the start-up delay (90 s = 2 steps) per batch of 25 %
    assert share.iloc[:8].tolist() == [0.0, 0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
    assert share.index[0] == first["timestamp"]
    old = shares(telemetry, "2.3.0")
    np.testing.assert_allclose(old.to_numpy() + share.to_numpy(), 1.0)

    # the access log splits the traffic the same way
    log = telemetry.access_log
    half = (log["timestamp"] >= share.index[4]) & (log["timestamp"] < share.index[6])
    on_new = (log.loc[half, "version"] == "2.3.1").mean()
    assert 0.2 < on_new < 0.8
    assert set(log.loc[half, "version"]) == {"2.3.0", "2.3.1"}


def test_bad_release_is_rolled_back_on_error_ratio() -> None:
    telemetry = run("production", [bad()])
    incident = telemetry.incidents.iloc[0]
    nominal_end = incident["start"] + pd.Timedelta(seconds=7200)
    assert incident["end"] < incident["start"] + pd.Timedelta("40min") < nominal_end
    rollback = telemetry.events[telemetry.events["kind"] == "rollback"].iloc[0]
    assert rollback["timestamp"] == incident["end"]
    assert rollback["detail"].startswith("automated rollback on error ratio")
    share = shares(telemetry, rollback["detail"].split()[-3])
    assert share.max() == 1.0 and share.iloc[-1] > 0.0
    assert share.index[-1] < incident["end"]


def test_without_automation_a_person_rolls_back_at_the_nominal_end() -> None:
    telemetry = run("production", [bad()], {"automated_rollback": False})
    incident = telemetry.incidents.iloc[0]
    assert incident["end"] == incident["start"] + pd.Timedelta(seconds=7200)
    rollback = telemetry.events[telemetry.events["kind"] == "rollback"].iloc[0]
    assert rollback["detail"].startswith("manual rollback")


def test_latency_creep_escapes_the_error_check_but_grows() -> None:
    telemetry = run("production", [bad("latency_creep")])
    incident = telemetry.incidents.iloc[0]
    assert incident["end"] == incident["start"] + pd.Timedelta(seconds=7200)
    p99 = telemetry.wide()["app:http_request_duration_seconds_p99"]
    span = p99[(p99.index >= incident["start"]) & (p99.index < incident["end"])]
    quarter = len(span) // 4
    assert span.iloc[-quarter:].mean() > 2.0 * span.iloc[:quarter].mean()


def test_memory_leaking_release_is_oom_killed_then_rolled_back() -> None:
    telemetry = run("production", [bad("memory_leak", duration_s=14400)])
    incident = telemetry.incidents.iloc[0]
    memory = telemetry.wide()["app:process_resident_memory_bytes"]
    before = memory[memory.index < incident["start"]].median()
    span = memory[
        (memory.index >= incident["start"]) & (memory.index < incident["end"])
    ]
    assert span.max() > 1.5 * before
    kills = telemetry.events[telemetry.events["detail"].str.contains("OOMKilled")]
    assert len(kills) >= 1
    assert (kills["timestamp"] < incident["end"]).all()
    rollback = telemetry.events[telemetry.events["kind"] == "rollback"].iloc[0]
    assert rollback["detail"].startswith("automated rollback on error ratio")


@pytest.mark.parametrize(
    ("defect", "within"), [("errors", "15min"), ("latency_creep", "2h")]
)
def test_canary_analysis_rolls_back_a_bad_canary(defect: str, within: str) -> None:
    telemetry = run("experimental", [bad(defect)])
    incident = telemetry.incidents.iloc[0]
    assert incident["end"] - incident["start"] < pd.Timedelta(within)
    rollback = telemetry.events[telemetry.events["kind"] == "rollback"].iloc[0]
    assert rollback["detail"].startswith("automated rollback on canary analysis")
    new = rollback["detail"].split()[-3]
    share = shares(telemetry, new)
    # the canary never got more than its 10 %
    assert set(share.round(6)) <= {0.0, 0.1}
    log = telemetry.access_log
    span = (log["timestamp"] >= incident["start"]) & (
        log["timestamp"] < incident["end"]
    )
    assert 0.0 < (log.loc[span, "version"] == new).mean() < 0.3


def test_good_canary_is_promoted() -> None:
    telemetry = run("experimental", [])
    deploy = telemetry.events[telemetry.events["kind"] == "deployment"].iloc[0]
    assert deploy["detail"].startswith("canary 10% then promote")
    share = shares(telemetry, deploy["detail"].split()[-1])
    # boots two steps, 30 minutes at 10 %, then all traffic
    assert share.iloc[2:32].eq(0.1).all()
    assert share.index[-1] == deploy["timestamp"] + pd.Timedelta(minutes=31)
    assert telemetry.events["kind"].eq("rollback").sum() == 0


def test_defect_only_on_bad_deploy() -> None:
    raw = yaml.safe_load((SCENARIOS / "production.yaml").read_text())
    raw["faults"][0]["defect"] = "memory_leak"
    with pytest.raises(ConfigError, match=r"faults\[0\]\.defect = 'memory_leak' on a"):
        parse_scenario(raw, source="production.yaml")

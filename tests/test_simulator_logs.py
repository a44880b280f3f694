"""Simulated logs and access log: structure, fault-driven mix, attacks, bytes."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from aiops.simulator import (
    Telemetry,
    load_dataset,
    parse_scenario,
    simulate,
    write_dataset,
)
from aiops.simulator.catalogue import FAULT_CATALOGUE
from aiops.simulator.logs import documentation_addresses

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
SEED = 7
DOCUMENTATION_NETWORKS = [
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


def production(faults: list[dict[str, Any]], days: float = 2.0) -> Telemetry:
    raw = yaml.safe_load((SCENARIOS / "production.yaml").read_text())
    raw["faults"] = faults
    raw["days"] = days
    return simulate(parse_scenario(raw), days=days, seed=SEED)


def fault(kind: str, target: str, start: float, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "target": target, "start": start, "duration_s": 7200} | extra


@pytest.fixture(scope="module")
def faulty() -> Telemetry:
    return production(
        [
            fault("slow_queries", "postgres", 0.3),
            fault("connection_pool_exhaustion", "postgres", 0.45),
            fault("credential_stuffing", "app", 0.6),
            fault("scraping", "app", 0.8),
        ]
    )


def inside(frame: pd.DataFrame, telemetry: Telemetry, kind: str) -> pd.Series:
    row = telemetry.incidents[telemetry.incidents["kind"] == kind].iloc[0]
    stamps = frame["timestamp"]
    return (stamps >= row["start"]) & (stamps < row["end"])


def test_log_lines_have_the_elk_fields(faulty: Telemetry, tmp_path: Path) -> None:
    logs = faulty.logs
    assert {"app", "postgres", "redis", "geodns"} <= set(logs["service"])
    assert {"express.access", "express.app", "postgresql.log", "redis.log"} <= set(
        logs["dataset"]
    )
    assert logs["timestamp"].is_monotonic_increasing
    # sampled: a few lines per service per minute, not one per request
    per_minute = len(logs) / (2 * 1440)
    assert 2 < per_minute < 20

    folder = write_dataset(faulty, tmp_path / "set")
    with gzip.open(folder / "logs.jsonl.gz", "rt") as handle:
        records = [json.loads(line) for line in handle]
    assert len(records) == len(logs)
    first = records[0]
    assert {"@timestamp", "log.level", "service.name", "event.dataset", "message"} <= (
        set(first)
    )
    assert first["@timestamp"].endswith("Z") and len(first["@timestamp"]) == 24
    app_lines = [r for r in records if r["service.name"] == "app"]
    assert all(len(r["trace.id"]) == 32 for r in app_lines if "trace.id" in r)
    labelled = [r for r in records if "labels" in r]
    assert {r["labels"]["incident_kind"] for r in labelled} == set(
        faulty.incidents["kind"]
    )
    loaded = load_dataset(folder)
    pd.testing.assert_frame_equal(loaded.logs, faulty.logs)
    pd.testing.assert_frame_equal(loaded.access_log, faulty.access_log)


def test_log_mix_follows_the_faults(faulty: Telemetry) -> None:
    logs = faulty.logs
    slow = logs["message"].str.contains("duration: ") & (logs["service"] == "postgres")
    during = inside(logs, faulty, "slow_queries")
    # slow-query lines crowd the span and are rare (debug only) outside it
    assert slow[during].sum() > 20 * max(1, slow[~during].sum())
    pool = logs["message"].str.contains("too many clients")
    assert pool[inside(logs, faulty, "connection_pool_exhaustion")].sum() > 100
    assert pool[~inside(logs, faulty, "connection_pool_exhaustion")].sum() == 0
    flagged = logs[logs["anomalous"]]
    assert set(flagged["incident_kind"]) == set(faulty.incidents["kind"])
    assert (flagged["level"].isin(["warning", "error"])).all()


def test_bad_release_with_a_memory_leak_logs_oom_kills() -> None:
    telemetry = production(
        [fault("bad_deploy", "app", 0.3, defect="memory_leak", duration_s=14400)]
    )
    logs = telemetry.logs
    oom = logs[logs["message"].str.contains("Out of memory: Killed process")]
    assert len(oom) >= 1
    row = telemetry.incidents.iloc[0]
    assert ((oom["timestamp"] >= row["start"]) & (oom["timestamp"] < row["end"])).all()
    restarts = telemetry.events[telemetry.events["detail"].str.contains("OOMKilled")]
    assert len(restarts) == len(oom)


def test_access_log_addresses_are_documentation_only(faulty: Telemetry) -> None:
    addresses = {ipaddress.ip_address(a) for a in faulty.access_log["client_address"]}
    assert all(any(a in net for net in DOCUMENTATION_NETWORKS) for a in addresses)
    assert any(a.version == 6 for a in addresses) and any(
        a.version == 4 for a in addresses
    )
    edge = documentation_addresses(np.array([0, 253, 254, 761, 762, 70000]))
    assert edge[:4] == ["192.0.2.1", "192.0.2.254", "198.51.100.1", "203.0.113.254"]
    assert all(
        any(ipaddress.ip_address(a) in net for net in DOCUMENTATION_NETWORKS)
        for a in edge
    )


def test_access_log_follows_the_traffic(faulty: Telemetry) -> None:
    log = faulty.access_log
    # weighted lines estimate the requests, errors kept more often or not
    estimate = log.set_index("timestamp")["sample_weight"].resample("1h").sum() / 3600
    rate = faulty.request_rate().resample("1h").mean()
    np.testing.assert_allclose(estimate.to_numpy(), rate.to_numpy(), rtol=0.35)
    assert np.corrcoef(estimate.to_numpy(), rate.to_numpy())[0, 1] > 0.9
    errors = log[log["status"] >= 500]
    assert (errors["sample_weight"] < log["sample_weight"].max()).all()
    ordinary = log[log["attack"] == ""]
    assert set(ordinary["method"]) == {"GET", "POST"}
    assert ordinary["latency_seconds"].between(0.001, 10).all()


def test_credential_stuffing_signature(faulty: Telemetry) -> None:
    log = faulty.access_log
    during = log[inside(log, faulty, "credential_stuffing")]
    attack = during[during["attack"] == "credential_stuffing"]
    logins = during[(during["method"] == "POST") & (during["path"] == "/login")]
    # a handful of addresses send nearly all the logins, mostly failing
    top = logins["client_address"].value_counts().iloc[:4].sum()
    assert len(attack) > 300 and top > 0.9 * len(logins)
    assert attack["client_address"].nunique() <= 4
    assert (attack["status"] == 401).mean() > 0.9
    assert (attack["status"] == 200).sum() >= 1  # a leaked password works
    assert (log.loc[log["attack"] == "credential_stuffing", "incident_id"] != "").all()
    outside = log[~inside(log, faulty, "credential_stuffing")]
    assert (outside["attack"] != "credential_stuffing").all()
    # the app feels it a little: failed logins cost CPU and requests
    wide = faulty.wide()
    row = faulty.incidents[faulty.incidents["kind"] == "credential_stuffing"].iloc[0]
    span = (wide.index >= row["start"]) & (wide.index < row["end"])
    day = np.roll(span, -1440)
    cpu_per_request = (
        wide["app:process_cpu_seconds_total"] / wide["app:http_requests_total"]
    )
    assert cpu_per_request[span].mean() > 1.15 * cpu_per_request[day].mean()


def test_scraping_signature(faulty: Telemetry) -> None:
    log = faulty.access_log
    during = log[inside(log, faulty, "scraping")]
    bots = during[during["attack"] == "scraping"]
    assert len(bots) > 80
    assert bots["client_address"].nunique() <= 4
    assert bots["path"].str.startswith("/catalogue/").all()
    assert bots["path"].nunique() > 0.9 * len(bots)  # walking, not repeating
    assert bots["user_agent"].str.contains("python-requests|Scrapy|curl").all()
    people = during[during["attack"] == ""]
    assert not people["user_agent"].str.contains("Scrapy").any()
    # the crawl raises the app's load
    wide = faulty.wide()
    row = faulty.incidents[faulty.incidents["kind"] == "scraping"].iloc[0]
    span = (wide.index >= row["start"]) & (wide.index < row["end"])
    day = np.roll(span, -1440)
    load = wide["app:http_requests_total"]
    assert load[span].mean() > 1.1 * load[day].mean()


def test_catalogue_has_thirteen_kinds() -> None:
    assert len(FAULT_CATALOGUE) >= 13
    assert {"credential_stuffing", "scraping"} <= set(FAULT_CATALOGUE)


def test_same_seed_gives_identical_log_bytes(tmp_path: Path) -> None:
    faults = [fault("credential_stuffing", "app", 0.5)]
    hashes = []
    for name in ("a", "b"):
        folder = write_dataset(production(faults, days=1.0), tmp_path / name)
        hashes.append(
            {
                path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                for path in sorted(folder.iterdir())
            }
        )
    assert hashes[0] == hashes[1]
    raw = (tmp_path / "a" / "logs.jsonl.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime field is zero

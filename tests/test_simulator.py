"""Simulator: output contract, fault signatures, labels, determinism, storage."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from aiops.errors import DataError
from aiops.scaling import HorizontalPodAutoscaler, PredictiveScaling
from aiops.simulator import (
    Telemetry,
    load_dataset,
    load_scenario,
    parse_scenario,
    simulate,
    write_dataset,
)

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
SEED = 7


def raw(profile: str) -> dict[str, Any]:
    loaded = yaml.safe_load((SCENARIOS / f"{profile}.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def production() -> Telemetry:
    return simulate(load_scenario(SCENARIOS / "production.yaml"), 14.0, SEED)


def span(telemetry: Telemetry, kind: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    row = telemetry.incidents[telemetry.incidents["kind"] == kind].iloc[0]
    return row["start"], row["end"]


def window(wide: pd.DataFrame, begin: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return wide[(wide.index >= begin) & (wide.index < end)]


def test_output_contract(production: Telemetry) -> None:
    metrics = production.metrics
    assert list(metrics.columns) == [
        "timestamp",
        "metric",
        "service",
        "region",
        "cloud",
        "env",
        "version",
        "value",
    ]
    assert str(metrics["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert metrics["value"].dtype == np.float64
    assert metrics["timestamp"].min() == pd.Timestamp("2026-01-05T00:00:00Z")
    assert set(metrics["env"]) == {"production"}
    for name in (
        "http_requests_total",
        "http_request_duration_seconds_p99",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "kube_deployment_replicas",
        "pg_replication_lag_seconds",
        "redis_cache_hit_ratio",
    ):
        assert name in set(metrics["metric"])

    assert list(production.incidents.columns) == [
        "id",
        "kind",
        "target",
        "start",
        "end",
        "onset",
        "intensity",
    ]
    assert list(production.labels.columns) == ["timestamp", "anomaly", "incident_id"]
    assert production.labels["anomaly"].dtype == np.int8
    assert list(production.events.columns) == ["timestamp", "kind", "target", "detail"]
    assert {"deployment", "scale_up", "scale_down", "backup", "rollback"} <= set(
        production.events["kind"]
    )

    wide = production.wide()
    assert len(wide) == 14 * 1440
    assert wide.index.tz is not None and wide.index.is_monotonic_increasing
    assert (np.diff(wide.index.asi8) == 60 * 10**9).all()
    assert 10 <= wide.shape[1] <= 40
    assert not wide.isna().any().any()
    assert "app:http_request_duration_seconds_p99" in wide.columns

    rate = production.request_rate()
    assert rate.index.equals(wide.index)
    # counters become per-second rates: the entry rate sits near base_rps
    assert 300 < rate.median() < 1200

    summary = production.summary()
    assert summary["n_incidents"] == len(production.incidents)
    assert summary["replica_hours"] > 0 and summary["cost_usd"] > 0
    assert summary["scaling_actions"] > 0
    assert summary["slo_violation_minutes"] >= 0


def test_production_faults_sit_in_the_second_week(production: Telemetry) -> None:
    incidents = production.incidents
    assert incidents["kind"].nunique() >= 3
    week_two = pd.Timestamp("2026-01-12T00:00:00Z")
    assert (incidents["start"] >= week_two).all()
    assert (incidents["end"] <= pd.Timestamp("2026-01-19T00:00:00Z")).all()
    # spread over days 8-14, not bunched together
    assert incidents["start"].dt.normalize().nunique() >= 5


@pytest.mark.parametrize("days", [3.0, 7.0])
def test_shorter_runs_keep_faults_in_their_second_half(days: float) -> None:
    telemetry = simulate(load_scenario(SCENARIOS / "production.yaml"), days, SEED)
    incidents = telemetry.incidents
    half = pd.Timestamp("2026-01-05T00:00:00Z") + pd.Timedelta(days=days / 2)
    assert len(incidents) >= 3
    assert (incidents["start"] >= half).all()
    assert (incidents["end"] <= telemetry.index[-1] + pd.Timedelta(minutes=1)).all()


def test_labels_exactly_cover_incidents(production: Telemetry) -> None:
    stamps = production.labels["timestamp"]
    expected = np.zeros(len(stamps), dtype=bool)
    for row in production.incidents.itertuples():
        inside = ((stamps >= row.start) & (stamps < row.end)).to_numpy()
        expected |= inside
        ids = production.labels.loc[inside, "incident_id"]
        assert ids.str.split(",").map(lambda names, i=row.id: i in names).all()
    assert (production.labels["anomaly"].to_numpy() == expected).all()
    assert (production.labels.loc[~expected, "incident_id"] == "").all()


def test_memory_leak_rises_monotonically_then_restarts(production: Telemetry) -> None:
    begin, end = span(production, "memory_leak")
    memory = production.wide()["app:process_resident_memory_bytes"]
    during = window(memory.to_frame(), begin, end).iloc[:, 0].to_numpy()
    block_means = during[: during.size // 10 * 10].reshape(-1, 10).mean(axis=1)
    assert (np.diff(block_means) > 0).all()
    baseline = memory[memory.index < begin].median()
    assert during[-10:].mean() > 1.8 * baseline
    after = memory[(memory.index >= end) & (memory.index < end + pd.Timedelta("1h"))]
    assert after.max() < 1.05 * baseline
    restarts = production.events[production.events["kind"] == "restart"]
    assert (restarts["timestamp"] == end).any()


def test_bad_deploy_raises_errors_and_rolls_back(production: Telemetry) -> None:
    begin, end = span(production, "bad_deploy")
    wide = production.wide()
    ratio = wide["app:http_request_errors_total"] / wide["app:http_requests_total"]
    before = window(ratio.to_frame(), begin - pd.Timedelta("1h"), begin).iloc[:, 0]
    during = window(ratio.to_frame(), begin, end).iloc[:, 0]
    assert during.mean() > 0.05 > 10 * before.mean()
    app = production.metrics[
        (production.metrics["service"] == "app")
        & (production.metrics["metric"] == "kube_deployment_replicas")
    ].set_index("timestamp")["version"]
    assert app[begin] != app[begin - pd.Timedelta("1min")]
    assert app[end] == app[begin - pd.Timedelta("1min")]
    rollbacks = production.events[production.events["kind"] == "rollback"]
    assert list(rollbacks["timestamp"]) == [end]


def test_cache_stampede_lowers_hit_ratio_and_loads_the_database(
    production: Telemetry,
) -> None:
    begin, end = span(production, "cache_stampede")
    wide = production.wide()
    before = window(wide, begin - pd.Timedelta("1h"), begin)
    during = window(wide, begin, end)
    assert during["redis:redis_cache_hit_ratio"].mean() < 0.3
    assert before["redis:redis_cache_hit_ratio"].mean() > 0.85
    db_load_ratio = (
        during["postgres:pg_queries_total"].mean()
        / before["postgres:pg_queries_total"].mean()
    )
    assert db_load_ratio > 1.8


@pytest.mark.parametrize(
    ("kind", "column", "factor"),
    [
        ("slow_queries", "postgres:pg_query_duration_seconds_p99", 3.0),
        ("connection_pool_exhaustion", "postgres:pg_stat_activity_count", 3.0),
        ("network_latency", "geodns:http_request_duration_seconds_p50", 2.0),
        ("replication_lag", "postgres:pg_replication_lag_seconds", 20.0),
    ],
)
def test_fault_signature_shows_in_its_span(
    production: Telemetry, kind: str, column: str, factor: float
) -> None:
    begin, end = span(production, kind)
    wide = production.wide()
    # compare with the same hours one day earlier (no incident then)
    day = pd.Timedelta(days=1)
    during = window(wide, begin, end)[column]
    reference = window(wide, begin - day, end - day)[column]
    # gradual onsets take a while: judge the second half of the span
    half = during.size // 2
    assert during.iloc[half:].mean() > factor * reference.iloc[half:].mean()


def test_cpu_saturation_costs_cpu_and_replicas(production: Telemetry) -> None:
    begin, end = span(production, "cpu_saturation")
    wide = production.wide()
    load = wide["app:http_requests_total"]
    per_request = {
        "cpu": wide["app:process_cpu_seconds_total"] / load,
        "replicas": wide["app:kube_deployment_replicas"] / load,
    }
    day = pd.Timedelta(days=1)
    for name, factor in (("cpu", 1.3), ("replicas", 1.5)):
        series = per_request[name].to_frame()
        during = window(series, begin, end).iloc[:, 0]
        reference = window(series, begin - day, end - day).iloc[:, 0]
        half = during.size // 2
        assert during.iloc[half:].mean() > factor * reference.iloc[half:].mean(), name


def test_disk_fill_backup_empties_the_disk(production: Telemetry) -> None:
    begin, end = span(production, "disk_fill_backup")
    avail = production.wide()["postgres:node_filesystem_avail_bytes"]
    disk = production.scenario.services["postgres"].disk_bytes
    assert disk is not None
    assert avail[avail.index < begin].min() > 0.4 * disk
    assert avail[end - pd.Timedelta("1min")] < 0.05 * disk
    wide = production.wide()
    ratio = wide["app:http_request_errors_total"] / wide["app:http_requests_total"]
    assert ratio[end - pd.Timedelta("1min")] > 0.05


def _experimental_with(faults: list[dict[str, Any]]) -> Any:
    spec = raw("experimental")
    spec.pop("random_faults")
    spec["faults"] = faults
    return parse_scenario(spec, source="experimental.yaml")


def test_region_outage_and_kafka_stall() -> None:
    scenario = _experimental_with(
        [
            {
                "kind": "region_outage",
                "target": "westeurope",
                "start": 0.6,
                "duration_s": 7200,
                "intensity": 1.0,
            },
            {
                "kind": "kafka_consumer_stall",
                "target": "kafka",
                "start": 0.8,
                "duration_s": 3600,
                "intensity": 0.9,
            },
        ]
    )
    telemetry = simulate(scenario, days=3.0, seed=SEED)
    wide = telemetry.wide()
    begin, end = span(telemetry, "region_outage")
    during = window(wide, begin, end)
    before = window(wide, begin - pd.Timedelta("2h"), begin)
    # health checks fail for the failover delay (120 s) before GeoDNS drains
    drained = begin + pd.Timedelta("2min")
    requests = during["app:http_requests_total:westeurope"]
    errors = during["app:http_request_errors_total:westeurope"]
    still_routed = requests.index < drained
    assert still_routed.sum() == 2 and (requests[still_routed] > 0).all()
    assert requests[~still_routed].max() == 0.0
    # meanwhile every request sent to the dead region fails
    np.testing.assert_allclose(errors[still_routed], requests[still_routed])
    assert (
        window(wide, drained, end)["app:http_requests_total:us-east-1"].mean()
        > 1.2 * before["app:http_requests_total:us-east-1"].mean()
    )
    failovers = telemetry.events[telemetry.events["kind"] == "failover"]
    assert list(failovers["timestamp"]) == [drained, end]
    assert list(failovers["target"]) == ["westeurope", "westeurope"]

    begin, end = span(telemetry, "kafka_consumer_stall")
    lag = wide["kafka:kafka_consumergroup_lag"]
    assert lag[begin - pd.Timedelta("1min")] < 1000
    assert lag[end - pd.Timedelta("1min")] > 1e5
    assert np.all(np.diff(window(lag.to_frame(), begin, end).iloc[:, 0]) >= 0)


def test_random_faults_are_seeded_and_disjoint() -> None:
    scenario = load_scenario(SCENARIOS / "experimental.yaml")
    first = simulate(scenario, days=4.0, seed=1).incidents
    again = simulate(scenario, days=4.0, seed=1).incidents
    other = simulate(scenario, days=4.0, seed=2).incidents
    pd.testing.assert_frame_equal(first, again)
    assert not first[["kind", "start"]].equals(other[["kind", "start"]])
    assert len(first) == 6 and first["kind"].nunique() == 6
    assert (
        first["start"].iloc[1:].to_numpy() >= first["end"].iloc[:-1].to_numpy()
    ).all()


def test_flash_crowd_raises_replicas_under_hpa() -> None:
    spec = raw("production")
    spec["faults"] = []
    spec["days"] = 2
    # day 2 at 14:00, one hour at three times the load
    spec["workload"]["flash_crowds"] = [
        {"start": (24 + 14) / 48, "duration_s": 3600, "multiplier": 3.0}
    ]
    telemetry = simulate(parse_scenario(spec), days=2.0, seed=SEED)
    replicas = telemetry.replicas()
    crowd = replicas["2026-01-06T14:00Z":"2026-01-06T14:59Z"]
    same_hour_before = replicas["2026-01-05T14:00Z":"2026-01-05T14:59Z"]
    assert crowd.max() >= 2.0 * same_hour_before.max()
    scale_ups = telemetry.events[telemetry.events["kind"] == "scale_up"]
    assert (
        (scale_ups["timestamp"] >= pd.Timestamp("2026-01-06T14:00Z"))
        & (scale_ups["timestamp"] < pd.Timestamp("2026-01-06T15:00Z"))
    ).any()


def test_policy_does_not_change_workload_or_faults() -> None:
    scenario = load_scenario(SCENARIOS / "production.yaml")
    reactive = simulate(scenario, days=3.0, seed=SEED, policy=HorizontalPodAutoscaler())
    rate = reactive.request_rate().to_numpy()
    lead = 3
    forecast = np.concatenate([rate[lead:], np.full(lead, np.nan)])
    predictive = simulate(
        scenario,
        days=3.0,
        seed=SEED,
        policy=PredictiveScaling(forecast, lead_steps=lead),
    )
    np.testing.assert_array_equal(predictive.request_rate().to_numpy(), rate)
    pd.testing.assert_frame_equal(predictive.incidents, reactive.incidents)
    assert predictive.policy_name == "predictive"
    # scaling ahead of a perfect forecast never holds fewer replicas on average
    assert predictive.replicas().mean() >= reactive.replicas().mean()
    assert (
        predictive.summary()["slo_violation_minutes"]
        <= reactive.summary()["slo_violation_minutes"]
    )


def _hashes(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
    }


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "production.yaml")
    first = write_dataset(simulate(scenario, 3.0, SEED), tmp_path / "a")
    second = write_dataset(simulate(scenario, 3.0, SEED), tmp_path / "b")
    other = write_dataset(simulate(scenario, 3.0, SEED + 1), tmp_path / "c")
    assert sorted(_hashes(first)) == [
        "access_log.parquet",
        "canary_samples.parquet",
        "deploys.parquet",
        "events.parquet",
        "incidents.parquet",
        "labels.parquet",
        "logs.jsonl.gz",
        "manifest.json",
        "metrics.parquet",
        "rollouts.parquet",
    ]
    assert _hashes(first) == _hashes(second)
    for name in ("metrics.parquet", "logs.jsonl.gz", "access_log.parquet"):
        assert _hashes(first)[name] != _hashes(other)[name], name
    assert not list(tmp_path.glob(".*"))  # no staging folders left behind


def test_dataset_round_trip_and_overwrite_guard(tmp_path: Path) -> None:
    telemetry = simulate(load_scenario(SCENARIOS / "experimental.yaml"), 2.0, SEED)
    folder = write_dataset(telemetry, tmp_path / "set")
    loaded = load_dataset(folder)
    pd.testing.assert_frame_equal(loaded.wide(), telemetry.wide())
    pd.testing.assert_frame_equal(loaded.incidents, telemetry.incidents)
    pd.testing.assert_frame_equal(loaded.labels, telemetry.labels)
    pd.testing.assert_frame_equal(loaded.events, telemetry.events)
    assert loaded.scenario == telemetry.scenario
    assert (loaded.seed, loaded.step_s, loaded.days) == (SEED, 60, 2.0)
    assert loaded.summary() == telemetry.summary()

    with pytest.raises(DataError, match=r"is not empty; pass overwrite=True"):
        write_dataset(telemetry, folder)
    write_dataset(telemetry, folder, overwrite=True)

    (folder / "labels.parquet").write_bytes(b"tampered")
    with pytest.raises(DataError, match=r"does not match the sha256"):
        load_dataset(folder)
    with pytest.raises(DataError, match=r"holds no manifest\.json"):
        load_dataset(tmp_path)


def test_development_runs_a_single_static_instance() -> None:
    telemetry = simulate(load_scenario(SCENARIOS / "development.yaml"), 2.0, SEED)
    wide = telemetry.wide()
    assert (wide["app:kube_deployment_replicas"] == 1).all()
    assert telemetry.summary()["scaling_actions"] == 0
    assert set(telemetry.metrics["cloud"]) == {"local"}


def test_development_database_is_seeded_at_the_start() -> None:
    telemetry = simulate(load_scenario(SCENARIOS / "development.yaml"), 1.0, SEED)
    wide = telemetry.wide()
    latency = wide["postgres:pg_query_duration_seconds_p99"]
    seeding = wide.index < wide.index[0] + pd.Timedelta("15min")
    # the seed job competes with queries, then its data stays on disk
    assert latency[seeding].mean() > 1.3 * latency[~seeding].mean()
    disk = wide["postgres:node_filesystem_avail_bytes"]
    assert disk.iloc[20] < disk.iloc[0] - 0.04 * 21474836480
    seeded = telemetry.events[telemetry.events["kind"] == "seed"]
    assert list(seeded["timestamp"]) == [wide.index[0]]
    assert telemetry.logs["message"].str.contains("db/seed.sql").sum() == 1


def test_manifest_holds_spec_seed_and_versions(tmp_path: Path) -> None:
    import json

    telemetry = simulate(load_scenario(SCENARIOS / "development.yaml"), 1.0, SEED)
    folder = write_dataset(telemetry, tmp_path / "dev")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == SEED and manifest["step_s"] == 60
    assert manifest["scenario"]["name"] == "development"
    assert set(manifest["versions"]) == {"aiops", "numpy", "pandas", "pyarrow"}
    assert manifest["sha256"]["metrics.parquet"] == _hashes(folder)["metrics.parquet"]


def test_random_faults_steer_clear_of_listed_exclusive_ones() -> None:
    # A listed memory leak on the app over the whole random window: no random
    # fault may share the app with it (the leak is exclusive), so every
    # random bad deploy or scraping attack, all due on the app, is left out.
    spec = raw("experimental")
    spec["faults"] = [
        {
            "kind": "memory_leak",
            "target": "app",
            "start": 0.4,
            "duration_s": 0.58 * spec["days"] * 86400,
            "intensity": 0.5,
            "onset": "gradual",
        }
    ]
    spec["random_faults"]["count"] = 12
    spec["random_faults"]["kinds"] = ["bad_deploy", "cache_stampede", "scraping"]
    incidents = simulate(parse_scenario(spec), days=4.0, seed=3).incidents
    leak = incidents[incidents["kind"] == "memory_leak"].iloc[0]
    others = incidents[incidents["kind"] != "memory_leak"]
    # the random window (0.5-0.95 of the run) lies inside the leak
    assert leak["start"] < others["start"].min() and others["end"].max() < leak["end"]
    assert not (others["target"] == "app").any()
    # the cache stampedes have a target of their own and all stay
    assert (others["kind"] == "cache_stampede").sum() == 4


def test_replication_lag_follows_the_write_rate() -> None:
    def lag(write_ratio: float) -> float:
        spec = raw("production")
        spec["faults"] = []
        spec["services"]["postgres"]["write_ratio"] = write_ratio
        telemetry = simulate(parse_scenario(spec), days=1.0, seed=SEED)
        return float(telemetry.wide()["postgres:pg_replication_lag_seconds"].mean())

    # reads go to the cache first, writes always reach the primary
    assert lag(0.05) < lag(0.3) < lag(0.6)
    assert lag(0.6) > 1.5 * lag(0.05)


def test_predictive_flag_scales_ahead_of_yesterdays_load() -> None:
    def run(predictive: bool) -> tuple[str, float, float]:
        spec = raw("experimental")
        spec.pop("random_faults")
        spec["faults"] = []
        spec["services"]["app"]["autoscaling"]["predictive"] = predictive
        telemetry = simulate(parse_scenario(spec), days=3.0, seed=SEED)
        wide = telemetry.wide()
        second_day = wide.index >= wide.index[0] + pd.Timedelta("1D")
        replicas = wide.filter(like="app:kube_deployment_replicas")
        p99 = wide.filter(like="app:http_request_duration_seconds_p99")
        slow = float((p99[second_day] > 0.5).to_numpy().sum())
        return (
            telemetry.policy_name,
            float(replicas[second_day].sum(axis=1).mean()),
            slow,
        )

    policy, replicas, slow = run(True)
    hpa_policy, hpa_replicas, hpa_slow = run(False)
    assert (policy, hpa_policy) == ("predictive", "hpa")
    # capacity comes up before the daily ramp: more replicas, fewer slow minutes
    assert replicas > hpa_replicas and slow <= hpa_slow

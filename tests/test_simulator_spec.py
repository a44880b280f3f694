"""Scenario specification: the three profiles load, bad specs are refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiops.errors import ConfigError
from aiops.simulator import PROFILES, load_scenario, parse_scenario, simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"


def raw(profile: str = "production") -> dict[str, Any]:
    loaded = yaml.safe_load((SCENARIOS / f"{profile}.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_profiles_match_the_architecture() -> None:
    assert PROFILES == ("production", "development", "experimental")
    production = load_scenario(SCENARIOS / "production.yaml")
    assert production.services["app"].ports == [8080]
    assert production.regions[0].name == "us-east-1"
    assert production.regions[0].cloud == "aws"
    assert production.services["app"].autoscaling is not None
    assert production.deployment.strategy == "rolling"
    assert production.services["postgres"].replication == "primary_replica"
    assert production.services["postgres"].backup is not None

    development = load_scenario(SCENARIOS / "development.yaml")
    assert development.services["app"].ports == [3000]
    assert development.services["app"].max_replicas == 1
    assert development.logging.verbose and development.logging.level == "debug"

    experimental = load_scenario(SCENARIOS / "experimental.yaml")
    assert experimental.services["app"].ports == [9000, 9001, 9002]
    assert experimental.service_of_kind("queue") == "kafka"
    assert experimental.services["redis"].cluster is True
    assert {r.cloud for r in experimental.regions} == {
        "aws",
        "azure",
        "gcp",
        "digitalocean",
    }
    assert experimental.deployment.strategy == "canary"
    autoscaling = experimental.services["app"].autoscaling
    assert autoscaling is not None and autoscaling.predictive


def test_load_scenario_by_profile_name() -> None:
    assert load_scenario("production").name == "production"


def _set(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(spec)
    node = changed
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[keys[-1]] = value
    return changed


def _overlapping_faults() -> list[dict[str, Any]]:
    return [
        {"kind": "bad_deploy", "target": "app", "start": 0.6, "duration_s": 7200},
        {"kind": "memory_leak", "target": "app", "start": 0.601, "duration_s": 3600},
    ]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("services.app.colour", "red", r"services\.app\.colour = 'red'; unknown field"),
        (
            "services.app.min_replicas",
            -1,
            r"services\.app\.min_replicas = -1; expected an integer >= 1",
        ),
        (
            "services.app.depends_on",
            ["redis", "mysql"],
            r"services\.app\.depends_on = 'mysql'; expected another service",
        ),
        (
            "faults.0.target",
            "nosuch",
            r"faults\[0\]\.target = 'nosuch'; expected a service or region",
        ),
        (
            "faults.0.target",
            "geodns",
            r"faults\[0\]\.target = 'geodns' \(kind entry\); a memory_leak fault",
        ),
        ("faults.0.kind", "meteor_strike", r"faults\[0\]\.kind = 'meteor_strike'"),
        ("faults.0.onset", "sudden", r"faults\[0\]\.onset = 'sudden'; expected one of"),
        ("faults.0.duration_s", 1e9, r"faults\[0\]\.duration_s = 1e\+09.*would end"),
        ("faults", _overlapping_faults(), r"overlap on target 'app'"),
        ("faults.0.kind", "region_outage", r"at least two regions"),
        ("services.app.max_replicas", 2, r"services\.app\.max_replicas = 2; expected"),
        ("regions.0.cloud", "ibm", r"regions\[0\]\.cloud = 'ibm'; expected one of"),
        (
            "workload.daily_amplitude",
            1.5,
            r"workload\.daily_amplitude = 1\.5; expected a number < 1",
        ),
        ("slo", None, r"slo = None"),
        (
            "services.redis.metrics",
            ["redis_commands_total"],
            r"faults\[2\]\.target = 'redis'; a cache_stampede fault shows in "
            r"redis_cache_hit_ratio, which redis does not emit",
        ),
        (
            "services.redis.read_replicas",
            2,
            r"services\.redis\.read_replicas is set on a service of kind 'cache'",
        ),
    ],
)
def test_bad_specs_raise_one_line_config_errors(
    path: str, value: Any, message: str
) -> None:
    if path == "faults.0.kind" and value == "region_outage":
        spec = _set(raw(), "faults.0.target", "us-east-1")
        spec = _set(spec, path, value)
    else:
        spec = _set(raw(), path, value)
    with pytest.raises(ConfigError, match=message) as caught:
        parse_scenario(spec, source="production.yaml")
    text = str(caught.value)
    assert text.startswith("scenario production.yaml: ")
    assert "\n" not in text


def test_missing_field_is_named() -> None:
    spec = raw()
    del spec["workload"]["base_rps"]
    with pytest.raises(ConfigError, match=r"workload\.base_rps is missing"):
        parse_scenario(spec, source="production.yaml")


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nservices: {app: [1, 2}\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario(broken)
    assert str(caught.value).startswith(
        "scenario broken.yaml: not valid YAML at line 2, column "
    )
    assert "\n" not in str(caught.value)


def test_random_faults_need_a_target_in_the_scenario() -> None:
    spec = raw("development")
    spec["random_faults"] = {"count": 2, "kinds": ["kafka_consumer_stall"]}
    with pytest.raises(ConfigError, match=r"'kafka_consumer_stall'; the scenario has"):
        parse_scenario(spec, source="development.yaml")


def test_unknown_profile_and_missing_file() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown profile 'staging'; expected one of production, "
        r"development, experimental",
    ):
        load_scenario("staging")
    with pytest.raises(ConfigError, match=r"scenario file .*nope\.yaml not found"):
        load_scenario("nope.yaml")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0.0}, r"days = 0\.0; expected a number > 0"),
        ({"seed": -3}, r"seed = -3; expected an integer >= 0"),
        ({"step_s": 0}, r"step_s = 0; expected an integer >= 1"),
        ({"days": 0.0001}, r"expected a run of at least two steps"),
    ],
)
def test_simulate_refuses_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        simulate(load_scenario(SCENARIOS / "development.yaml"), **kwargs)

"""Policy documents: validation with field paths, and the policies they build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiops.errors import ConfigError
from aiops.policies import KedaScaler, build_policy, load_policy
from aiops.scaling import HorizontalPodAutoscaler, Observation, PredictiveScaling
from aiops.simulator import load_scenario, simulate
from tests.conftest import REPO

POLICIES = REPO / "data" / "policies"


def observation(step: int, rate: float, replicas: int, **extra: Any) -> Observation:
    values: dict[str, Any] = {
        "step": step,
        "time_s": 60.0 * step,
        "service": "app",
        "replicas": replicas,
        "ready_replicas": replicas,
        "utilization": min(rate / (replicas * 100.0), 1.0),
        "request_rate": rate,
        "capacity_per_replica": 100.0,
        "target_utilization": 0.5,
        "min_replicas": 1,
        "max_replicas": 50,
    }
    return Observation(**(values | extra))


@pytest.mark.parametrize(
    ("name", "built"),
    [
        ("hpa.yaml", HorizontalPodAutoscaler),
        ("keda.yaml", KedaScaler),
        ("predictive.yaml", PredictiveScaling),
    ],
)
def test_committed_documents_build_their_policy(name: str, built: type) -> None:
    document = load_policy(POLICIES / name)
    policy = build_policy(document, forecast=np.full(10, 100.0), lead_steps=2)
    assert isinstance(policy, built) and document.metadata.name == name[:-5]


def _document(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "aiops/v1",
        "kind": "ScalingPolicy",
        "metadata": {"name": "p"},
        "spec": {"type": "hpa", **spec},
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_document(tolerance=1.5), "policy: spec.hpa.tolerance = 1.5; input should"),
        (_document(colour="red"), "spec.hpa.colour = 'red'; extra inputs"),
        (_document(type="magic"), "spec = {'type': 'magic'}; input tag 'magic'"),
        (
            {**_document(), "kind": "Deployment"},
            "kind = 'Deployment'; expected one of ScalingPolicy, CanaryPolicy",
        ),
        ({**_document(), "apiVersion": "v2"}, "apiVersion = 'v2'; input should"),
        ({"kind": "ScalingPolicy"}, "apiVersion = "),
        (
            _document(scaleDownStabilizationSeconds=float("inf")),
            "spec.hpa.scaleDownStabilizationSeconds = inf; input should be a "
            "finite number",
        ),
        (_document(tolerance="0.1"), "spec.hpa.tolerance = '0.1'; input should be"),
        (
            {**_document(), "spec": {"type": "predictive", "maxStalenessSteps": True}},
            "spec.predictive.maxStalenessSteps = True; input should be a valid int",
        ),
    ],
)
def test_bad_documents_name_the_field(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as caught:
        load_policy(document)
    assert "\n" not in str(caught.value)


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"policy file .* does not exist"):
        load_policy(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected a mapping"):
        load_policy(tmp_path / "list.yaml")
    predictive = load_policy(POLICIES / "predictive.yaml")
    with pytest.raises(ConfigError, match="is predictive and needs a load forecast"):
        build_policy(predictive)


def test_keda_scales_up_at_once_and_down_after_the_cooldown() -> None:
    keda = KedaScaler(polling_interval_s=30, cooldown_period_s=300)
    # 50 req/s per replica (capacity 100 at target 0.5): 400 req/s -> 8
    assert keda.decide(observation(0, 400.0, 2)) == 8
    # demand falls to 100 req/s: held until 300 s after the last busy poll
    held = [keda.decide(observation(step, 100.0, 8)) for step in range(1, 5)]
    assert held == [8, 8, 8, 8]
    assert keda.decide(observation(5, 100.0, 8)) == 2
    # an explicit target per replica, clamped to max_replicas
    assert KedaScaler(10.0).decide(observation(0, 900.0, 2)) == 50


def test_keda_polls_at_its_interval_only() -> None:
    keda = KedaScaler(polling_interval_s=180, cooldown_period_s=0)
    assert keda.decide(observation(0, 400.0, 2)) == 8
    # the rate doubles a minute later: not read until the next poll at 180 s
    assert keda.decide(observation(1, 800.0, 8)) == 8
    assert keda.decide(observation(3, 800.0, 8)) == 16


def test_keda_runs_in_closed_loop_and_follows_the_load() -> None:
    scenario = load_scenario("production")
    keda = build_policy(load_policy(POLICIES / "keda.yaml"))
    telemetry = simulate(scenario, days=2.0, seed=3, policy=keda)
    assert telemetry.policy_name == "keda"
    replicas = telemetry.replicas()
    rate = telemetry.request_rate().reindex(replicas.index)
    # more replicas when there is more load, and no scale-down within the
    # five-minute cool-down after a scale-up
    assert np.corrcoef(replicas, rate)[0, 1] > 0.8
    events = telemetry.events
    ups = events.loc[events["kind"] == "scale_up", "timestamp"].to_numpy()
    downs = events.loc[events["kind"] == "scale_down", "timestamp"].to_numpy()
    assert len(ups) > 0 and len(downs) > 0
    for down in downs:
        earlier = ups[ups < down]
        assert not len(earlier) or down - earlier.max() >= np.timedelta64(5, "m")

"""Closed-loop scoring of scaling policies on a suite."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from aiops.closed_loop import run_policy, run_scaling_suite, totals
from aiops.errors import ConfigError
from aiops.policies import load_policy
from aiops.scaling import HorizontalPodAutoscaler
from aiops.suite import Suite, load_suite

TIMING = ("decision_seconds",)


class PerfectForecast:
    """Knows the future load: isolates the policy from the forecaster."""

    def forecast_at_lead(
        self, y: pd.Series, lead_steps: int, quantile: float = 0.9
    ) -> pd.Series:
        return y.shift(-lead_steps)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Suite:
    path = tmp_path_factory.mktemp("suite") / "tiny.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "warmup_days": 0.5,
                "days": 1,
                "scenarios": [
                    {"name": "diurnal", "base": "production", "seed": 11},
                    {
                        "name": "outage",
                        "base": "experimental",
                        "seed": 12,
                        "faults": [
                            {
                                "kind": "region_outage",
                                "target": "us-east-1",
                                "at_hour": 15,
                                "duration_s": 3600,
                            }
                        ],
                    },
                ],
            }
        )
    )
    return load_suite(path)


def test_run_is_scored_on_its_judged_window_only(suite: Suite) -> None:
    scenario = suite.scenarios[0]
    outcome = run_policy(scenario, "hpa", HorizontalPodAutoscaler())
    replicas = outcome.replicas
    assert replicas.index[0] == pd.Timestamp(scenario.judged_from)
    assert len(replicas) == 1440  # one day of minutes
    assert outcome.metrics["replica_hours"] == pytest.approx(replicas.sum() / 60.0)
    price = scenario.spec.regions[0].price_per_replica_hour
    assert outcome.cost_by_cloud == {
        "aws": pytest.approx(replicas.sum() / 60.0 * price, abs=1e-3)
    }
    assert outcome.metrics["decisions"] == 1440  # warm-up decisions not counted
    assert outcome.metrics["fallback_decisions"] == 0


def test_every_cloud_is_priced_and_the_costs_add_up(suite: Suite) -> None:
    outage = suite.scenarios[1]
    outcome = run_policy(outage, "hpa", HorizontalPodAutoscaler())
    assert set(outcome.cost_by_cloud) == {"aws", "azure", "gcp", "digitalocean"}
    assert sum(outcome.cost_by_cloud.values()) == pytest.approx(
        outcome.metrics["cost_usd"], abs=1e-3
    )
    # the drained region's replicas idle at the minimum while it is dark
    assert outcome.metrics["slo_violation_minutes"] > 0


def test_predictive_with_a_perfect_forecast_is_cheaper_and_no_worse(
    suite: Suite,
) -> None:
    policies = {
        name: load_policy(name) for name in ("hpa", "keda", "predictive", "combined")
    }
    outcomes = run_scaling_suite(suite, policies, PerfectForecast())
    summed = totals(outcomes)
    hpa, predictive = summed["hpa"], summed["predictive"]
    assert predictive["cost_usd"] < 0.9 * hpa["cost_usd"]
    assert predictive["slo_violation_minutes"] <= hpa["slo_violation_minutes"]
    # the larger of HPA and predictive never costs less than the HPA alone
    assert summed["combined"]["cost_usd"] >= hpa["cost_usd"]
    assert summed["predictive"]["decision_us"] > 0
    for policy, total in summed.items():
        mine = [o for o in outcomes if o.policy == policy]
        assert total["scenarios"] == 2
        assert total["cost_usd"] == pytest.approx(
            sum(o.metrics["cost_usd"] for o in mine)
        )


def test_same_seed_same_figures(suite: Suite) -> None:
    policies = {name: load_policy(name) for name in ("hpa", "predictive")}
    first = run_scaling_suite(suite, policies, PerfectForecast())
    second = run_scaling_suite(suite, policies, PerfectForecast())
    for a, b in zip(first, second, strict=True):
        same = {k: v for k, v in a.metrics.items() if k not in TIMING}
        assert same == {k: v for k, v in b.metrics.items() if k not in TIMING}


def test_a_missing_forecast_leaves_the_decision_to_the_fallback(
    suite: Suite,
) -> None:
    class NoForecast:
        def forecast_at_lead(
            self, y: pd.Series, lead_steps: int, quantile: float = 0.9
        ) -> pd.Series:
            return pd.Series(np.nan, index=y.index)

    scenario = suite.scenarios[0]
    alone = Suite("one", "", (scenario,), "")
    predictive = run_scaling_suite(
        alone, {"p": load_policy("predictive")}, NoForecast()
    )[0]
    hpa = run_policy(scenario, "hpa", HorizontalPodAutoscaler())
    assert predictive.metrics["fallback_decisions"] == predictive.metrics["decisions"]
    assert predictive.metrics["replica_hours"] == hpa.metrics["replica_hours"]
    assert math.isclose(predictive.metrics["cost_usd"], hpa.metrics["cost_usd"])


def test_forecast_driven_policies_need_a_forecaster(suite: Suite) -> None:
    with pytest.raises(ConfigError, match=r"train and register a forecaster first"):
        run_scaling_suite(suite, {"predictive": load_policy("predictive")}, None)


def test_policy_file_path_and_name_load_the_same(tmp_path: Path) -> None:
    from aiops.policies import policies_dir

    assert load_policy("hpa") == load_policy(policies_dir() / "hpa.yaml")
    with pytest.raises(ConfigError, match="unknown policy 'nope'; expected one of"):
        load_policy("nope")

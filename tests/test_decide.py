"""``aiops decide``: one recommendation from recorded telemetry.

The datasets are simulated once per module: two production days (rolling
releases, the built-in HPA) and a day and a half of a production fleet that
releases by canary every six hours, one release of which fails 80 % of its
requests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from aiops.decide import decide
from aiops.policies import load_document
from aiops.scaling import HorizontalPodAutoscaler, Observation
from aiops.simulator import load_dataset, load_scenario, simulate, write_dataset
from aiops.simulator.spec import ScenarioSpec
from tests.conftest import REPO
from tests.test_cli import run_cli
from tests.test_policy_benchmark import register_forecaster

APP = "app"
ENTRY = "geodns"
REPLICAS = f"{APP}:kube_deployment_replicas"
READY = f"{APP}:kube_deployment_status_replicas_available"
LOAD = f"{APP}:http_requests_total"
ENTRY_LOAD = f"{ENTRY}:http_requests_total"


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two production days, with the wide export beside the tables."""
    telemetry = simulate(load_scenario("production"), days=2, seed=7, logs=False)
    folder = tmp_path_factory.mktemp("decide") / "production"
    return write_dataset(telemetry, folder, exports=("wide",))


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day and a half of canary releases; the one at 21:36 is bad."""
    folder = tmp_path_factory.mktemp("decide-canary")
    raw = yaml.safe_load((REPO / "data" / "scenarios" / "production.yaml").read_text())
    raw.update(
        name="canary-releases",
        days=1.5,
        deployment={
            "strategy": "canary",
            "canary_fraction": 0.1,
            "canary_duration_s": 1800,
            "every_days": 0.25,
            "hour_utc": 1,
        },
        faults=[
            {
                "kind": "bad_deploy",
                "target": APP,
                "start": 0.6,
                "duration_s": 3600,
                "intensity": 0.8,
                "defect": "errors",
            }
        ],
    )
    raw["workload"]["flash_crowds"] = []
    path = folder / "canary.yaml"
    path.write_text(yaml.safe_dump(raw))
    telemetry = simulate(load_scenario(path), days=1.5, seed=11, logs=False)
    return write_dataset(telemetry, folder / "dataset")


def wide_table(dataset: Path) -> pd.DataFrame:
    """The dataset's wide export with its time stamps as the index."""
    table = pd.read_parquet(dataset / "metrics_wide.parquet")
    return table.set_index(pd.DatetimeIndex(table.pop("timestamp")))


def write_table(wide: pd.DataFrame, path: Path) -> Path:
    frame = wide.rename_axis("timestamp").reset_index()
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def replay_hpa(wide: pd.DataFrame, spec: ScenarioSpec) -> int:
    """The HPA of ``hpa.yaml`` replayed over every row, as decide.py
    documents: each fleet observation rebuilt from the wide table, with the
    utilisation the load over the ready replicas' nominal capacity."""
    app = spec.services[APP]
    assert app.autoscaling is not None
    policy = load_document("hpa").spec
    hpa = HorizontalPodAutoscaler(
        tolerance=policy.tolerance,
        scale_down_stabilization_s=policy.scale_down_stabilization_s,
    )
    desired = -1
    for step, (replicas, ready, load, entry) in enumerate(
        wide[[REPLICAS, READY, LOAD, ENTRY_LOAD]].itertuples(index=False)
    ):
        observation = Observation(
            step=step,
            time_s=step * 60.0,
            service=APP,
            replicas=round(replicas),
            ready_replicas=round(ready),
            utilization=min(load / (max(round(ready), 1) * app.capacity_rps), 1.0),
            request_rate=float(load),
            capacity_per_replica=app.capacity_rps,
            target_utilization=app.autoscaling.target_utilization,
            min_replicas=app.min_replicas,
            max_replicas=app.max_replicas,
            traffic_share=load / entry if entry > 0 else 0.0,
        )
        desired = hpa.decide(observation)
    return desired


def only_fleet(result: dict[str, Any], index: int = 0) -> dict[str, Any]:
    (fleet,) = result["scaling"][index]["fleets"]
    return fleet


def deploys_of(dataset: Path) -> pd.DataFrame:
    return load_dataset(dataset).deploys


# --- scaling --------------------------------------------------------------


def test_hpa_recommendation_matches_the_policy_replayed_by_hand(
    aiops_home: Path, production: Path
) -> None:
    done = run_cli(
        aiops_home, "decide", "--telemetry", str(production), "--policy", "hpa"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    recorded = load_dataset(production)
    wide, spec = recorded.wide(), recorded.scenario
    assert result["scenario"] == "production"
    assert result["rows"] == 2 * 1440
    (scaling,) = result["scaling"]
    assert scaling["policy"] == "hpa" and scaling["type"] == "hpa"
    assert scaling["as_of"] == wide.index[-1].isoformat()
    fleet = only_fleet(result)
    assert fleet["service"] == APP and fleet["region"] == "us-east-1"
    assert fleet["current_replicas"] == round(wide[REPLICAS].iloc[-1])
    assert fleet["ready_replicas"] == round(wide[READY].iloc[-1])
    assert fleet["request_rate_rps"] == round(wide[LOAD].iloc[-1], 3)
    assert fleet["recommended_replicas"] == replay_hpa(wide, spec)
    # the run was driven by the same HPA and ends quietly: nothing to change
    assert fleet["action"] == "hold"
    assert "forecast" not in fleet


def test_the_wide_table_gives_the_same_recommendation_as_the_folder(
    aiops_home: Path, production: Path
) -> None:
    answers = []
    for telemetry in (production, production / "metrics_wide.parquet"):
        done = run_cli(
            aiops_home,
            *("decide", "--telemetry", str(telemetry)),
            *("--policy", "hpa", "--policy", "keda", "--scenario", "production"),
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["rows"] == 2 * 1440
        answers.append(result["scaling"])
    assert answers[0] == answers[1]
    assert [s["policy"] for s in answers[0]] == ["hpa", "keda"]


@pytest.mark.parametrize(
    ("factor", "last_rows", "action"),
    [
        (1.0, 1, "hold"),
        (1.5, 1, "scale_up"),  # a surge acts at once
        (3.0, 3, "scale_up"),  # utilisation saturates at 1.0
        (0.5, 1, "hold"),  # one quiet minute: the 300 s window keeps the peak
        (0.5, 10, "scale_down"),  # ten quiet minutes: past the window
    ],
)
def test_a_changed_load_moves_the_recommendation(
    aiops_home: Path,
    production: Path,
    tmp_path: Path,
    factor: float,
    last_rows: int,
    action: str,
) -> None:
    wide = wide_table(production)
    for column in (LOAD, ENTRY_LOAD):
        wide.iloc[-last_rows:, wide.columns.get_loc(column)] *= factor
    table = write_table(wide, tmp_path / "recent.csv")

    fleet = only_fleet(decide(table, ["hpa"], scenario="production"))

    spec = load_scenario("production")
    assert fleet["action"] == action
    assert fleet["recommended_replicas"] == replay_hpa(wide, spec)
    replicas = round(wide[REPLICAS].iloc[-1])
    ready = round(wide[READY].iloc[-1])
    assert ready == replicas  # nothing booting at the end of the run
    utilization = min(wide[LOAD].iloc[-1] / (ready * 100.0), 1.0)
    assert fleet["utilization"] == round(utilization, 4)
    if action == "scale_up":
        assert fleet["recommended_replicas"] == math.ceil(replicas * utilization / 0.6)


def test_a_predictive_policy_scales_on_the_registered_forecast(
    aiops_home: Path, tmp_path: Path
) -> None:
    from aiops.policy_benchmark import load_forecaster

    uri = register_forecaster()
    spec = load_document("predictive").spec
    telemetry = simulate(load_scenario("production"), days=8, seed=3, logs=False)
    table = write_table(telemetry.wide(), tmp_path / "week.parquet")

    done = run_cli(
        aiops_home, "decide", "--telemetry", str(table), "--policy", "predictive"
    )
    assert done.returncode == 0, done.stderr
    fleet = only_fleet(json.loads(done.stdout))

    # three steps ahead: 90 s start-up plus a 60 s decision interval
    entry = telemetry.request_rate()
    expected = load_forecaster(uri).forecast_at_lead(entry, 3, quantile=spec.quantile)
    forecast = fleet["forecast"]
    assert forecast["model"] == uri and forecast["quantile"] == spec.quantile
    assert forecast["lead_seconds"] == 180.0
    assert forecast["for"] == (entry.index[-1] + pd.Timedelta("3min")).isoformat()
    assert forecast["entry_load_rps"] == round(float(expected.iloc[-1]), 3)
    assert forecast["fleet_load_rps"] == forecast["entry_load_rps"]  # one region
    assert forecast["fallback_to_reactive"] is False
    # it asks for at least the calibrated forecast at its target utilisation
    per_replica = 100.0 * spec.target_utilization
    needed = forecast["entry_load_rps"] * forecast["calibration"] / per_replica
    assert fleet["recommended_replicas"] >= min(math.ceil(needed - 1e-9), 40)


def test_a_short_history_leaves_the_predictive_policy_to_its_fallback(
    aiops_home: Path, production: Path
) -> None:
    register_forecaster()
    done = run_cli(
        aiops_home,
        *("decide", "--telemetry", str(production)),
        *("--policy", "predictive", "--policy", "hpa"),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    predictive, hpa = only_fleet(result, 0), only_fleet(result, 1)
    # two days are less than the weekly lag needs: no forecast, the HPA decides
    assert predictive["forecast"]["entry_load_rps"] is None
    assert predictive["forecast"]["fallback_to_reactive"] is True
    assert predictive["recommended_replicas"] == hpa["recommended_replicas"]


# --- canary ---------------------------------------------------------------


def test_a_bad_canary_is_rolled_back_on_its_error_ratio(
    aiops_home: Path, canary: Path
) -> None:
    deploys = deploys_of(canary)
    (bad,) = deploys.loc[deploys["bad"].astype(bool), "version"]
    done = run_cli(
        aiops_home,
        *("decide", "--telemetry", str(canary)),
        *("--policy", "canary-kayenta", "--version", bad),
    )
    assert done.returncode == 0, done.stderr
    (verdict,) = json.loads(done.stdout)["canary"]

    assert verdict["policy"] == "canary-kayenta" and verdict["judge"] == "kayenta"
    assert verdict["version"] == bad
    assert verdict["action"] == "rollback" and verdict["verdict"] == "fail"
    # the first five-minute measurement already fails it
    assert verdict["measurement"] == 1 and verdict["failures"] == 1
    assert "1 failures exceed the limit of 0" in verdict["reason"]
    metrics = {m["name"]: m for m in verdict["metrics"]}
    error_ratio = metrics["error_ratio"]
    assert error_ratio["classification"] == "High" and error_ratio["critical"]
    assert error_ratio["canary_median"] > 10 * error_ratio["baseline_median"]
    assert error_ratio["p_value"] < 0.02


def test_a_good_canary_is_promoted_after_six_measurements(
    aiops_home: Path, canary: Path
) -> None:
    deploys = deploys_of(canary)
    good = deploys.loc[~deploys["bad"].astype(bool), "version"].iloc[-1]
    answers = []
    for version in ([], ["--version", good]):
        done = run_cli(
            aiops_home,
            *("decide", "--telemetry", str(canary)),
            *("--policy", "canary-kayenta", *version),
        )
        assert done.returncode == 0, done.stderr
        (verdict,) = json.loads(done.stdout)["canary"]
        answers.append(verdict)
    # the latest release is the default, here a good one
    assert answers[0] == answers[1]
    verdict = answers[0]
    assert verdict["version"] == good
    assert verdict["action"] == "promote" and verdict["verdict"] == "pass"
    assert verdict["measurement"] == 6 and verdict["failures"] == 0
    assert verdict["samples"] == 30  # 30 minutes of one-minute samples
    metrics = {m["name"]: m["classification"] for m in verdict["metrics"]}
    assert metrics["error_ratio"] == "Pass"


def test_the_previous_version_is_the_one_the_canary_replaced(canary: Path) -> None:
    deploys = deploys_of(canary)
    row = deploys.loc[deploys["bad"].astype(bool)].iloc[0]
    result = decide(canary, ["canary-kayenta"], version=row["version"])
    assert result["canary"][0]["previous_version"] == row["old_version"]


# --- bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--telemetry", "/nonexistent/telemetry", "--policy", "hpa"],
            "telemetry /nonexistent/telemetry does not exist; pass a file or folder",
        ),
        (
            ["--telemetry", "EMPTY", "--policy", "hpa"],
            "is a folder without manifest.json; pass a dataset folder",
        ),
        (
            ["--telemetry", "NO_TIME.csv", "--policy", "hpa"],
            "has no 'timestamp' column; found ['time', 'value']",
        ),
        (
            ["--telemetry", "PRODUCTION", "--policy", "canary-kayenta"],
            "policy 'canary-kayenta' judges canaries, and ",
        ),
        (
            [
                *("--telemetry", "CANARY", "--policy", "canary-kayenta"),
                *("--version", "9.9.9"),
            ],
            "no canary samples of version '9.9.9'",
        ),
        (
            ["--telemetry", "NO_REPLICAS.csv", "--policy", "hpa"],
            f"telemetry has no column '{REPLICAS}'",
        ),
        (
            ["--telemetry", "WIDE", "--policy", "hpa", "--scenario", "experimental"],
            f"telemetry has no column '{REPLICAS}:us-east-1'",
        ),
        (
            ["--telemetry", "PRODUCTION", "--policy", "nope"],
            "unknown policy 'nope'; expected one of",
        ),
        (
            ["--telemetry", "PRODUCTION", "--policy", "predictive"],
            "aiops train forecaster",
        ),
        (
            ["--telemetry", "TEXT.csv", "--policy", "hpa"],
            "columns ['note'] are not numbers",
        ),
        (
            ["--telemetry", "BAD_TIME.csv", "--policy", "hpa"],
            "timestamp 'yesterday' is not a time",
        ),
        (
            ["--telemetry", "NEGATIVE.csv", "--policy", "hpa"],
            "has 1 infinite or negative values",
        ),
        (
            ["--telemetry", "INFINITE.csv", "--policy", "hpa"],
            "has 1 infinite or negative values",
        ),
        (
            ["--telemetry", "GAP.csv", "--policy", "hpa"],
            "telemetry is not one row per 60 s step: 1 gap(s) or repeated",
        ),
        (
            ["--telemetry", "REPEATED.csv", "--policy", "hpa"],
            "telemetry is not one row per 60 s step",
        ),
        (
            ["--telemetry", "PRODUCTION", "--policy", "hpa", "--policy", "hpa"],
            "policies ['hpa'] are given more than once",
        ),
        (
            [
                *("--telemetry", "CANARY", "--policy", "canary-kayenta"),
                *("--version", ""),
            ],
            "--version is empty",
        ),
        (
            ["--telemetry", "PRODUCTION", "--policy", "TMP"],
            "is a folder; expected a YAML file",
        ),
        (
            ["--telemetry", "BROKEN", "--policy", "hpa"],
            "manifest.json is not valid JSON",
        ),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(
    aiops_home: Path,
    production: Path,
    canary: Path,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    wide = wide_table(production).iloc[-30:]
    (tmp_path / "empty").mkdir()
    (tmp_path / "no_time.csv").write_text("time,value\n2026-01-05T00:00:00Z,1\n")
    write_table(wide.drop(columns=[REPLICAS]), tmp_path / "no_replicas.csv")
    write_table(wide.assign(note="x"), tmp_path / "text.csv")
    bad_time = wide.reset_index(drop=True)
    bad_time.index = pd.Index(["yesterday"] * len(bad_time))
    write_table(bad_time, tmp_path / "bad_time.csv")
    negative = wide.copy()
    negative.iloc[-1, negative.columns.get_loc(REPLICAS)] = -1.0
    write_table(negative, tmp_path / "negative.csv")
    infinite = wide.copy()
    infinite.iloc[-2, infinite.columns.get_loc(REPLICAS)] = float("inf")
    write_table(infinite, tmp_path / "infinite.csv")
    write_table(wide.drop(wide.index[10]), tmp_path / "gap.csv")
    write_table(pd.concat([wide, wide.iloc[-1:]]), tmp_path / "repeated.csv")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{")
    places = {
        "BROKEN": tmp_path / "broken",
        "TMP": tmp_path,
        "NEGATIVE.csv": tmp_path / "negative.csv",
        "INFINITE.csv": tmp_path / "infinite.csv",
        "GAP.csv": tmp_path / "gap.csv",
        "REPEATED.csv": tmp_path / "repeated.csv",
        "EMPTY": tmp_path / "empty",
        "NO_TIME.csv": tmp_path / "no_time.csv",
        "NO_REPLICAS.csv": tmp_path / "no_replicas.csv",
        "TEXT.csv": tmp_path / "text.csv",
        "BAD_TIME.csv": tmp_path / "bad_time.csv",
        "PRODUCTION": production,
        "WIDE": production / "metrics_wide.parquet",
        "CANARY": canary,
    }
    done = run_cli(aiops_home, "decide", *[str(places.get(a, a)) for a in args])

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("aiops: error: ")
    assert message in lines[0]
    assert done.stdout == ""


def test_a_detector_judge_without_a_registered_detector_learns_from_baselines(
    aiops_home: Path, canary: Path
) -> None:
    deploys = deploys_of(canary)
    bad = deploys.loc[deploys["bad"].astype(bool), "version"].iloc[0]
    result = decide(canary, ["canary-combined"], version=bad)["canary"][0]
    assert result["detector"]["source"].startswith("trained on ")
    assert result["action"] == "rollback"
    names = {m["name"] for m in result["metrics"]}
    assert "detector/anomaly_score" in names and "kayenta/error_ratio" in names


def test_shuffled_samples_give_the_verdict_of_sorted_ones(
    aiops_home: Path, canary: Path, tmp_path: Path
) -> None:
    samples = load_dataset(canary).canary_samples
    shuffled = samples.sample(frac=1.0, random_state=3)
    shuffled["version"] = shuffled["version"].astype(str)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    plain = decide(canary, ["canary-kayenta"])["canary"][0]
    again = decide(
        canary, ["canary-kayenta"], canary_samples=tmp_path / "shuffled.csv"
    )["canary"][0]
    assert again["version"] == plain["version"] == samples["version"].iloc[-1]
    for key in ("action", "measurement", "score", "previous_version"):
        assert again[key] == plain[key]

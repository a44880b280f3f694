"""``aiops evaluate policy``: every policy on a tiny suite, in closed loop.

The suites here are half a day after a six-hour warm-up, so a whole
benchmark runs in about a second; the one with a predictive policy needs a
week of warm-up for the forecaster's weekly lag and registers a small
forecaster first.
"""

from __future__ import annotations

import inspect
import json
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aiops.policy_benchmark import run_policy_benchmark
from aiops.suite import load_suite
from tests.conftest import home_environment, log_forecaster
from tests.test_cli import run_cli

CANARY = (
    "{deployment: {strategy: canary, canary_fraction: 0.1, "
    "canary_duration_s: 1800, every_days: 0.125, hour_utc: 1}}"
)
BAD_ERRORS = (
    "{kind: bad_deploy, target: app, at_hour: %s, duration_s: 3600, "
    "intensity: 0.8, defect: errors}"
)
SUITE = f"""\
name: tiny
description: Half a day of ordinary, multi-cloud and canary scenarios
warmup_days: 0.25
days: 0.5
scenarios:
  - {{name: diurnal, base: production, seed: 101}}
  - {{name: multi-cloud, base: experimental, seed: 121}}
  - name: bad-errors
    base: production
    seed: 131
    set: {CANARY}
    faults:
      - {BAD_ERRORS % 2}
      - {BAD_ERRORS % 8}
  - name: good-deploys
    base: production
    seed: 141
    set: {CANARY}
"""
SCALING = ("hpa", "keda")
TIMING = ("decision_seconds", "decision_us")
STEPS_PER_DAY = 1440


def write_suite(folder: Path, text: str = SUITE, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def suite_path(tmp_path: Path) -> Path:
    return write_suite(tmp_path)


def default_model_uri() -> str:
    """The forecaster the predictive policies load unless told otherwise."""
    return str(inspect.signature(run_policy_benchmark).parameters["model_uri"].default)


def register_forecaster(days: int = 8, seed: int = 5) -> str:
    """Register a small XGBoost load forecaster in the active home under the
    name and alias of :func:`default_model_uri`; return that URI."""
    from mlflow import MlflowClient

    from aiops.forecasting import XGBForecaster
    from aiops.simulator import load_scenario, simulate

    uri = default_model_uri()
    name, alias = uri.removeprefix("models:/").split("@")
    rate = simulate(
        load_scenario("production"), days=days, seed=seed, logs=False
    ).request_rate()
    # a weekly lag needs seven days of history; the rest is kept small
    forecaster = XGBForecaster(
        horizon=5,
        lags=(1, 2, 3, 5, 10),
        rolling_windows=(5, 30),
        seasonal_lags=("1D", "7D"),
        n_estimators=40,
        max_train_rows=5000,
        n_jobs=1,  # two threads on a shared two-core machine thrash
    ).fit(rate)
    version = log_forecaster(forecaster, rate, name)
    MlflowClient().set_registered_model_alias(name, alias, version)
    return uri


def without_timing(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).drop(columns=list(TIMING), errors="ignore")
    frame["cost_usd_by_cloud"] = frame["cost_usd_by_cloud"].map(json.dumps)
    return frame


# --- the command, end to end ---------------------------------------------


def test_evaluate_policy_prints_both_tables_and_writes_consistent_json(
    aiops_home: Path, suite_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    done = run_cli(
        aiops_home,
        *("evaluate", "policy", "--suite", str(suite_path)),
        *("--policies", "hpa,keda,canary-kayenta", "--no-mlflow"),
        *("--json", str(out)),
    )
    assert done.returncode == 0, done.stderr
    assert "| scaling policy | replica-h | cost $ | vs hpa |" in done.stdout
    assert "| hpa |" in done.stdout and "| keda |" in done.stdout
    assert "| canary policy | bad caught | false rollbacks |" in done.stdout
    assert "| builtin |" in done.stdout and "| canary-kayenta |" in done.stdout
    assert f"results written to {out}" in done.stdout
    assert not (aiops_home / "mlflow" / "mlflow.db").exists()

    saved = json.loads(out.read_text())
    suite = load_suite(suite_path)
    names = [s.name for s in suite.scenarios]
    assert saved["scenarios"] == names
    assert saved["settings"]["seeds"] == {s.name: s.seed for s in suite.scenarios}
    assert saved["policies"] == {
        "hpa": "ScalingPolicy",
        "keda": "ScalingPolicy",
        "canary-kayenta": "CanaryPolicy",
    }

    # one row per (scenario, scaling policy), each priced cloud by cloud
    rows = saved["scaling"]["per_scenario"]
    assert [(r["scenario"], r["policy"]) for r in rows] == [
        (scenario, policy) for scenario in names for policy in SCALING
    ]
    fleets = {s.name: len(s.spec.regions) for s in suite.scenarios}
    for row in rows:
        assert row["cost_usd"] == pytest.approx(
            sum(row["cost_usd_by_cloud"].values()), abs=1e-3
        )
        # a decision a minute per fleet, in the judged window only
        assert row["decisions"] == 0.5 * STEPS_PER_DAY * fleets[row["scenario"]]
    multi_cloud = next(r for r in rows if r["scenario"] == "multi-cloud")
    assert set(multi_cloud["cost_usd_by_cloud"]) == {
        "aws",
        "azure",
        "gcp",
        "digitalocean",
    }

    totals = saved["scaling"]["totals"]
    assert list(totals) == list(SCALING)
    for policy in SCALING:
        mine = [r for r in rows if r["policy"] == policy]
        total = totals[policy]
        assert total["scenarios"] == len(names)
        assert total["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in mine))
        assert total["slo_violation_minutes"] == sum(
            r["slo_violation_minutes"] for r in mine
        )
        assert sum(total["cost_usd_by_cloud"].values()) == pytest.approx(
            total["cost_usd"], abs=1e-3
        )
    keda = saved["targets"]["keda"]
    saving = 1 - totals["keda"]["cost_usd"] / totals["hpa"]["cost_usd"]
    assert keda["cost_saving_vs_hpa"] == pytest.approx(saving, abs=1e-4)
    assert keda["met"] is (saving >= 0.2 and keda["extra_slo_minutes_vs_hpa"] <= 0)

    # canary policies judge only the scenarios that release by canary
    canary_rows = saved["canary"]["per_scenario"]
    assert {(r["scenario"], r["policy"]) for r in canary_rows} == {
        (scenario, policy)
        for scenario in ("multi-cloud", "bad-errors", "good-deploys")
        for policy in ("builtin", "canary-kayenta")
    }
    bad_faults = sum(
        fault.kind == "bad_deploy" for s in suite.scenarios for fault in s.spec.faults
    )
    assert bad_faults == 2
    for policy, total in saved["canary"]["totals"].items():
        assert total["bad_deploys"] == bad_faults, policy
        assert 0 <= total["bad_caught"] <= total["bad_deploys"]
        assert total["catch_rate"] == total["bad_caught"] / total["bad_deploys"]
    kayenta = {r["scenario"]: r for r in canary_rows if r["policy"] == "canary-kayenta"}
    # an error ratio of 0.8 on the canary: both bad releases rolled back,
    # at the first five-minute measurement, and no good one
    assert kayenta["bad-errors"]["bad_caught"] == 2
    assert kayenta["bad-errors"]["seconds_to_catch"] == 300
    assert kayenta["good-deploys"]["false_rollbacks"] == 0
    assert saved["targets"]["canary-kayenta"]["catch_rate"] == 1.0


def test_a_predictive_policy_runs_on_the_registered_forecaster(
    aiops_home: Path, tmp_path: Path
) -> None:
    uri = register_forecaster()
    suite = write_suite(
        tmp_path,
        textwrap.dedent(
            """\
            name: week
            warmup_days: 7.5
            days: 0.5
            scenarios:
              - {name: diurnal, base: production, seed: 101}
            """
        ),
    )
    out = tmp_path / "out.json"
    done = run_cli(
        aiops_home,
        *("evaluate", "policy", "--suite", str(suite)),
        *("--policies", "hpa,predictive", "--no-mlflow", "--json", str(out)),
    )
    assert done.returncode == 0, done.stderr
    assert "| predictive |" in done.stdout

    saved = json.loads(out.read_text())
    assert saved["settings"]["model_uri"] == uri
    totals = saved["scaling"]["totals"]
    # a week of history before the judged window: the forecast is there for
    # every judged decision, none falls back to the HPA
    assert totals["predictive"]["decisions"] == 0.5 * STEPS_PER_DAY
    assert totals["predictive"]["fallback_decisions"] == 0
    saving = 1 - totals["predictive"]["cost_usd"] / totals["hpa"]["cost_usd"]
    target = saved["targets"]["predictive"]
    assert target["cost_saving_vs_hpa"] == pytest.approx(saving, abs=1e-4)
    assert target["extra_slo_minutes_vs_hpa"] == (
        totals["predictive"]["slo_violation_minutes"]
        - totals["hpa"]["slo_violation_minutes"]
    )


# --- same seeds, same numbers ---------------------------------------------


def test_the_same_seeds_give_the_same_numbers(suite_path: Path) -> None:
    policies = ["hpa", "keda", "canary-kayenta"]
    first = run_policy_benchmark(policies, suite=suite_path, mlflow=False)
    second = run_policy_benchmark(policies, suite=suite_path, mlflow=False)

    pd.testing.assert_frame_equal(
        without_timing([o.as_dict() for o in first.scaling]),
        without_timing([o.as_dict() for o in second.scaling]),
    )
    for one, two in zip(first.scaling, second.scaling, strict=True):
        pd.testing.assert_series_equal(one.replicas, two.replicas)
    pd.testing.assert_frame_equal(
        pd.DataFrame([o.as_dict() for o in first.canary]),
        pd.DataFrame([o.as_dict() for o in second.canary]),
    )
    for one, two in zip(first.canary, second.canary, strict=True):
        pd.testing.assert_frame_equal(one.deploys, two.deploys)
    assert first.targets() == second.targets()


def test_another_seed_gives_other_numbers(tmp_path: Path) -> None:
    # guards the test above: the numbers do depend on the seed
    costs = []
    for seed in (101, 102):
        text = SUITE.replace("seed: 101", f"seed: {seed}")
        suite = write_suite(tmp_path, text, name=f"seed{seed}.yaml")
        result = run_policy_benchmark(
            ["hpa"], suite=suite, scenarios=["diurnal"], mlflow=False
        )
        costs.append(result.scaling[0].metrics["cost_usd"])
    assert costs[0] != costs[1]


# --- MLflow -----------------------------------------------------------------


def test_mlflow_holds_a_parent_run_and_one_child_per_policy(
    aiops_home: Path, suite_path: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    policies = ["hpa", "keda", "canary-kayenta"]
    result = run_policy_benchmark(policies, suite=suite_path, mlflow=True)

    uri = home_environment(aiops_home)["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("aiops")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 1 + len(policies)
    parent = parents[0]
    assert parent.info.run_id == result.run_ids["parent"]
    assert parent.data.tags["aiops.step"] == "evaluate-policy"
    assert parent.data.params["suite"] == "tiny"
    assert parent.data.params["policies"] == ",".join(policies)

    parent_id = parent.info.run_id
    listed = {a.path for a in client.list_artifacts(parent_id)}
    assert {"comparison.md", "results.json", "scaling.csv", "plots"} <= listed
    plots = {a.path for a in client.list_artifacts(parent_id, "plots")}
    assert plots == {"plots/cost_vs_slo_minutes.png", "plots/replicas_vs_load.png"}
    for plot in plots:
        png = Path(client.download_artifacts(parent_id, plot, str(tmp_path)))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    comparison = client.download_artifacts(parent_id, "comparison.md", str(tmp_path))
    assert Path(comparison).read_text() == result.markdown()
    table = pd.read_csv(client.download_artifacts(parent_id, "scaling.csv"))
    assert len(table) == len(result.scenarios) * len(SCALING)
    assert table["cost_usd"].sum() == pytest.approx(
        sum(t["cost_usd"] for t in result.scaling_totals().values())
    )

    children = {r.data.tags["aiops.policy"]: r for r in runs if r is not parent}
    assert set(children) == set(policies)
    scaling = result.scaling_totals()
    canary = result.canary_totals()
    for name, child in children.items():
        child_id = child.info.run_id
        assert child.data.tags["mlflow.parentRunId"] == parent_id
        assert result.run_ids[name] == child_id
        document = json.loads(
            Path(client.download_artifacts(child_id, "policy.json")).read_text()
        )
        assert document["metadata"]["name"] == name
        metrics = child.data.metrics
        if name in scaling:
            assert metrics["suite.cost_usd"] == pytest.approx(scaling[name]["cost_usd"])
            assert metrics["diurnal.cost_usd"] == pytest.approx(
                next(
                    o.metrics["cost_usd"]
                    for o in result.scaling
                    if o.policy == name and o.scenario == "diurnal"
                )
            )
        else:
            assert metrics["suite.bad_caught"] == canary[name]["bad_caught"]
            assert metrics["suite.catch_rate"] == 1.0
    # the baseline has no target against itself; the others do
    assert "target.cost_saving_vs_hpa" not in children["hpa"].data.metrics
    assert children["keda"].data.metrics["target.cost_saving_vs_hpa"] == (
        pytest.approx(result.targets()["keda"]["cost_saving_vs_hpa"])
    )


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def test_results_json_is_strict_json(suite_path: Path) -> None:
    result = run_policy_benchmark(
        ["canary-kayenta"], suite=suite_path, scenarios=["good-deploys"], mlflow=False
    )
    json.loads(result.to_json(), parse_constant=_refuse_constant)


# --- bad input ------------------------------------------------------------

LATE = SUITE.replace(BAD_ERRORS % 8, BAD_ERRORS % 12.5)


@pytest.mark.parametrize(
    ("args", "suite_text", "message"),
    [
        (
            ["--policies", "hpa,nope"],
            SUITE,
            "unknown policy 'nope'; expected one of canary-combined, ",
        ),
        (
            ["--policies", "hpa", "--scenarios", "diurnal,nope"],
            SUITE,
            "suite tiny has no scenario 'nope'; expected some of diurnal, ",
        ),
        (
            ["--policies", "hpa"],
            LATE,
            "scenario 'bad-errors': fault bad_deploy at_hour = 12.5 lies past the "
            "judged window of 12 hours",
        ),
        (
            ["--policies", "hpa"],
            "name: tiny\nscenarios: [{name: a\n",
            "suite tiny.yaml: not valid YAML",
        ),
        (["--policies", "hpa,keda,hpa"], SUITE, "two policies are named 'hpa'"),
        (
            ["--policies", "hpa", "--json", "MISSING/out.json"],
            SUITE,
            "/missing/out.json: folder ",
        ),
        (["--policies", "hpa,predictive"], SUITE, "aiops train forecaster"),
        (
            ["--policies", "hpa", "--scenarios", "diurnal,diurnal"],
            SUITE,
            "--scenarios names ['diurnal'] more than once",
        ),
        (
            ["--policies", "hpa", "--json", "TMP"],
            SUITE,
            "is a folder; give a file name",
        ),
        (
            ["--policies", "TYPO"],
            SUITE,
            "judges metrics ['error_ratoi'] the simulator does not sample",
        ),
    ],
)
def test_bad_requests_give_one_line_and_write_nothing(
    aiops_home: Path,
    tmp_path: Path,
    args: list[str],
    suite_text: str,
    message: str,
) -> None:
    suite = write_suite(tmp_path, suite_text)
    out = tmp_path / "out.json"
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        "apiVersion: aiops/v1\nkind: CanaryPolicy\nmetadata: {name: typo}\n"
        "spec: {judge: kayenta, metrics: [{name: error_ratoi}]}\n"
    )
    places = {"MISSING": str(tmp_path / "missing"), "TMP": str(tmp_path)}
    places["TYPO"] = str(typo)
    args = [places.get(a, a.replace("MISSING", places["MISSING"])) for a in args]
    if "--json" not in args:
        args += ["--json", str(out)]
    done = run_cli(aiops_home, "evaluate", "policy", "--suite", str(suite), *args)

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("aiops: error: ")
    assert message in lines[0]
    assert not out.exists() and not (tmp_path / "missing").exists()
    assert done.stdout == ""
    assert logged_runs(aiops_home) == 0


def logged_runs(home: Path) -> int:
    """Runs in the home's MLflow store (none when there is no store)."""
    if not (home / "mlflow" / "mlflow.db").exists():
        return 0
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=home_environment(home)["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(experiments))


def test_a_detector_judge_registers_its_cohort_detector(
    aiops_home: Path, suite_path: Path
) -> None:
    from mlflow import MlflowClient

    result = run_policy_benchmark(
        ["canary-combined"], suite=suite_path, scenarios=["bad-errors", "good-deploys"]
    )
    registered = result.settings["cohort_detector_registered"]
    assert registered["name"] == "aiops-canary-lstm"
    assert registered["promoted"] is True  # the first version is champion
    # the bad canaries' samples stand out: AUC-PR well above their share
    auc = result.settings["cohort_detector_heldout_auc_pr"]
    assert auc == pytest.approx(registered["candidate"], abs=1e-4)
    client = MlflowClient(home_environment(aiops_home)["MLFLOW_TRACKING_URI"])
    model = client.get_registered_model("aiops-canary-lstm")
    assert str(model.aliases["champion"]) == "1"
    totals = result.canary_totals()["canary-combined"]
    assert totals["bad_caught"] == totals["bad_deploys"] == 2


def test_the_default_policies_run_on_scenarios_without_canaries(
    aiops_home: Path, suite_path: Path
) -> None:
    done = run_cli(
        aiops_home,
        "evaluate",
        "policy",
        "--suite",
        str(suite_path),
        "--policies",
        "hpa,keda,canary-kayenta,canary-combined",
        "--scenarios",
        "diurnal",
        "--no-mlflow",
    )
    assert done.returncode == 0, done.stderr
    assert "| hpa |" in done.stdout and "| keda |" in done.stdout
    assert "canary policy" not in done.stdout  # nothing released by canary


def test_an_interrupted_evaluation_exits_130(aiops_home: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    from tests.conftest import aiops_command

    environment = {**os.environ, **home_environment(aiops_home)}
    process = subprocess.Popen(
        [
            *aiops_command(),
            *("evaluate", "policy", "--policies", "hpa,keda,canary-kayenta"),
            "--no-mlflow",
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell without job control starts its children ignoring Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(8)  # past the imports, into the suite (it takes about 30 s)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == "aiops: interrupted"

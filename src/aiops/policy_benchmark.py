"""`aiops evaluate policy`: every policy on every scenario of a suite.

Scaling policies run on every scenario; canary policies on the scenarios
that release by canary (with the scenario's built-in rollback controller as
a reference). The result holds per-scenario rows, per-policy totals and the
targets: a forecast-driven scaler at least 20 % cheaper than the HPA with no
more SLO-violation minutes; a canary judge that catches at least 95 % of bad
releases, rolls back at most 5 % of good ones, and catches faster than the
Kayenta-style judge alone.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiops.canary_loop import (
    BUILTIN,
    CanaryOutcome,
    canary_scenarios,
    canary_totals,
    cohort_samples,
    detector_scorer,
    held_out_auc_pr,
    run_canary_suite,
    train_cohort_detector,
)
from aiops.closed_loop import PolicyOutcome, run_scaling_suite, totals
from aiops.errors import ConfigError
from aiops.policies import (
    CanaryPolicyDocument,
    PolicyDocument,
    ScalingPolicyDocument,
    forecast_quantile,
    load_document,
    resolve_policy_path,
)
from aiops.simulator.cohorts import COHORT_METRICS as METRICS
from aiops.suite import Suite, load_suite

logger = logging.getLogger(__name__)

DEFAULT_POLICIES = (
    "hpa",
    "keda",
    "predictive",
    "combined",
    "canary-kayenta",
    "canary-combined",
)
REACTIVE_BASELINE = "hpa"
KAYENTA_BASELINE = "canary-kayenta"
COST_SAVING_TARGET = 0.20
CATCH_TARGET = 0.95
FALSE_ROLLBACK_TARGET = 0.05


@dataclass
class PolicyBenchmarkResult:
    suite: str
    scenarios: list[str]
    policies: dict[str, str]  # name -> kind
    scaling: list[PolicyOutcome]
    canary: list[CanaryOutcome]
    settings: dict[str, Any]
    seconds: float = 0.0
    run_ids: dict[str, str] = field(default_factory=dict)

    def scaling_totals(self) -> dict[str, dict[str, Any]]:
        return totals(self.scaling)

    def canary_totals(self) -> dict[str, dict[str, float]]:
        return canary_totals(self.canary)

    def targets(self) -> dict[str, Any]:
        """Which targets each policy meets, against the baselines run here."""
        found: dict[str, Any] = {}
        scaling = self.scaling_totals()
        base = scaling.get(REACTIVE_BASELINE)
        for name, total in scaling.items():
            if name == REACTIVE_BASELINE or base is None:
                continue
            saving = (
                1.0 - total["cost_usd"] / base["cost_usd"]
                if base["cost_usd"] > 0
                else math.nan  # free replicas: no saving to speak of
            )
            extra = total["slo_violation_minutes"] - base["slo_violation_minutes"]
            found[name] = {
                "cost_saving_vs_hpa": round(saving, 4),
                "extra_slo_minutes_vs_hpa": extra,
                "met": bool(saving >= COST_SAVING_TARGET and extra <= 0)
                if math.isfinite(saving)
                else None,
            }
        canary = self.canary_totals()
        kayenta = canary.get(KAYENTA_BASELINE)
        for name, total in canary.items():
            if name == BUILTIN:
                continue
            faster = (
                None
                if kayenta is None or name == KAYENTA_BASELINE
                else bool(total["seconds_to_catch"] < kayenta["seconds_to_catch"])
            )
            found[name] = {
                "catch_rate": total["catch_rate"],
                "false_rollback_rate": total["false_rollback_rate"],
                "faster_than_kayenta": faster,
                "met": bool(
                    total["catch_rate"] >= CATCH_TARGET
                    and total["false_rollback_rate"] <= FALSE_ROLLBACK_TARGET
                    and faster is not False
                ),
            }
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "scenarios": self.scenarios,
            "policies": self.policies,
            "settings": self.settings,
            "seconds": round(self.seconds, 2),
            "scaling": {
                "per_scenario": [outcome.as_dict() for outcome in self.scaling],
                "totals": self.scaling_totals(),
            },
            "canary": {
                "per_scenario": [outcome.as_dict() for outcome in self.canary],
                "totals": self.canary_totals(),
            },
            "targets": self.targets(),
            "run_ids": self.run_ids,
        }

    def to_json(self) -> str:
        """Strict JSON: a figure that does not exist (a mean over no bad
        release) is null, never NaN."""
        return json.dumps(
            _finite(self.as_dict()), indent=2, default=_json_default, allow_nan=False
        )

    def markdown(self) -> str:
        lines = [
            f"## Policies on suite `{self.suite}` ({len(self.scenarios)} scenarios)"
        ]
        targets = self.targets()
        if self.scaling:
            lines += ["", *scaling_table(self.scaling_totals(), targets)]
            lines += ["", *per_scenario_table(self.scaling)]
        if self.canary:
            lines += ["", *canary_table(self.canary_totals(), targets)]
            lines += ["", *canary_scenario_table(self.canary)]
        return "\n".join(lines) + "\n"


def scaling_table(
    scaling: dict[str, dict[str, Any]], targets: dict[str, Any]
) -> list[str]:
    lines = [
        "| scaling policy | replica-h | cost $ | vs hpa | SLO min | latency min "
        "| error min | dropped req | actions | µs/decision | target met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, total in scaling.items():
        target = targets.get(name, {})
        saving = target.get("cost_saving_vs_hpa")
        lines.append(
            f"| {name} | {total['replica_hours']:.0f} | {total['cost_usd']:.2f} | "
            f"{_share(saving)} | "
            f"{total['slo_violation_minutes']:.0f} | "
            f"{total['latency_slo_minutes']:.0f} | {total['error_slo_minutes']:.0f} | "
            f"{total['dropped_requests']:.0f} | {total['scaling_actions']:.0f} | "
            f"{total.get('decision_us', math.nan):.1f} | "
            f"{_yes(target.get('met'))} |"
        )
    clouds = sorted({c for t in scaling.values() for c in t["cost_usd_by_cloud"]})
    lines += ["", "| scaling policy | " + " | ".join(f"$ {c}" for c in clouds) + " |"]
    lines.append("|---" * (len(clouds) + 1) + "|")
    for name, total in scaling.items():
        by_cloud = total["cost_usd_by_cloud"]
        cells = " | ".join(f"{by_cloud.get(c, 0.0):.2f}" for c in clouds)
        lines.append(f"| {name} | {cells} |")
    return lines


def per_scenario_table(outcomes: list[PolicyOutcome]) -> list[str]:
    rows = pd.DataFrame([o.as_dict() for o in outcomes])
    cost = rows.pivot(index="scenario", columns="policy", values="cost_usd")
    slo = rows.pivot(index="scenario", columns="policy", values="slo_violation_minutes")
    policies = list(dict.fromkeys(rows["policy"]))
    order = list(dict.fromkeys(rows["scenario"]))
    lines = [
        "| scenario | " + " | ".join(f"{p} $ / SLO min" for p in policies) + " |",
        "|---" * (len(policies) + 1) + "|",
    ]
    for scenario in order:
        cells = " | ".join(
            f"{cost.loc[scenario, p]:.2f} / {slo.loc[scenario, p]:.0f}"
            for p in policies
        )
        lines.append(f"| {scenario} | {cells} |")
    return lines


def canary_table(
    canary: dict[str, dict[str, float]], targets: dict[str, Any]
) -> list[str]:
    lines = [
        "| canary policy | bad caught | false rollbacks | catch s | verdict s "
        "| requests on bad versions | target met |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, total in canary.items():
        met = "reference" if name == BUILTIN else _yes(targets.get(name, {}).get("met"))
        lines.append(
            f"| {name} | {total['bad_caught']:.0f}/{total['bad_deploys']:.0f} "
            f"({total['catch_rate']:.0%}) | "
            f"{total['false_rollbacks']:.0f}/{total['good_deploys']:.0f} "
            f"({total['false_rollback_rate']:.1%}) | "
            f"{_fmt(total['seconds_to_catch'])} | "
            f"{_fmt(total['seconds_to_verdict'])} | "
            f"{total['requests_on_bad_versions']:.0f} | {met} |"
        )
    return lines


def canary_scenario_table(outcomes: list[CanaryOutcome]) -> list[str]:
    policies = list(dict.fromkeys(o.policy for o in outcomes))
    scenarios = list(dict.fromkeys(o.scenario for o in outcomes))
    found = {(o.scenario, o.policy): o.metrics() for o in outcomes}
    lines = [
        "| scenario | "
        + " | ".join(f"{p} caught / false / catch s" for p in policies)
        + " |",
        "|---" * (len(policies) + 1) + "|",
    ]
    for scenario in scenarios:
        cells = []
        for policy in policies:
            m = found[(scenario, policy)]
            cells.append(
                f"{m['bad_caught']:.0f}/{m['bad_deploys']:.0f} / "
                f"{m['false_rollbacks']:.0f}/{m['good_deploys']:.0f} / "
                f"{_fmt(m['seconds_to_catch'])}"
            )
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines


def load_policies(names: list[str]) -> dict[str, PolicyDocument]:
    """Policy documents by name (or path), each under its metadata name."""
    documents: dict[str, PolicyDocument] = {}
    for name in names:
        document = load_document(resolve_policy_path(name))
        key = document.metadata.name
        if key in documents:
            raise ConfigError(
                f"two policies are named {key!r}; give each document its own "
                "metadata.name"
            )
        documents[key] = document
    return documents


def run_policy_benchmark(
    policies: list[str] | None = None,
    suite: str | Path = "default",
    model_uri: str = "models:/aiops-load-xgb-scaling@champion",
    scenarios: list[str] | None = None,
    json_path: Path | None = None,
    mlflow: bool = True,
    detector_seed: int = 0,
) -> PolicyBenchmarkResult:
    """Run the policies on the suite; log to MLflow and write JSON if asked."""
    began = time.perf_counter()
    documents = load_policies(list(policies or DEFAULT_POLICIES))
    loaded = _select(load_suite(suite), scenarios)
    scaling_docs = {
        k: d for k, d in documents.items() if isinstance(d, ScalingPolicyDocument)
    }
    canary_docs = {
        k: d for k, d in documents.items() if isinstance(d, CanaryPolicyDocument)
    }

    forecaster = None
    if any(forecast_quantile(d) is not None for d in scaling_docs.values()):
        forecaster = load_forecaster(model_uri)
    scaling = (
        run_scaling_suite(loaded, scaling_docs, forecaster) if scaling_docs else []
    )

    scorer = None
    detector = None
    judged = pd.DataFrame()
    detector_info: dict[str, Any] = {}
    for name, document in canary_docs.items():
        unknown = [m.name for m in document.spec.metrics if m.name not in METRICS]
        if unknown:
            raise ConfigError(
                f"policy {name!r} judges metrics {unknown} the simulator does "
                f"not sample; expected some of {list(METRICS)}"
            )
    if not canary_scenarios(loaded):
        canary_docs = {}  # nothing releases by canary in this selection
        logger.info("no scenario releases by canary; the canary policies rest")
    if any(d.spec.judge != "kayenta" for d in canary_docs.values()):
        healthy, judged = cohort_samples(loaded)
        if healthy.empty:
            raise ConfigError(
                "the detector-based canary judges learn from the canary releases "
                "of the warm-ups, and these scenarios have none; lengthen "
                "warmup_days"
            )
        fit_began = time.perf_counter()
        detector = train_cohort_detector(healthy, seed=detector_seed)
        detector_info = {
            "cohort_detector_rows": len(healthy),
            "cohort_detector_fit_seconds": round(time.perf_counter() - fit_began, 2),
            "cohort_detector_seed": detector_seed,
            "cohort_detector_heldout_auc_pr": round(
                held_out_auc_pr(detector, judged), 4
            ),
        }
        scorer = detector_scorer(detector)
    canary = run_canary_suite(loaded, canary_docs, scorer) if canary_docs else []

    result = PolicyBenchmarkResult(
        suite=loaded.name,
        scenarios=[s.name for s in loaded.scenarios],
        policies={k: d.kind for k, d in documents.items()},
        scaling=scaling,
        canary=canary,
        settings={
            "suite_file": loaded.source,
            "model_uri": model_uri if forecaster is not None else "",
            "seeds": {s.name: s.seed for s in loaded.scenarios},
            **detector_info,
        },
    )
    result.seconds = time.perf_counter() - began
    if mlflow:
        result.run_ids = log_to_mlflow(result, documents)
        if detector is not None:
            from aiops.registry import register_canary_detector

            registered = register_canary_detector(
                detector, judged, result.run_ids["parent"]
            )
            result.settings["cohort_detector_registered"] = registered.as_dict()
    if json_path is not None:
        json_path.write_text(result.to_json())
    return result


def load_forecaster(model_uri: str) -> Any:
    """The XGBoost forecaster inside a registered pyfunc model."""
    from aiops import registry
    from aiops.errors import AiopsError

    try:
        model = registry.load_model(model_uri)
    except AiopsError as error:
        raise ConfigError(
            f"{error} (the scaling forecaster alone: `aiops train forecaster "
            "--scaling`)"
        ) from None
    wrapped = model.unwrap_python_model()
    forecaster = getattr(wrapped, "forecaster", None)
    if forecaster is None or not hasattr(forecaster, "forecast_at_lead"):
        raise ConfigError(
            f"{model_uri} is of type {type(wrapped).__name__}, not a load "
            "forecaster; pass --model models:/aiops-load-xgb-scaling@champion"
        )
    return forecaster


def _select(suite: Suite, names: list[str] | None) -> Suite:
    if not names:
        return suite
    known = {s.name: s for s in suite.scenarios}
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"--scenarios names {repeated} more than once")
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(
            f"suite {suite.name} has no scenario {missing[0]!r}; expected some of "
            f"{', '.join(known)}"
        )
    return Suite(
        suite.name, suite.description, tuple(known[n] for n in names), suite.source
    )


def log_to_mlflow(
    result: PolicyBenchmarkResult, documents: dict[str, PolicyDocument]
) -> dict[str, str]:
    """A parent run with the comparison and plots; one child run per policy."""
    import mlflow

    from aiops.tracking import flatten_params, setup_mlflow

    experiment_id = setup_mlflow()
    run_ids: dict[str, str] = {}
    scaling_totals = result.scaling_totals()
    canary_totals_ = result.canary_totals()
    targets = result.targets()
    with mlflow.start_run(
        run_name=f"evaluate-policy-{result.suite}",
        experiment_id=experiment_id,
        tags={"aiops.step": "evaluate-policy"},
    ) as parent:
        mlflow.log_params(
            {
                "suite": result.suite,
                "scenarios": len(result.scenarios),
                "policies": ",".join(result.policies),
                **{k: v for k, v in result.settings.items() if k != "seeds"},
            }
        )
        mlflow.log_dict(result.settings["seeds"], "seeds.json")
        mlflow.log_text(result.markdown(), "comparison.md")
        mlflow.log_text(result.to_json(), "results.json")
        if result.scaling:
            table = pd.DataFrame([o.as_dict() for o in result.scaling])
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "scaling.csv"
                table.drop(columns=["cost_usd_by_cloud"]).to_csv(path, index=False)
                mlflow.log_artifact(str(path))
            from aiops.policy_plots import cost_slo_figure, replicas_figure

            mlflow.log_figure(
                cost_slo_figure(result.scaling), "plots/cost_vs_slo_minutes.png"
            )
            mlflow.log_figure(
                replicas_figure(result.scaling), "plots/replicas_vs_load.png"
            )
        for name, document in documents.items():
            with mlflow.start_run(
                run_name=f"policy-{name}",
                experiment_id=experiment_id,
                nested=True,
                parent_run_id=parent.info.run_id,
                tags={"aiops.step": "evaluate-policy", "aiops.policy": name},
            ) as run:
                mlflow.log_params(
                    flatten_params(
                        {"kind": document.kind, "suite": result.suite}
                        | {"spec": document.spec.model_dump(by_alias=True)}
                    )
                )
                mlflow.log_dict(document.model_dump(by_alias=True), "policy.json")
                metrics = _policy_metrics(
                    name, result, scaling_totals, canary_totals_, targets
                )
                mlflow.log_metrics(metrics)
                run_ids[name] = run.info.run_id
        run_ids["parent"] = parent.info.run_id
    return run_ids


def _policy_metrics(
    name: str,
    result: PolicyBenchmarkResult,
    scaling: dict[str, dict[str, Any]],
    canary: dict[str, dict[str, float]],
    targets: dict[str, Any],
) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in {**scaling.get(name, {}), **canary.get(name, {})}.items():
        if isinstance(value, int | float) and math.isfinite(value):
            metrics[f"suite.{key}"] = float(value)
    for key, value in targets.get(name, {}).items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and math.isfinite(value):
            metrics[f"target.{key}"] = float(value)
    for outcome in result.scaling:
        if outcome.policy == name:
            for key in ("cost_usd", "slo_violation_minutes", "replica_hours"):
                metrics[f"{outcome.scenario}.{key}"] = outcome.metrics[key]
    for canary_outcome in result.canary:
        if canary_outcome.policy == name:
            for key, value in canary_outcome.metrics().items():
                if math.isfinite(value):
                    metrics[f"{canary_outcome.scenario}.{key}"] = value
    return metrics


def _share(saving: float | None) -> str:
    if saving is None or not math.isfinite(saving):
        return "-"
    return f"{-saving + 0.0:+.1%}" if round(saving, 3) != 0 else "0.0%"


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.0f}"


def _yes(flag: bool | None) -> str:
    return "-" if flag is None else ("yes" if flag else "no")


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    return value


def _json_default(value: object) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)

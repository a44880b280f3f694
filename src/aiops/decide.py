"""`aiops decide`: one recommendation from recent telemetry, for an operator
or a controller to act on.

The telemetry is a dataset folder written by ``aiops simulate`` or a wide
metrics table (a ``timestamp`` column and one ``service:metric[:region]``
column per series, counters as per-second rates, as ``aiops simulate
--export wide`` writes). The scenario gives what the table cannot: each
fleet's capacity per replica, its limits and its start-up delay.

A scaling policy is replayed over the telemetry, decision by decision, so
its windows (stabilisation, calibration) hold what they would hold live;
its decision at the last row is the recommendation, with the forecast behind
it. A canary policy judges the latest canary release in the cohort samples
the way the live analysis would, measurement by measurement.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiops.errors import ConfigError, DataError
from aiops.policies import (
    CanaryPolicyDocument,
    PolicyDocument,
    ScalingPolicyDocument,
    build_canary_analysis,
    build_policy,
    forecast_quantile,
    load_document,
)
from aiops.scaling import Observation, PredictiveScaling
from aiops.simulator.cohorts import COHORT_METRICS
from aiops.simulator.spec import ScenarioSpec

# fewest healthy cohort samples (two releases of baselines) a detector is
# trained on when none is registered
MIN_HEALTHY_SAMPLES = 60


def read_telemetry(
    path: Path, scenario: str | Path | None
) -> tuple[pd.DataFrame, ScenarioSpec, pd.DataFrame | None]:
    """(wide metrics indexed by UTC time, scenario, canary samples or None)."""
    from aiops.simulator import load_dataset, load_scenario

    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise DataError(
                f"{path} is a folder without manifest.json; pass a dataset folder "
                "written by `aiops simulate` or a wide CSV/Parquet file"
            )
        recorded = load_dataset(path)
        spec = load_scenario(scenario) if scenario else recorded.scenario
        samples = recorded.canary_samples
        if not len(samples):
            return recorded.wide(), spec, None
        return recorded.wide(), spec, normalise_samples(samples, str(path))
    if not path.is_file():
        raise DataError(f"telemetry {path} does not exist; pass a file or folder")
    if path.suffix not in (".csv", ".parquet"):
        raise DataError(
            f"telemetry {path} is neither .csv nor .parquet; pass a wide metrics "
            "table or a dataset folder"
        )
    frame = _read_table(path)
    if "timestamp" not in frame.columns:
        raise DataError(
            f"{path} has no 'timestamp' column; found {list(frame.columns)[:6]}; "
            "write it with `aiops simulate --export wide`"
        )
    stamps = frame.pop("timestamp")
    try:
        index = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True, format="ISO8601"))
    except (ValueError, TypeError):
        parsed = pd.to_datetime(stamps, utc=True, format="ISO8601", errors="coerce")
        bad = stamps[parsed.isna().to_numpy()].iloc[0]
        raise DataError(
            f"{path}: timestamp {bad!r} is not a time; write ISO 8601 time stamps "
            "such as 2026-01-05T10:00:00Z"
        ) from None
    frame.index = index
    if not index.is_monotonic_increasing:
        raise DataError(f"{path}: time stamps are not in order; sort the rows")
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise DataError(
            f"{path}: columns {text[:3]} are not numbers; a wide table holds one "
            "number per series and step, drop or fix those columns"
        )
    spec = load_scenario(scenario or "production")
    return frame.astype(float), spec, None


def read_canary_samples(path: Path) -> pd.DataFrame:
    """Cohort samples in time order, versions as text."""
    return normalise_samples(_read_table(path), str(path))


def normalise_samples(samples: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check cohort samples; put them in time order with versions as text."""
    path = where
    needed = ["timestamp", "version", "cohort", *COHORT_METRICS]
    missing = [c for c in needed if c not in samples.columns]
    if missing:
        raise DataError(
            f"{path} lacks columns {missing}; expected {needed} (the "
            "canary_samples table of a dataset)"
        )
    if samples.empty:
        raise DataError(f"{path} holds no canary samples; pass a file with rows")
    stamps = pd.to_datetime(
        samples["timestamp"], utc=True, format="ISO8601", errors="coerce"
    )
    if stamps.isna().any():
        bad = samples.loc[stamps.isna().to_numpy(), "timestamp"].iloc[0]
        raise DataError(
            f"{path}: timestamp {bad!r} is not a time; write ISO 8601 time stamps "
            "such as 2026-01-05T10:00:00Z"
        )
    cohorts = sorted(set(samples["cohort"]) - {"canary", "baseline"})
    if cohorts:
        raise DataError(
            f"{path}: cohort values {cohorts[:3]} are neither 'canary' nor 'baseline'"
        )
    samples["timestamp"] = stamps
    samples["version"] = samples["version"].astype(str)
    if "baseline_version" in samples:
        samples["baseline_version"] = samples["baseline_version"].astype(str)
    return samples.sort_values("timestamp", kind="stable", ignore_index=True)


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as error:  # pandas and pyarrow raise many kinds
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path} cannot be read: {first}") from None


def recommend_scaling(
    document: ScalingPolicyDocument,
    wide: pd.DataFrame,
    spec: ScenarioSpec,
    forecaster: Any | None,
    model_uri: str,
) -> dict[str, Any]:
    """Replay ``document``'s policy over the telemetry, fleet by fleet; the
    last decision of each fleet is its recommendation."""
    app_name = spec.service_of_kind("app") or ""
    entry_name = spec.service_of_kind("entry") or ""
    app = spec.services[app_name]
    if app.autoscaling is None:
        raise ConfigError(
            f"scenario {spec.name}: service {app_name} is not autoscaled; give "
            "a scenario whose app has autoscaling"
        )
    entry_column = f"{entry_name}:http_requests_total"
    entry = _column(wide, entry_column)
    step_s = _step_seconds(wide)
    lead = max(1, math.ceil((app.startup_delay_s + spec.decision_interval_s) / step_s))

    forecast: np.ndarray | None = None
    quantile = forecast_quantile(document)
    if quantile is not None:
        if forecaster is None:
            raise ConfigError(
                f"policy {document.metadata.name!r} needs the load forecaster; "
                "train one with `aiops train forecaster`"
            )
        if len(entry) < forecaster.min_history_steps_:
            # too little history to forecast from: the reactive fallback decides
            forecast = np.full(len(entry), np.nan)
        else:
            forecast = np.asarray(
                forecaster.forecast_at_lead(entry, lead, quantile=quantile).to_numpy(
                    dtype="float64"
                )
            )

    fleets = []
    regions = spec.region_names
    for region in regions:
        suffix = f":{region}" if len(regions) > 1 else ""
        replicas = _column(wide, f"{app_name}:kube_deployment_replicas{suffix}")
        ready_column = f"{app_name}:kube_deployment_status_replicas_available{suffix}"
        ready = _column(wide, ready_column) if ready_column in wide else replicas
        load = _column(wide, f"{app_name}:http_requests_total{suffix}")
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(entry > 0, load / entry, 0.0)
        policy = build_policy(document, forecast=forecast, lead_steps=lead)
        policy.reset()
        decide_every = max(1, round(spec.decision_interval_s / step_s))
        last = len(wide) - 1
        desired = int(replicas.iloc[last])
        observation = None
        for step in range(last % decide_every, last + 1, decide_every):
            count = round(replicas.iloc[step])
            up = round(ready.iloc[step])
            observation = Observation(
                step=step,
                time_s=step * step_s,
                service=app_name,
                replicas=count,
                ready_replicas=up,
                utilization=min(load.iloc[step] / (max(up, 1) * app.capacity_rps), 1.0),
                request_rate=float(load.iloc[step]),
                capacity_per_replica=app.capacity_rps,
                target_utilization=app.autoscaling.target_utilization,
                min_replicas=app.min_replicas,
                max_replicas=app.max_replicas,
                traffic_share=float(share[step]),
            )
            desired = int(policy.decide(observation))
        assert observation is not None
        current = observation.replicas
        fleet: dict[str, Any] = {
            "service": app_name,
            "region": region,
            "current_replicas": current,
            "ready_replicas": observation.ready_replicas,
            "recommended_replicas": desired,
            "action": "scale_up"
            if desired > current
            else "scale_down"
            if desired < current
            else "hold",
            "request_rate_rps": round(observation.request_rate, 3),
            "utilization": round(observation.utilization, 4),
        }
        if forecast is not None:
            fleet["forecast"] = _forecast_note(
                policy, observation, forecast, quantile, lead, step_s, wide, model_uri
            )
        fleets.append(fleet)
    return {
        "policy": document.metadata.name,
        "type": document.spec.type,
        "as_of": wide.index[-1].isoformat(),
        "fleets": fleets,
    }


def _forecast_note(
    policy: Any,
    observation: Observation,
    forecast: np.ndarray,
    quantile: float | None,
    lead: int,
    step_s: float,
    wide: pd.DataFrame,
    model_uri: str,
) -> dict[str, Any]:
    predictive = _predictive_part(policy)
    value = float(forecast[-1])
    note: dict[str, Any] = {
        "model": model_uri,
        "quantile": quantile,
        "lead_seconds": lead * step_s,
        "for": (wide.index[-1] + pd.Timedelta(seconds=lead * step_s)).isoformat(),
        "entry_load_rps": round(value, 3) if math.isfinite(value) else None,
        "fleet_load_rps": round(value * observation.traffic_share, 3)
        if math.isfinite(value)
        else None,
    }
    if predictive is not None:
        note["calibration"] = round(predictive.calibration(observation), 4)
        note["surprised"] = predictive.is_surprised(observation)
        note["fallback_to_reactive"] = predictive.forecast_at(observation.step) is None
    return note


def _predictive_part(policy: Any) -> PredictiveScaling | None:
    if isinstance(policy, PredictiveScaling):
        return policy
    for inner in getattr(policy, "policies", ()):
        if isinstance(inner, PredictiveScaling):
            return inner
    return None


def _cohort_scorer(
    samples: pd.DataFrame,
    version: str,
    document: CanaryPolicyDocument,
    canary_model: str,
) -> tuple[Any, dict[str, Any]]:
    """The registered cohort detector's scorer; without one, a detector
    trained on the baselines of the other releases in the samples."""
    from aiops.canary_loop import detector_scorer, train_cohort_detector
    from aiops.errors import AiopsError
    from aiops.registry import load_model

    try:
        model = load_model(canary_model)
    except AiopsError:
        model = None
    if model is not None:
        detector = model.unwrap_python_model().detector
        return detector_scorer(detector), {
            "source": canary_model,
            "run_id": model.metadata.run_id,
        }
    # baselines of releases before this one: nothing from its future
    started = samples.loc[samples["version"] == version, "timestamp"].min()
    healthy = samples[
        (samples["cohort"] == "baseline")
        & (samples["version"] != version)
        & (samples["timestamp"] < started)
    ]
    if len(healthy) < MIN_HEALTHY_SAMPLES:
        raise DataError(
            f"the {document.spec.judge} judge needs the canary detector "
            f"{canary_model} (register one with `aiops evaluate policy`) or "
            f"{MIN_HEALTHY_SAMPLES} baseline samples of earlier releases to learn "
            f"from; found {len(healthy)}"
        )
    detector = train_cohort_detector(healthy)
    return detector_scorer(detector), {
        "source": f"trained on {len(healthy)} baseline samples of earlier releases"
    }


def judge_latest_canary(
    document: CanaryPolicyDocument,
    samples: pd.DataFrame,
    version: str | None = None,
    canary_model: str = "models:/aiops-canary-lstm@champion",
) -> dict[str, Any]:
    """The analysis of the latest canary release in ``samples`` (or of
    ``version``), measurement by measurement, up to the last sample."""
    declared = [metric.name for metric in document.spec.metrics]
    unknown = [name for name in declared if name not in samples.columns]
    if unknown:
        raise ConfigError(
            f"policy {document.metadata.name!r} judges metrics {unknown} the "
            f"samples lack; they hold {list(COHORT_METRICS)}"
        )
    # releases in the order they started
    starts = samples.groupby("version", sort=False)["timestamp"].min().sort_values()
    versions = [str(v) for v in starts.index]
    chosen = version or (versions[-1] if versions else None)
    if chosen is None or chosen not in versions:
        raise DataError(
            f"no canary samples of version {chosen!r}; the latest in the samples are "
            f"{versions[-5:]} ({len(versions)} in all)"
        )
    scorer = None
    detector_note: dict[str, Any] = {}
    if document.spec.judge != "kayenta":
        scorer, detector_note = _cohort_scorer(samples, chosen, document, canary_model)
    analysis = build_canary_analysis(document, scorer=scorer)
    mine = samples[samples["version"] == chosen]
    canary = mine[mine["cohort"] == "canary"].set_index("timestamp").sort_index()
    baseline = mine[mine["cohort"] == "baseline"].set_index("timestamp").sort_index()
    canary = canary[list(COHORT_METRICS)]
    baseline = baseline[list(COHORT_METRICS)]
    if canary.empty:
        raise DataError(f"version {chosen} has no canary cohort samples")

    started = canary.index[0]
    every = pd.Timedelta(seconds=analysis.interval_s)
    step = (
        pd.Series(canary.index).diff().median()
        if len(canary) > 1
        else pd.Timedelta(minutes=1)
    )
    decision = None
    measured_at = started
    while True:
        # a measurement at `cut` reads the samples before it; it is due once
        # the sample of the step before `cut` has arrived
        cut = started + every * (decision.measurement if decision else 0) + every
        if cut - step > canary.index[-1]:
            break
        window_c = canary[canary.index < cut]
        window_b = baseline[baseline.index < cut]
        decision = analysis.step(window_c, window_b)
        measured_at = cut
        if decision.action != "continue":
            break
    # the version in service when the canary started: the baseline's
    if "baseline_version" in mine and mine["baseline_version"].notna().any():
        old: str | None = str(mine["baseline_version"].dropna().iloc[0])
    else:  # a table without it: the last other release started before
        earlier = [v for v in versions if starts[v] < started and v != chosen]
        old = earlier[-1] if earlier else None
    result: dict[str, Any] = {
        "policy": document.metadata.name,
        "judge": document.spec.judge,
        "version": chosen,
        "previous_version": old,
        "canary_started": started.isoformat(),
        "samples": len(canary),
    }
    if detector_note:
        result["detector"] = detector_note
    if decision is None:
        result.update(
            action="continue",
            reason=f"no measurement yet: the first is due at "
            f"{(started + every).isoformat()}",
        )
        return result
    judged = decision.as_dict()
    judgment = judged.pop("judge")
    result.update(
        action=decision.action,
        measured_at=measured_at.isoformat(),
        measurement=judged["measurement"],
        failures=judged["failures"],
        inconclusives=judged["inconclusives"],
        reason=judged["reason"],
        score=judgment["score"],
        verdict=judgment["verdict"],
        metrics=judgment["metrics"],
    )
    return result


def decide(
    telemetry: Path,
    policies: list[str],
    scenario: str | None = None,
    model_uri: str = "models:/aiops-load-xgb-scaling@champion",
    canary_samples: Path | None = None,
    version: str | None = None,
    canary_model: str = "models:/aiops-canary-lstm@champion",
) -> dict[str, Any]:
    """The JSON-ready recommendation of every policy in ``policies``."""
    if version is not None and not version.strip():
        raise ConfigError("--version is empty; give a version or leave it out")
    documents: list[PolicyDocument] = [load_document(name) for name in policies]
    names = [document.metadata.name for document in documents]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"policies {repeated} are given more than once")
    wide, spec, samples = read_telemetry(telemetry, scenario)
    if canary_samples is not None:
        samples = read_canary_samples(canary_samples)

    forecaster = None
    scaling_docs = [d for d in documents if isinstance(d, ScalingPolicyDocument)]
    if any(forecast_quantile(d) is not None for d in scaling_docs):
        from aiops.policy_benchmark import load_forecaster

        forecaster = load_forecaster(model_uri)

    out: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "telemetry": str(telemetry),
        "scenario": spec.name,
        "rows": len(wide),
    }
    for document in documents:
        if isinstance(document, ScalingPolicyDocument):
            out.setdefault("scaling", []).append(
                recommend_scaling(document, wide, spec, forecaster, model_uri)
            )
        else:
            if samples is None or samples.empty:
                raise DataError(
                    f"policy {document.metadata.name!r} judges canaries, and "
                    f"{telemetry} holds no canary samples; pass --canary-samples "
                    "or a dataset of a scenario that releases by canary"
                )
            out.setdefault("canary", []).append(
                judge_latest_canary(document, samples, version, canary_model)
            )
    return out


def _column(wide: pd.DataFrame, name: str) -> pd.Series:
    if name not in wide.columns:
        raise DataError(
            f"telemetry has no column {name!r}; found {list(wide.columns)[:6]}...; "
            "pass telemetry of the same scenario (--scenario)"
        )
    values = wide[name].astype(float)
    if values.isna().any():
        raise DataError(
            f"telemetry column {name!r} has {int(values.isna().sum())} missing "
            "values; fill or drop those rows first"
        )
    bad = ~np.isfinite(values.to_numpy()) | (values.to_numpy() < 0)
    if bad.any():
        first = values.index[np.flatnonzero(bad)[0]]
        raise DataError(
            f"telemetry column {name!r} has {int(bad.sum())} infinite or negative "
            f"values (first at {first}); rates and replica counts are >= 0"
        )
    return values


def _step_seconds(wide: pd.DataFrame) -> float:
    if len(wide) < 2:
        raise DataError(
            f"telemetry has {len(wide)} row(s); expected a history of many steps"
        )
    steps = np.diff(wide.index.asi8) / 1e9
    step = float(np.median(steps))
    off = np.flatnonzero(steps != step)
    if step <= 0 or off.size:
        where = wide.index[off[0] + 1] if off.size else wide.index[1]
        raise DataError(
            f"telemetry is not one row per {step:g} s step: {max(off.size, 1)} "
            f"gap(s) or repeated time stamps, the first at {where}; resample it "
            "to a regular grid"
        )
    return step

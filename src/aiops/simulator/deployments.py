"""Releases of the app: rolling updates, canaries, defects and rollbacks.

A release moves traffic from the old version to the new one: a rolling update
replaces ``max_surge`` of the fleet per batch, each batch ready after the app's
start-up delay; a canary holds ``canary_fraction`` of the traffic for
``canary_duration_s`` and is then promoted; recreate and compose switch at
once. A ``bad_deploy`` fault is a release whose version is defective. With
automated rollback the deploy controller watches the error ratio the release
causes (a canary controller watches the canary cohort alone, and its latency
against the stable version); a breach held for ``rollback_after_s`` rolls the
release back at the same pace it went out. Without it, or when the controller
never sees a breach, a person rolls back at the fault's nominal end.

The defect's cost to the fleet is the version's own cost weighted by its
traffic share, so it can be computed before the queueing model runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aiops.simulator.cohorts import cohort_samples, measurement_steps
from aiops.simulator.faults import Incident
from aiops.simulator.spec import ScenarioSpec
from aiops.simulator.telemetry import CANARY_COLUMNS, DEPLOY_COLUMNS

DAY_S = 86400.0
# cost of a defective version on its own traffic, at intensity 1
BAD_ERROR_RATIO = 0.15
BAD_LATENCY_FACTOR = 2.5
CREEP_LATENCY_FACTOR_PER_HOUR = 3.0
LEAK_FILL_S = 1800.0  # a leaking pod fills its memory limit in this time
OOM_ERROR_RATIO = 0.25
RESTART_S = 120.0


@dataclass
class Release:
    """One release; ``share`` is the new version's traffic share per step."""

    step: int
    old: str
    new: str
    share: np.ndarray
    incident: Incident | None = None
    defect: str = ""
    end_step: int | None = None  # first step back on ``old`` after a rollback
    reason: str = ""
    impact: dict[str, np.ndarray] = field(default_factory=dict)
    oom_steps: list[int] = field(default_factory=list)
    # set when a canary analysis judged the release
    verdict: str = ""  # promote | rollback | "" (not judged, or undecided)
    decided_step: int | None = None
    decision: dict[str, Any] = field(default_factory=dict)
    # (canary, baseline) cohort samples of a canary release, one row per step
    cohorts: tuple[pd.DataFrame, pd.DataFrame] | None = None

    @property
    def rolled_back(self) -> bool:
        return self.end_step is not None


def bump_version(version: str, number: int) -> str:
    """The ``number``-th release after ``version`` (patch level)."""
    parts = version.split(".")
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        return f"{parts[0]}.{parts[1]}.{int(parts[2]) + number}"
    return f"{version}.{number}"


def routine_deploy_steps(
    spec: ScenarioSpec, n_steps: int, step_s: float, start_hour_s: float
) -> list[int]:
    """Steps of the scheduled releases (``deployment.every_days``)."""
    every = spec.deployment.every_days
    if every is None:
        return []
    steps = []
    for k in range(1, math.floor(n_steps * step_s / (every * DAY_S)) + 1):
        # the k-th release, counted from hour_utc on the first day
        time_s = k * every * DAY_S + spec.deployment.hour_utc * 3600.0 - start_hour_s
        step = round(time_s / step_s)
        if 0 < step < n_steps:
            steps.append(step)
    return steps


def _batch_steps(spec: ScenarioSpec, step_s: float) -> int:
    app = spec.services[spec.service_of_kind("app") or ""]
    return max(1, math.ceil(app.startup_delay_s / step_s - 1e-9))


def _rollout_share(spec: ScenarioSpec, age: np.ndarray, step_s: float) -> np.ndarray:
    """New version's share ``age`` steps after the release starts (no rollback)."""
    deployment = spec.deployment
    batch = _batch_steps(spec, step_s)
    ready = age >= batch  # the first new pods boot before taking traffic
    if deployment.strategy == "rolling":
        batches = math.ceil(1.0 / deployment.max_surge - 1e-9)
        done = np.minimum(np.floor(age / batch), batches)
        return np.where(age >= 0, done / batches, 0.0)
    if deployment.strategy == "canary":
        promote = batch + round(deployment.canary_duration_s / step_s)
        canary = np.where(ready, deployment.canary_fraction, 0.0)
        return np.where(age >= promote, 1.0, canary)
    return ready.astype(float)


def plan_releases(
    spec: ScenarioSpec,
    incidents: list[Incident],
    n_steps: int,
    step_s: float,
    start_hour_s: float,
    canary: Any | None = None,
    offered_rps: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[list[Release], list[Incident]]:
    """Releases in time order, and the incidents with bad-deploy ends moved to
    the step their rollback completes.

    With a ``canary`` analysis (an object with ``reset()`` and
    ``step(canary_frame, baseline_frame)``, such as
    :class:`aiops.canary.CanaryAnalysis`) every canary release, good or bad,
    is judged by it from cohort samples drawn with ``rng`` at the
    ``offered_rps`` load, instead of by the built-in controller.
    """
    app_name = spec.service_of_kind("app")
    assert app_name is not None
    bad = [i for i in incidents if i.kind == "bad_deploy" and i.target == app_name]
    starts: list[tuple[int, Incident | None]] = [
        (step, None)
        for step in routine_deploy_steps(spec, n_steps, step_s, start_hour_s)
        if not any(i.start_step <= step < i.end_step for i in bad)
    ]
    starts += [(incident.start_step, incident) for incident in bad]
    starts.sort(key=lambda item: item[0])
    judged = canary is not None and spec.deployment.strategy == "canary"
    if judged and (offered_rps is None or rng is None):
        raise ValueError("a canary analysis needs the offered load and a generator")

    base = spec.services[app_name].version
    current = base
    releases: list[Release] = []
    moved: dict[str, Incident] = {}
    steps = np.arange(n_steps)
    for number, (step, incident) in enumerate(starts, start=1):
        new = bump_version(base, number)
        share = _rollout_share(spec, (steps - step).astype(float), step_s)
        release = Release(step=step, old=current, new=new, share=share)
        if incident is not None:
            release.incident = incident
            release.defect = incident.defect
        if judged:
            assert offered_rps is not None and rng is not None
            _judge_canary(spec, release, canary, offered_rps, rng, step_s)
        else:
            if incident is not None:
                _run_bad_release(spec, release, incident, step_s)
            if spec.deployment.strategy == "canary" and rng is not None:
                assert offered_rps is not None
                _sample_canary(spec, release, offered_rps, rng, step_s)
        if incident is not None:
            end = release.end_step if release.end_step is not None else n_steps
            moved[incident.id] = dataclasses.replace(incident, end_step=end)
        elif not release.rolled_back:
            current = new
        releases.append(release)
    updated = [moved.get(incident.id, incident) for incident in incidents]
    return releases, updated


def _judge_canary(
    spec: ScenarioSpec,
    release: Release,
    analysis: Any,
    offered_rps: np.ndarray,
    rng: np.random.Generator,
    step_s: float,
) -> None:
    """Run the canary analysis on ``release`` and act on its verdict: promote
    it early or late, or roll it back. A bad release the analysis promotes
    stays out until its fault's nominal end, when a person rolls it back."""
    deployment = spec.deployment
    n_steps = release.share.size
    ready = release.step + _batch_steps(spec, step_s)
    incident = release.incident
    if ready >= n_steps - 1:
        _finish_release(spec, release, release.share, step_s, "")
        return

    analysis.reset()
    schedule = measurement_steps(
        ready, analysis.interval_s, analysis.count, step_s, n_steps
    )
    span = np.arange(ready, (schedule[-1] if schedule else ready) + 1)
    age_s = (span - release.step) * step_s
    cost = (
        _version_cost(
            release.defect, incident.intensity, age_s, np.ones(span.size, bool), step_s
        )
        if incident is not None
        else _healthy_cost(span.size)
    )
    canary, baseline = cohort_samples(
        spec, offered_rps, deployment.canary_fraction, span, cost, rng, step_s
    )

    share = np.where(np.arange(n_steps) >= ready, deployment.canary_fraction, 0.0)
    share[: release.step] = 0.0
    decision = None
    for at in schedule:
        rows = slice(0, at - ready + 1)
        decision = analysis.step(canary.iloc[rows], baseline.iloc[rows])
        if decision.action != "continue":
            release.verdict = decision.action
            release.decided_step = at
            release.decision = decision.as_dict()
            break
    seen = slice(0, (release.decided_step or span[-1]) - ready + 1)
    release.cohorts = (canary.iloc[seen], baseline.iloc[seen])
    if release.verdict == "promote" or not schedule:
        promoted_at = (
            release.decided_step if release.decided_step is not None else ready
        )
        share[promoted_at + 1 :] = 1.0
        if incident is not None:
            share[incident.end_step :] = 0.0  # the person who notices later
        _finish_release(spec, release, share, step_s, "manual rollback")
    elif release.verdict == "rollback":
        assert release.decided_step is not None
        share[release.decided_step + 1 :] = 0.0
        reason = decision.reason if decision is not None else ""
        _finish_release(
            spec, release, share, step_s, f"canary analysis rolled back ({reason})"
        )
    else:  # the run ended before the analysis did
        _finish_release(spec, release, share, step_s, "")


def _sample_canary(
    spec: ScenarioSpec,
    release: Release,
    offered_rps: np.ndarray,
    rng: np.random.Generator,
    step_s: float,
) -> None:
    """Cohort samples of a canary release the built-in controller handled,
    over the steps the canary held its share, for analysis after the fact."""
    fraction = spec.deployment.canary_fraction
    span = np.flatnonzero((release.share > 0) & (release.share <= fraction))
    span = span[span >= release.step]
    if span.size == 0:
        return
    span = np.arange(span[0], span[-1] + 1)
    age_s = (span - release.step) * step_s
    incident = release.incident
    live = np.ones(span.size, dtype=bool)
    cost = (
        _version_cost(release.defect, incident.intensity, age_s, live, step_s)
        if incident is not None
        else _healthy_cost(span.size)
    )
    release.cohorts = cohort_samples(
        spec, offered_rps, fraction, span, cost, rng, step_s
    )


def _healthy_cost(
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(n), np.ones(n), np.ones(n), np.zeros(n)


def _finish_release(
    spec: ScenarioSpec, release: Release, share: np.ndarray, step_s: float, reason: str
) -> None:
    """Record the traffic share a release ends with, its end step if it went
    back to the old version, and a defect's cost to the fleet."""
    n_steps = share.size
    went_back = np.flatnonzero((share == 0) & (np.arange(n_steps) > release.step))
    earliest = release.step + _batch_steps(spec, step_s)
    went_back = went_back[went_back >= earliest]
    if went_back.size and (share[earliest:] > 0).any():
        release.end_step = int(went_back[0])
        release.reason = reason
    release.share = share
    incident = release.incident
    if incident is None:
        return
    if release.end_step is not None:
        release.end_step = min(release.end_step, incident.end_step)
    _record_impact(release, incident, step_s)


def _record_impact(release: Release, incident: Incident, step_s: float) -> None:
    """A defective release's cost to the fleet, weighted by its traffic share,
    and the steps its pods are OOM-killed."""
    share = release.share
    age_s = (np.arange(share.size) - release.step) * step_s
    errors, latency, cpu, memory = _version_cost(
        release.defect, incident.intensity, age_s, share > 0, step_s
    )
    release.impact = {
        "error_ratio": share * errors,
        "latency": 1.0 + share * (latency - 1.0),
        "cpu_per_request": 1.0 + share * (cpu - 1.0),
        "memory_ratio": share * memory,
    }
    starts = np.flatnonzero(np.diff((errors > 0).astype(int), prepend=0) > 0)
    release.oom_steps = (
        [int(s) for s in starts] if release.defect == "memory_leak" else []
    )


def _version_cost(
    defect: str, intensity: float, age_s: np.ndarray, live: np.ndarray, step_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(error ratio, latency factor, cpu factor, memory ratio) of the version's
    own pods, by age in seconds; ``live`` marks steps the version serves."""
    zeros = np.zeros(age_s.size)
    ones = np.ones(age_s.size)
    if defect == "errors":
        errors = np.where(live, BAD_ERROR_RATIO * intensity, 0.0)
        latency = 1.0 + (BAD_LATENCY_FACTOR * intensity) * live
        cpu = 1.0 + 0.5 * intensity * live
        return errors, latency, cpu, zeros
    if defect == "latency_creep":
        creep = np.clip(age_s / 3600.0, 0.0, 6.0) * live
        return (
            zeros,
            1.0 + CREEP_LATENCY_FACTOR_PER_HOUR * intensity * creep,
            ones,
            zeros,
        )
    # memory_leak: pods fill their limit, get OOM-killed and start over; the
    # requests in flight on a killed pod fail while it restarts
    filled = np.maximum(age_s, 0.0) * intensity / LEAK_FILL_S
    memory = np.where(live, filled % 1.0, 0.0)
    kills = (np.diff(np.floor(filled), prepend=0.0) > 0) & live
    restart_steps = max(1, round(RESTART_S / step_s))
    restarting = (
        np.convolve(kills.astype(float), np.ones(restart_steps))[: age_s.size] > 0
    )
    errors = np.where(restarting & live, OOM_ERROR_RATIO, 0.0)
    latency = 1.0 + 0.6 * memory**2
    return errors, latency, ones, memory


def _run_bad_release(
    spec: ScenarioSpec, release: Release, incident: Incident, step_s: float
) -> None:
    """Decide when the controller (or a person) rolls ``release`` back."""
    deployment = spec.deployment
    app = spec.services[spec.service_of_kind("app") or ""]
    n_steps = release.share.size
    age_s = (np.arange(n_steps) - release.step) * step_s
    share = release.share.copy()
    share[incident.end_step :] = 0.0  # the manual rollback, if nothing sooner
    live = share > 0
    errors, latency, _, _ = _version_cost(
        release.defect, incident.intensity, age_s, live, step_s
    )

    trigger = None
    if deployment.automated_rollback:
        # like an alert on rate(errors[w]) / rate(requests[w]) > limit
        window = max(1, math.ceil(deployment.rollback_after_s / step_s))
        limit = deployment.rollback_error_ratio or spec.slo.error_ratio
        if deployment.strategy == "canary":
            seen = _window_mean(app.base_error_ratio + errors, window)
            creep = _window_mean(latency, window)
            breach = (seen > limit) | (creep > deployment.canary_latency_ratio)
        else:
            seen = _window_mean(app.base_error_ratio + share * errors, window)
            breach = seen > limit
        # judge only windows that lie wholly inside the release's live time
        breach &= _window_mean(live.astype(float), window) >= 1.0
        hits = np.flatnonzero(breach)
        trigger = int(hits[0]) if hits.size else None

    if trigger is not None and trigger < incident.end_step:
        release.decided_step = trigger
        level = float(share[trigger])
        if deployment.strategy == "rolling":
            batches = math.ceil(1.0 / deployment.max_surge - 1e-9)
            batch = _batch_steps(spec, step_s)
            done = np.floor((np.arange(n_steps) - trigger) / batch) / batches
            back = np.clip(level - np.maximum(done, 0.0), 0.0, 1.0)
            share = np.where(np.arange(n_steps) > trigger, back, share)
        else:
            share[trigger + 1 :] = 0.0
        what = "error ratio" if deployment.strategy != "canary" else "canary analysis"
        release.reason = f"automated rollback on {what}"
    else:
        release.reason = "manual rollback"
    earliest = min(release.step + _batch_steps(spec, step_s), incident.end_step)
    after = np.flatnonzero(share == 0)
    after = after[after >= earliest]
    release.end_step = min(int(after[0]), incident.end_step) if after.size else None
    release.share = share
    _record_impact(release, incident, step_s)


def _window_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` steps (fewer at the start)."""
    total = np.cumsum(values, dtype=float)
    shifted = np.concatenate((np.zeros(window), total[:-window]))[: values.size]
    count = np.minimum(np.arange(values.size) + 1, window)
    return (total - shifted) / count


def version_labels(
    spec: ScenarioSpec, releases: list[Release], n_steps: int
) -> np.ndarray:
    """App version label per step: the release being rolled out (or back)
    from its start until its traffic is gone after a rollback."""
    app_name = spec.service_of_kind("app") or ""
    versions = np.empty(n_steps, dtype=object)
    versions[:] = spec.services[app_name].version
    for release in releases:
        if release.incident is None and not release.rolled_back:
            versions[release.step :] = release.new
        else:
            end = release.end_step if release.end_step is not None else n_steps
            versions[release.step : end] = release.new
    return versions


def traffic_split(
    spec: ScenarioSpec, releases: list[Release], versions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(old version, new version, new version's share) per step; outside a
    rollout the share is 0 and both name the version in service."""
    old = versions.copy()
    new = versions.copy()
    share = np.zeros(versions.size)
    for release, stop in _split_spans(releases, versions.size):
        span = slice(release.step, stop)
        old[span] = release.old
        new[span] = release.new
        share[span] = release.share[span]
    return old, new, share


def _split_spans(releases: list[Release], n_steps: int) -> list[tuple[Release, int]]:
    """Each release with the step its traffic split ends (promoted or rolled
    back)."""
    spans = []
    for release in releases:
        if release.incident is not None or release.rolled_back:
            stop = release.end_step if release.end_step is not None else n_steps
        else:
            full = np.flatnonzero(release.share[release.step :] >= 1.0)
            stop = release.step + int(full[0]) if full.size else n_steps
        spans.append((release, stop))
    return spans


def rollout_frame(index: pd.DatetimeIndex, releases: list[Release]) -> pd.DataFrame:
    """Long frame (timestamp, version, traffic_ratio) of the steps where a
    release splits the traffic, one row per version."""
    steps: list[np.ndarray] = []
    names: list[np.ndarray] = []
    ratios: list[np.ndarray] = []
    for release, stop in _split_spans(releases, len(index)):
        span = np.arange(release.step, stop)
        share = release.share[span]
        steps += [span, span]
        names += [
            np.full(span.size, release.old, dtype=object),
            np.full(span.size, release.new, dtype=object),
        ]
        ratios += [1.0 - share, share]
    if not steps:
        return pd.DataFrame(columns=["timestamp", "version", "traffic_ratio"])
    all_steps = np.concatenate(steps)
    order = np.argsort(all_steps, kind="stable")
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(
                index.asi8[all_steps[order]], tz="UTC"
            ).as_unit("ns"),
            "version": np.concatenate(names)[order],
            "traffic_ratio": np.concatenate(ratios)[order],
        }
    )


def deploy_frame(
    index: pd.DatetimeIndex,
    releases: list[Release],
    offered_rps: np.ndarray,
    spec: ScenarioSpec,
    step_s: float,
) -> pd.DataFrame:
    """One row per release: whether it was bad, what the canary analysis
    decided and how soon after the canary took traffic, and how many requests
    the new version served until it was rolled back or the next release (for
    a bad one, the users it hurt)."""
    batch = _batch_steps(spec, step_s)
    rows = []
    for number, release in enumerate(releases):
        decided = (
            (release.decided_step - (release.step + batch) + 1) * step_s
            if release.decided_step is not None
            else math.nan
        )
        stop = releases[number + 1].step if number + 1 < len(releases) else None
        if release.end_step is not None:
            stop = release.end_step if stop is None else min(stop, release.end_step)
        span = slice(release.step, stop)
        rows.append(
            {
                "timestamp": index[release.step],
                "old_version": release.old,
                "version": release.new,
                "bad": release.incident is not None,
                "defect": release.defect,
                "judged": bool(release.verdict),
                "verdict": release.verdict,
                "seconds_to_verdict": decided,
                "rolled_back": release.rolled_back,
                "reason": release.reason,
                "requests_on_new_version": float(
                    np.sum(offered_rps[span] * release.share[span]) * step_s
                ),
            }
        )
    if not rows:
        return pd.DataFrame(columns=list(DEPLOY_COLUMNS))
    return pd.DataFrame(rows, columns=list(DEPLOY_COLUMNS))


def canary_frame(index: pd.DatetimeIndex, releases: list[Release]) -> pd.DataFrame:
    """Long frame of every canary release's cohort samples: timestamp,
    version, the baseline's version, cohort (canary or baseline) and the
    cohort metrics."""
    parts = []
    for release in releases:
        if release.cohorts is None:
            continue
        for cohort, frame in zip(("canary", "baseline"), release.cohorts, strict=True):
            part = frame.reset_index(drop=True)
            part.insert(0, "cohort", cohort)
            part.insert(0, "baseline_version", release.old)
            part.insert(0, "version", release.new)
            part.insert(0, "timestamp", index[frame.index.to_numpy()])
            parts.append(part)
    if not parts:
        return pd.DataFrame(columns=list(CANARY_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(CANARY_COLUMNS)]

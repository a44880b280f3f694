"""Run every anomaly detector on a labelled corpus and compare them.

:func:`run_detector_benchmark` fits each detector on each series' training
part (never on labels), scores the test part and reports, per series and
overall: F1 at the detector's own threshold (fitted on its validation scores),
event F1, point-adjusted F1 (beside, never instead of, the plain one), AUC-PR,
VUS-PR, mean delay, and - where the corpus says which metrics were at fault
(SMD) - the attribution hit rate. On NAB it also computes the NAB score of
each detector under the three profiles, with thresholds optimised over the
corpus as NAB does for every detector.

Series run in parallel worker processes (each detector uses one thread);
results are logged to MLflow as one run per detector.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiops.corpora import Corpus, LabelledSeries, load_corpus
from aiops.detectors import (
    BaseDetector,
    IsolationForestDetector,
    LSTMAutoencoderDetector,
    LSTMForecastDetector,
    RandomDetector,
    RollingZScoreDetector,
)
from aiops.errors import ConfigError
from aiops.evaluation import (
    NABSeries,
    evaluate_detection,
    score_nab_corpus,
)
from aiops.thresholds import onset_likelihood

logger = logging.getLogger(__name__)

ALL_DETECTORS = (
    "lstm_forecast",
    "lstm_autoencoder",
    "rolling_zscore",
    "isolation_forest",
    "ecod",
    "random",
)
# Rows of training data put before the test part when scoring, so detectors
# with a look-back start the test part warm (train and test are contiguous in
# SMD, SKAB and the simulator).
CONTEXT_ROWS = 256
# OmniAnomaly's HitRate@P%: top floor(P% x |labelled metrics|) attributed metrics.
HIT_RATE_PERCENTS = (100, 150)
PLOTTED_SERIES = 3
REPORTED_METRICS = (
    "f1",
    "event_f1",
    "f1_point_adjusted",
    "auc_pr",
    "vus_pr",
    "hit_rate_100",
    "hit_rate_150",
)

# LSTM settings per corpus, chosen for run time on two cores, never on labels.
LSTM_SETTINGS: dict[str, dict[str, Any]] = {
    "nab": {"window": 24, "epochs": 20, "windows_per_epoch": 512, "patience": 5},
    "smd": {"epochs": 4, "windows_per_epoch": 1024, "batch_size": 64},
    "skab": {"window": 20, "epochs": 20, "windows_per_epoch": 512, "patience": 5},
    "sim": {"epochs": 6, "windows_per_epoch": 2048},
}


@dataclass
class BenchmarkResult:
    """Per-series and overall metrics of every detector on one corpus."""

    benchmark: str
    detectors: list[str]
    per_series: list[dict[str, Any]]
    overall: dict[str, dict[str, float]]
    nab_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def markdown(self) -> str:
        """Overall table, one row per detector (and NAB scores on NAB)."""
        metrics = [
            m
            for m in REPORTED_METRICS
            if any(m in row for row in self.overall.values())
        ]
        header = ["detector", *metrics, "fit_s", "score_s"]
        nab_profiles = sorted({p for row in self.nab_scores.values() for p in row})
        header += [f"NAB {p}" for p in nab_profiles]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name in self.detectors:
            row = self.overall.get(name, {})
            cells = [name] + [_cell(row.get(m)) for m in [*metrics, "fit_s", "score_s"]]
            cells += [_cell(self.nab_scores.get(name, {}).get(p)) for p in nab_profiles]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(
            f"{self.benchmark}: {len({r['series'] for r in self.per_series})} series, "
            f"wall time {self.wall_s:.0f} s"
        )
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self, path: Path | None = None) -> str:
        text = json.dumps(_finite_or_none(asdict(self)), indent=2)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return text


def make_detector(name: str, benchmark: str, require_regular: bool) -> BaseDetector:
    """The detector ``name`` with the settings used for ``benchmark``."""
    common: dict[str, Any] = {"require_regular": require_regular}
    if name == "lstm_forecast":
        return LSTMForecastDetector.from_config({**LSTM_SETTINGS[benchmark], **common})
    if name == "lstm_autoencoder":
        return LSTMAutoencoderDetector.from_config(
            {**LSTM_SETTINGS[benchmark], **common}
        )
    if name == "rolling_zscore":
        return RollingZScoreDetector(window=30, **common)
    if name == "isolation_forest":
        return IsolationForestDetector(**common)
    if name == "random":
        return RandomDetector(**common)
    if name == "ecod":
        from aiops.detectors import ECODDetector

        return ECODDetector(**common)
    raise ConfigError(
        f"unknown detector {name!r}; expected one of {', '.join(ALL_DETECTORS)}"
    )


def available_detectors() -> list[str]:
    """All detectors, without ECOD when pyod is not installed."""
    try:
        import pyod  # noqa: F401
    except ImportError:
        return [name for name in ALL_DETECTORS if name != "ecod"]
    return list(ALL_DETECTORS)


def run_detector_benchmark(
    benchmark: str,
    path: Path | None = None,
    detectors: list[str] | None = None,
    inclusive_interpretation_end: bool = False,
    max_series: int | None = None,
    json_path: Path | None = None,
    mlflow: bool = True,
    n_jobs: int | None = None,
) -> BenchmarkResult:
    """Fit, score and evaluate ``detectors`` on every series of ``benchmark``.

    Parameters
    ----------
    benchmark : {"nab", "smd", "skab", "sim"}
    path : Path, optional
        Corpus folder (a simulated dataset folder for ``sim``); the shared
        datasets (or the latest simulated dataset) by default.
    detectors : list of str, optional
        Subset of :data:`ALL_DETECTORS`; all available ones by default.
    inclusive_interpretation_end : bool
        Read SMD interpretation labels ``start-end`` with ``end`` inclusive.
    max_series : int, optional
        Only the first ``max_series`` series (by name).
    json_path : Path, optional
        Also write :meth:`BenchmarkResult.to_json` there.
    mlflow : bool
        Log one MLflow run per detector.
    n_jobs : int, optional
        Worker processes over series; one per CPU by default.
    """
    started = time.perf_counter()
    names = list(detectors) if detectors else available_detectors()
    for name in names:
        if name not in ALL_DETECTORS:
            raise ConfigError(
                f"unknown detector {name!r}; expected one of {', '.join(ALL_DETECTORS)}"
            )
    corpus = load_corpus(benchmark, path, max_series, inclusive_interpretation_end)
    outputs = _run_all(corpus, names, n_jobs)

    per_series = [row for output in outputs for row in output["rows"]]
    overall = {
        name: _overall([r for r in per_series if r["detector"] == name])
        for name in names
    }
    nab_scores = _nab_scores(corpus, names, outputs) if benchmark == "nab" else {}
    result = BenchmarkResult(
        benchmark=benchmark,
        detectors=names,
        per_series=per_series,
        overall=overall,
        nab_scores=nab_scores,
        notes=list(corpus.notes),
        wall_s=time.perf_counter() - started,
    )
    logger.info("detector benchmark %s\n%s", benchmark, result.markdown())
    if json_path is not None:
        result.to_json(json_path)
    if mlflow:
        _log_to_mlflow(result, corpus, outputs)
    return result


def _run_all(
    corpus: Corpus, names: list[str], n_jobs: int | None
) -> list[dict[str, Any]]:
    jobs = n_jobs or min(os.cpu_count() or 1, len(corpus.series))
    if jobs <= 1 or len(corpus.series) == 1:
        return [_run_series(item, corpus.name, names) for item in corpus.series]
    from joblib import Parallel, delayed

    return list(
        Parallel(n_jobs=jobs)(
            delayed(_run_series)(item, corpus.name, names) for item in corpus.series
        )
    )


def _run_series(
    series: LabelledSeries, benchmark: str, names: list[str]
) -> dict[str, Any]:
    """Fit and score every detector on one series; runs in a worker."""
    rows, scores = [], {}
    context = series.train.iloc[-CONTEXT_ROWS:] if series.evaluate_from == 0 else None
    frame = series.test if context is None else pd.concat([context, series.test])
    n_context = 0 if context is None else len(context)
    first = series.evaluate_from
    labels = series.labels[first:]

    for name in names:
        detector = make_detector(name, benchmark, series.require_regular)
        fit_started = time.perf_counter()
        detector.fit(series.train)
        fit_s = time.perf_counter() - fit_started

        score_started = time.perf_counter()
        all_scores = detector.score_samples(frame)[n_context:]
        score_s = time.perf_counter() - score_started
        alarms = detector.threshold_.predict(all_scores)
        metrics = evaluate_detection(
            labels, all_scores[first:], alarms[first:], step_s=series.step_s
        )
        if series.interpretation:
            attribution = detector.attribute(frame)[n_context:]
            metrics.update(attribution_hit_rates(attribution, series.interpretation))
        rows.append(
            {
                "detector": name,
                "series": series.name,
                **{k: float(v) for k, v in metrics.items()},
                "fit_s": fit_s,
                "score_s": score_s,
            }
        )
        scores[name] = all_scores.astype(np.float32)
        logger.info(
            "%s %s: AUC-PR %.3f, VUS-PR %.3f (fit %.1f s)",
            series.name,
            name,
            metrics["auc_pr"],
            metrics["vus_pr"],
            fit_s,
        )
    return {"series": series.name, "rows": rows, "scores": scores}


def attribution_hit_rates(
    attribution: np.ndarray,
    interpretation: list[tuple[int, int, list[int]]],
    percents: tuple[int, ...] = HIT_RATE_PERCENTS,
) -> dict[str, float]:
    """OmniAnomaly's HitRate@P%, averaged over every labelled anomalous row.

    At each row of a labelled anomaly with fault metrics ``G``, the share of
    ``G`` found among the ``floor(P% |G|)`` metrics with the largest attribution.
    """
    hits = {p: [] for p in percents}  # type: dict[int, list[float]]
    n_rows = attribution.shape[0]
    for start, stop, columns in interpretation:
        stop = min(stop, n_rows)
        if stop <= start or not columns:
            continue
        truth = np.zeros(attribution.shape[1], dtype=bool)
        truth[columns] = True
        # Stable order on -value: ties go to the lower column number.
        ranking = np.argsort(-attribution[start:stop], axis=1, kind="stable")
        for percent in percents:
            top = ranking[:, : math.floor(percent / 100 * len(columns))]
            hits[percent].extend(truth[top].sum(axis=1) / len(columns))
    return {
        f"hit_rate_{p}": float(np.mean(values)) if values else math.nan
        for p, values in hits.items()
    }


def _overall(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each metric over series (NaN-aware), and summed run times."""
    summary: dict[str, float] = {}
    for key in rows[0] if rows else []:
        if key in ("detector", "series"):
            continue
        values = np.array([row[key] for row in rows], dtype=float)
        if key in ("fit_s", "score_s"):
            summary[key] = float(values.sum())
        elif np.isfinite(values).any():
            summary[key] = float(np.nanmean(values))
    return summary


def _nab_scores(
    corpus: Corpus, names: list[str], outputs: list[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    results = {}
    for name in names:
        # NAB needs one threshold over all series; raw scores differ in scale
        # by orders of magnitude between series, so they are turned into a
        # causal [0, 1] likelihood first (as Numenta's HTM detector does),
        # kept only where an episode begins.
        series = [
            NABSeries(
                item.name,
                onset_likelihood(output["scores"][name].astype(np.float64)),
                item.nab_windows or [],
            )
            for item, output in zip(corpus.series, outputs, strict=True)
        ]
        scored = score_nab_corpus(series)
        results[name] = {profile: value.score for profile, value in scored.items()}
        results[name].update(
            {f"threshold_{p}": value.threshold for p, value in scored.items()}
        )
    return results


def _log_to_mlflow(
    result: BenchmarkResult, corpus: Corpus, outputs: list[dict[str, Any]]
) -> None:
    import mlflow as tracking

    from aiops.tracking import setup_mlflow

    experiment_id = setup_mlflow()
    for name in result.detectors:
        with tracking.start_run(
            run_name=f"benchmark-{result.benchmark}-{name}",
            experiment_id=experiment_id,
            tags={"aiops.step": "detector-benchmark", "benchmark": result.benchmark},
        ):
            detector = make_detector(name, result.benchmark, True)
            tracking.log_params(
                {
                    "benchmark": result.benchmark,
                    "detector": name,
                    "n_series": len(corpus.series),
                    **{f"param.{k}": str(v) for k, v in detector.get_params().items()},
                }
            )
            metrics: dict[str, float] = {}
            for row in result.per_series:
                if row["detector"] != name:
                    continue
                prefix = _metric_key(row["series"])
                for key in REPORTED_METRICS:
                    if key in row and math.isfinite(row[key]):
                        metrics[f"{prefix}/{key}"] = row[key]
            metrics.update(
                {k: v for k, v in result.overall[name].items() if math.isfinite(v)}
            )
            metrics.update(
                {
                    f"nab_{k}": v
                    for k, v in result.nab_scores.get(name, {}).items()
                    if math.isfinite(v)
                }
            )
            tracking.log_metrics(metrics)
            for item, output in list(zip(corpus.series, outputs, strict=True))[
                :PLOTTED_SERIES
            ]:
                figure = plot_scores(item, output["scores"][name], name)
                tracking.log_figure(figure, f"plots/{_metric_key(item.name)}.png")


def plot_scores(series: LabelledSeries, scores: np.ndarray, detector: str) -> Any:
    """Scores over time with the labelled anomalies shaded (a Figure)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3), dpi=100)
    axes = figure.add_subplot()
    steps = np.arange(scores.size)
    axes.plot(steps, scores, linewidth=0.6, color="tab:blue")
    edges = np.diff(np.r_[0, series.labels.astype(np.int8), 0])
    for start, stop in zip(
        np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True
    ):
        axes.axvspan(float(start), float(stop), color="tab:red", alpha=0.2, linewidth=0)
    if series.evaluate_from:
        axes.axvline(series.evaluate_from, color="grey", linestyle="--", linewidth=0.8)
    axes.set_title(f"{detector} on {series.name}", fontsize=9)
    axes.set_xlabel("test step")
    axes.set_ylabel("score")
    figure.tight_layout()
    return figure


def _metric_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_./" else "_" for c in name).replace(
        ".csv", ""
    )


def _cell(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value

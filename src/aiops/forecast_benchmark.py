"""Benchmark of the load forecasters on real and simulated request series.

For every series the first part trains (XGBoost's hyperparameters are picked
on a validation stretch at its end), and rolling origins over the rest are
scored. Every model is fitted once on the same training part and forecasts
each origin from the history up to it.

``run_forecast_benchmark("load")`` covers the real series (NAB nyc_taxi, the
ten realTweets, cpu_utilization_asg_misconfiguration and the NASA HTTP
trace); ``"sim"`` the latest simulated dataset's request rate.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiops.errors import ConfigError, DataError
from aiops.forecasting import SeasonalNaive, XGBForecaster
from aiops.forecasting.datasets import (
    BenchmarkSeries,
    horizon_steps_for,
    load_series,
    load_simulated_series,
)
from aiops.forecasting.features import steps_in
from aiops.forecasting.rolling import (
    OriginForecaster,
    RollingForecast,
    origin_positions,
    pair_mask,
    rolling_forecast,
    score_forecast,
    select_params,
)

logger = logging.getLogger(__name__)

MODELS = ("xgb", "seasonal_naive", "seasonal_naive_weekly", "autoets", "mstl")
STATS_MODELS = ("autoets", "mstl")
QUANTILES = (0.1, 0.5, 0.9, 0.99)
# Share of each real series that trains; the rest is the backtest.
TRAIN_FRACTION = 0.7
# End of the training part on which XGBoost's candidates are compared.
VALIDATION_FRACTION = 0.2
MAX_ORIGINS = 200
MASE_SEASON = "1D"
MASE_TARGET = 1.0
BEAT_BEST_STATS_SHARE = 2 / 3
P90_COVERAGE_BAND = (0.87, 0.93)


@dataclass
class SeriesReport:
    """Scores of every model on one series, and how they were obtained."""

    name: str
    source: str
    step: str
    horizon: str
    horizon_steps: int
    mase_season: str
    n_train: int
    n_test: int
    n_origins: int
    first_origin: str
    last_origin: str
    notes: list[str]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    xgb_params: dict[str, Any] = field(default_factory=dict)
    xgb_validation_mase: list[float] = field(default_factory=list)


@dataclass
class ForecastBenchmarkResult:
    """Per-series, per-model scores of one benchmark run."""

    benchmark: str
    models: list[str]
    quantiles: list[float]
    series: list[SeriesReport]
    settings: dict[str, Any]
    run_ids: dict[str, str] = field(default_factory=dict)
    importance: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    def mase_table(self) -> dict[str, dict[str, float]]:
        return {
            s.name: {m: s.metrics[m]["mase"] for m in s.metrics} for s in self.series
        }

    def targets(self) -> dict[str, Any]:
        """Which targets hold, series by series (XGBoost only)."""
        low, high = P90_COVERAGE_BAND
        rows = {}
        for s in self.series:
            xgb = s.metrics.get("xgb")
            if xgb is None:
                continue
            stats = [s.metrics[m]["mase"] for m in STATS_MODELS if m in s.metrics]
            rows[s.name] = {
                "mase_below_1": xgb["mase"] < MASE_TARGET,
                "beats_best_stats": bool(stats) and xgb["mase"] < min(stats),
                "p90_in_band": low <= xgb.get("coverage_q0.9", math.nan) <= high,
            }
        beaten = [r["beats_best_stats"] for r in rows.values()]
        return {
            "per_series": rows,
            "all_mase_below_1": all(r["mase_below_1"] for r in rows.values()),
            "beat_best_stats_share": float(np.mean(beaten)) if beaten else math.nan,
            "all_p90_in_band": all(r["p90_in_band"] for r in rows.values()),
        }

    def as_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["targets"] = self.targets()
        return payload

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=_json_default)

    def markdown(self) -> str:
        models = [m for m in MODELS if m in self.models]
        lines = [
            f"## Forecast benchmark `{self.benchmark}`",
            "",
            f"Rolling origins over the last {1 - self.settings['train_fraction']:.0%}"
            " of each series, one model fit on the part before; MASE is scaled by "
            f"the in-sample MAE of the {MASE_SEASON} seasonal naive on the "
            "training part. Coverage is the share of targets at or below q0.9.",
            "",
            "| series | step | horizon | origins | "
            + " | ".join(f"MASE {m}" for m in models)
            + " | p90 cov xgb | p90 cov best stats |",
            "|---" * (5 + len(models) + 1) + "|",
        ]
        for s in self.series:
            mase = " | ".join(_fmt(s.metrics.get(m, {}).get("mase")) for m in models)
            stats = [m for m in STATS_MODELS if m in s.metrics]
            best = min(stats, key=lambda m: s.metrics[m]["mase"]) if stats else None
            best_cov = s.metrics[best].get("coverage_q0.9") if best else None
            lines.append(
                f"| {s.name} | {s.step} | {s.horizon} | {s.n_origins} | {mase} | "
                f"{_fmt(s.metrics.get('xgb', {}).get('coverage_q0.9'))} | "
                f"{_fmt(best_cov)} |"
            )
        targets = self.targets()
        if targets["per_series"]:
            ran_stats = any(m in STATS_MODELS for m in self.models)
            stats_share = (
                f"{targets['beat_best_stats_share']:.0%}"
                if ran_stats
                else "n/a (no statsforecast model ran)"
            )
            lines += [
                "",
                f"Targets (xgb): MASE < 1 on every series: "
                f"{_yes(targets['all_mase_below_1'])}; beats the best statsforecast "
                f"model on {stats_share} of series (target >= 67%); q0.9 coverage "
                "within 0.87-0.93 everywhere: "
                f"{_yes(targets['all_p90_in_band'])}.",
            ]
        lines += [
            "",
            "| series | model | MAE | RMSE | sMAPE % | pinball q0.9 | fit s |",
        ]
        lines.append("|---|---|---|---|---|---|---|")
        for s in self.series:
            for m in models:
                if m not in s.metrics:
                    continue
                row = s.metrics[m]
                lines.append(
                    f"| {s.name} | {m} | {_fmt(row['mae'])} | {_fmt(row['rmse'])} | "
                    f"{_fmt(row['smape'])} | {_fmt(row.get('pinball_q0.9'))} | "
                    f"{_fmt(s.seconds[m]['fit'])} |"
                )
        notes = [f"- {s.name}: {'; '.join(s.notes)}" for s in self.series if s.notes]
        return "\n".join([*lines, "", *notes]) + "\n"


def run_forecast_benchmark(
    benchmark: str,
    path: Path | None = None,
    models: list[str] | None = None,
    horizon: str | None = None,
    json_path: Path | None = None,
    mlflow: bool = True,
    max_series: int | None = None,
    max_origins: int = MAX_ORIGINS,
) -> ForecastBenchmarkResult:
    """Backtest the forecasters on the ``load`` or ``sim`` series.

    Parameters
    ----------
    benchmark
        ``"load"``: real series under ``path`` (default the real datasets
        folder); ``"sim"``: the simulated dataset folder ``path`` (default the
        latest one).
    models
        Subset of ``xgb``, ``seasonal_naive`` (daily), ``seasonal_naive_weekly``,
        ``autoets``, ``mstl``; by
        default all of them (the statsforecast two only when installed).
    horizon
        A duration (``"1h"``) that overrides every series' default horizon.
    json_path
        Where to write :meth:`ForecastBenchmarkResult.to_json`.
    mlflow
        Log one MLflow run per model with per-series metrics and figures.
    max_series
        Evaluate only the first ``max_series`` series (quick checks).
    """
    chosen = _check_models(models)
    series = _load_benchmark(benchmark, path)
    if max_series is not None:
        series = series[: max(1, int(max_series))]

    reports, rollings, importance = [], [], {}
    for item in series:
        started = time.perf_counter()
        report, rolling, gains = evaluate_series(item, chosen, horizon, max_origins)
        reports.append(report)
        rollings.append(rolling)
        if gains:
            importance[item.name] = gains
        logger.info(
            "%s: MASE %s in %.1f s",
            item.name,
            {m: round(report.metrics[m]["mase"], 3) for m in report.metrics},
            time.perf_counter() - started,
        )

    result = ForecastBenchmarkResult(
        benchmark=benchmark,
        models=chosen,
        quantiles=list(QUANTILES),
        series=reports,
        settings={
            "train_fraction": TRAIN_FRACTION,
            "validation_fraction": VALIDATION_FRACTION,
            "max_origins": max_origins,
            "mase_season": MASE_SEASON,
            "origin_spacing": "one horizon (non-overlapping windows)",
            "horizon_override": horizon,
        },
        importance=importance,
    )
    if mlflow:
        result.run_ids = _log_to_mlflow(result, series, rollings)
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(result.to_json())
    return result


def evaluate_series(
    series: BenchmarkSeries,
    models: Sequence[str],
    horizon: str | None = None,
    max_origins: int = MAX_ORIGINS,
    train_fraction: float = TRAIN_FRACTION,
) -> tuple[SeriesReport, dict[str, RollingForecast], dict[str, float]]:
    """Fit every model on the training part and score its rolling forecasts."""
    y = series.values
    step = series.step
    steps = horizon_steps_for(horizon, step) if horizon else series.horizon_steps
    season = steps_in(MASE_SEASON, step)
    train_end = int(len(y) * train_fraction)
    train = y.iloc[:train_end]
    origins = origin_positions(train_end - 1, len(y) - 1 - steps, steps, max_origins)
    imputed = series.imputed if series.imputed.size else np.zeros(len(y), bool)
    mask = pair_mask(imputed, origins, steps)

    report = SeriesReport(
        name=series.name,
        source=series.source,
        step=_duration(step),
        horizon=_duration(steps * step),
        horizon_steps=steps,
        mase_season=MASE_SEASON,
        n_train=train_end,
        n_test=len(y) - train_end,
        n_origins=len(origins),
        first_origin=str(y.index[origins[0]]),
        last_origin=str(y.index[origins[-1]]),
        notes=list(series.notes),
    )
    rollings: dict[str, RollingForecast] = {}
    gains: dict[str, float] = {}
    for name in models:
        if name == "xgb":
            candidates = xgb_candidates(step, steps, train.index[-1] - train.index[0])
            selection = select_params(
                _xgb_factory,
                candidates,
                train,
                VALIDATION_FRACTION,
                steps,
                season,
                max_origins,
                imputed[:train_end],
            )
            report.xgb_params = _plain(selection.params)
            report.xgb_validation_mase = selection.validation_mase
            model: OriginForecaster = _xgb_factory(selection.params)
        else:
            model = _baseline(name, step, steps, train)
        rolling = rolling_forecast(model, y, train_end, origins, steps)
        rollings[name] = rolling
        report.metrics[name] = score_forecast(rolling, train.to_numpy(), season, mask)
        report.seconds[name] = {
            "fit": rolling.fit_seconds,
            "predict_per_origin": rolling.predict_seconds / len(origins),
        }
        if name == "xgb":
            gains = feature_importance(model)  # type: ignore[arg-type]
    return report, rollings, gains


def xgb_candidates(
    step: pd.Timedelta, horizon_steps: int, training_span: pd.Timedelta
) -> list[dict[str, Any]]:
    """A small, fixed grid of XGBoost settings scaled to the series' grid.

    Lags cover 1-3 steps and durations of 15 minutes to 12 hours; the level
    window (the longest rolling window) is the horizon or four horizons.
    """
    day_steps = steps_in("1D", step)
    durations = ("15min", "30min", "1h", "2h", "3h", "6h", "12h")
    lags = {1, 2, 3} | {
        k
        for k in (int(pd.Timedelta(d) / step) for d in durations)
        if 4 <= k <= day_steps // 2
    }
    # A seasonal lag needs as much history again to supply training targets.
    seasonal = tuple(s for s in ("1D", "7D") if 2 * pd.Timedelta(s) <= training_span)
    short = max(2, horizon_steps // 4)
    base: dict[str, Any] = {
        "horizon": horizon_steps,
        "quantiles": QUANTILES,
        "lags": tuple(sorted(lags)),
        "seasonal_lags": seasonal,
        "rolling_windows": (short, horizon_steps),
        "n_estimators": 200,
        "max_depth": 6,
        "learning_rate": 0.05,
        "max_train_rows": 50_000,
    }
    return [
        base,
        {**base, "rolling_windows": (short, horizon_steps, 4 * horizon_steps)},
        {**base, "max_depth": 4, "n_estimators": 400},
    ]


def feature_importance(model: XGBForecaster) -> dict[str, float]:
    """Share of total split gain per feature name."""
    raw = model.model_.get_booster().get_score(importance_type="total_gain")
    names = model.feature_names_
    # With total_gain every value is one float; lists come only from other types.
    gains = {
        names[int(key[1:])]: float(value)  # type: ignore[arg-type]
        for key, value in raw.items()
    }
    total = sum(gains.values()) or 1.0
    return {name: value / total for name, value in sorted(gains.items())}


def _xgb_factory(params: Mapping[str, Any]) -> OriginForecaster:
    return XGBForecaster(**params)


def _baseline(
    name: str, step: pd.Timedelta, horizon_steps: int, train: pd.Series
) -> OriginForecaster:
    from aiops.forecasting.statistical import AutoETSForecaster, MSTLForecaster

    if name == "seasonal_naive":
        return SeasonalNaive(MASE_SEASON, horizon_steps, QUANTILES)
    if name == "seasonal_naive_weekly":
        return SeasonalNaive("7D", horizon_steps, QUANTILES)
    if name == "autoets":
        return AutoETSForecaster(horizon_steps, QUANTILES, season=MASE_SEASON)
    return MSTLForecaster(horizon_steps, QUANTILES, seasons=("1D", "7D"))


def _check_models(models: list[str] | None) -> list[str]:
    if models is None:
        try:
            import statsforecast  # noqa: F401
        except ImportError:
            logger.warning("statsforecast not installed: AutoETS and MSTL skipped")
            return [m for m in MODELS if m not in STATS_MODELS]
        return list(MODELS)
    unknown = sorted(set(models) - set(MODELS))
    if unknown or not models:
        raise ConfigError(
            f"unknown forecaster(s) {unknown or models}; choose from {list(MODELS)}"
        )
    if set(models) & set(STATS_MODELS):
        from aiops.forecasting.statistical import import_statsforecast_models

        import_statsforecast_models()
    return [m for m in MODELS if m in models]


def _load_benchmark(benchmark: str, path: Path | None) -> list[BenchmarkSeries]:
    if benchmark == "load":
        from aiops.config import real_datasets_dir

        root = Path(path) if path is not None else real_datasets_dir()
        if not root.is_dir():
            raise DataError(
                f"datasets folder {root} does not exist; pass the folder holding "
                "nab/ and load/ or set AIOPS_DATASETS"
            )
        return load_series(root)
    if benchmark == "sim":
        from aiops.steps import TRAIN_FRACTION as SIM_TRAIN  # noqa: F401
        from aiops.steps import resolve_dataset

        return [load_simulated_series(resolve_dataset(path))]
    raise ConfigError(f"benchmark must be 'load' or 'sim'; got {benchmark!r}")


def _log_to_mlflow(
    result: ForecastBenchmarkResult,
    series: list[BenchmarkSeries],
    rollings: list[dict[str, RollingForecast]],
) -> dict[str, str]:
    """One run per model: per-series metrics, forecast figures, importance."""
    import mlflow

    from aiops.forecasting.plots import forecast_figure, importance_figure
    from aiops.tracking import setup_mlflow

    experiment_id = setup_mlflow()
    run_ids = {}
    for model in result.models:
        with mlflow.start_run(
            run_name=f"forecast-benchmark-{result.benchmark}-{model}",
            experiment_id=experiment_id,
            tags={"aiops.step": "forecast-benchmark", "aiops.model": model},
        ) as run:
            mlflow.log_params(
                {"benchmark": result.benchmark, "model": model, **result.settings}
            )
            metrics = {}
            for report, item, rolling in zip(
                result.series, series, rollings, strict=True
            ):
                for key, value in report.metrics[model].items():
                    if math.isfinite(value):
                        metrics[f"{report.name}.{key}"] = value
                metrics[f"{report.name}.fit_seconds"] = report.seconds[model]["fit"]
                figure = forecast_figure(
                    item.values,
                    rolling[model].origins,
                    rolling[model].forecasts,
                    f"{model} on {report.name} ({report.horizon} ahead)",
                )
                mlflow.log_figure(figure, f"forecasts/{report.name}.png")
                if model == "xgb" and report.name in result.importance:
                    gains = result.importance[report.name]
                    mlflow.log_dict(gains, f"importance/{report.name}.json")
                    mlflow.log_figure(
                        importance_figure(gains, f"xgb importance, {report.name}"),
                        f"importance/{report.name}.png",
                    )
            mlflow.log_metrics(metrics)
            mlflow.log_dict(result.as_dict(), "benchmark.json")
            run_ids[model] = run.info.run_id
    return run_ids


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _duration(span: pd.Timedelta) -> str:
    minutes = int(span / pd.Timedelta("1min"))
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}min"


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _json_default(value: object) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Callable):  # type: ignore[arg-type]
        return repr(value)
    return str(value)

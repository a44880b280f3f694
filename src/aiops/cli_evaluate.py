"""``aiops evaluate``: the benchmark commands, one per table of results.

Each checks its options before loading any data, prints a Markdown table and,
with ``--json FILE``, writes the same results as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiops.cli_checks import (
    check_max_series,
    check_output_file,
    console,
    split_names,
)
from aiops.errors import ConfigError

evaluate_app = typer.Typer(help="Evaluate models on simulated or real data.")


JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Also write the results as JSON here.")
]
MaxSeries = Annotated[
    int | None, typer.Option(help="Only the first N series (quick checks).")
]
NoMlflow = Annotated[
    bool, typer.Option("--no-mlflow", help="Do not log runs to MLflow.")
]


@evaluate_app.command("detector")
def evaluate_detector(
    benchmark: Annotated[
        str,
        typer.Option(
            help="Corpus: nab, smd, skab (real, under AIOPS_DATASETS) or sim "
            "(a simulated dataset)."
        ),
    ] = "nab",
    path: Annotated[
        Path | None,
        typer.Option(help="Corpus folder of the same layout (or a sim dataset)."),
    ] = None,
    detectors: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated subset of lstm_forecast, lstm_autoencoder, "
            "rolling_zscore, isolation_forest, ecod, random (default: all)."
        ),
    ] = None,
    inclusive_end: Annotated[
        bool,
        typer.Option(
            "--inclusive-end",
            help="SMD interpretation ranges 'start-end' include their end row.",
        ),
    ] = False,
    max_series: MaxSeries = None,
    json_path: JsonOption = None,
    no_mlflow: NoMlflow = False,
) -> None:
    """Run every detector and baseline on a labelled corpus; print the table."""
    from aiops.detector_benchmark import run_detector_benchmark

    if benchmark not in ("nab", "smd", "skab", "sim"):
        raise ConfigError(
            f"unknown benchmark {benchmark!r}; expected nab, smd, skab or sim"
        )
    check_max_series(max_series)
    check_output_file(json_path)
    with console.status(f"running the detectors on {benchmark}"):
        result = run_detector_benchmark(
            benchmark,
            path,
            detectors=split_names(detectors, "--detectors"),
            inclusive_interpretation_end=inclusive_end,
            max_series=max_series,
            json_path=json_path,
            mlflow=not no_mlflow,
        )
    console.print(result.markdown(), markup=False, highlight=False, soft_wrap=True)
    if json_path is not None:
        console.print(f"results written to {json_path}")


@evaluate_app.command("forecaster")
def evaluate_forecaster(
    benchmark: Annotated[
        str,
        typer.Option(
            help="Series: load (real traces under AIOPS_DATASETS) or sim (the "
            "request rate of a simulated dataset)."
        ),
    ] = "load",
    path: Annotated[
        Path | None,
        typer.Option(help="Datasets folder (load) or simulated dataset (sim)."),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated subset of xgb, seasonal_naive (daily), "
            "seasonal_naive_weekly, autoets, mstl (default: all installed)."
        ),
    ] = None,
    horizon: Annotated[
        str | None,
        typer.Option(help="Forecast horizon for every series, e.g. 1h."),
    ] = None,
    max_series: MaxSeries = None,
    json_path: JsonOption = None,
    no_mlflow: NoMlflow = False,
) -> None:
    """Backtest the forecasters from rolling origins; print the table."""
    from aiops.forecast_benchmark import run_forecast_benchmark

    if benchmark not in ("load", "sim"):
        raise ConfigError(f"unknown benchmark {benchmark!r}; expected load or sim")
    check_max_series(max_series)
    check_output_file(json_path)
    if horizon is not None:
        from aiops.forecasting.serving import parse_horizon

        parse_horizon(horizon)
    with console.status(f"backtesting the forecasters on {benchmark}"):
        result = run_forecast_benchmark(
            benchmark,
            path,
            models=split_names(models, "--models"),
            horizon=horizon,
            json_path=json_path,
            mlflow=not no_mlflow,
            max_series=max_series,
        )
    console.print(result.markdown(), markup=False, highlight=False, soft_wrap=True)
    if json_path is not None:
        console.print(f"results written to {json_path}")


@evaluate_app.command("policy")
def evaluate_policy(
    policies: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated policy names (files in data/policies) or "
            "YAML paths; default: hpa, keda, predictive, combined, "
            "canary-kayenta, canary-combined."
        ),
    ] = None,
    suite: Annotated[
        str,
        typer.Option(help="Scenario suite: a name in data/scenarios/suites or a path."),
    ] = "default",
    scenarios: Annotated[
        str | None,
        typer.Option(help="Comma-separated subset of the suite's scenarios."),
    ] = None,
    model: Annotated[
        str,
        typer.Option(help="Load forecaster for the predictive policies (model URI)."),
    ] = "models:/aiops-load-xgb-scaling@champion",
    json_path: JsonOption = None,
    no_mlflow: NoMlflow = False,
) -> None:
    """Run every policy on every scenario of a suite, in closed loop; print
    cost, SLO minutes and canary verdicts per policy."""
    from aiops.policy_benchmark import run_policy_benchmark

    check_output_file(json_path)
    names = split_names(policies, "--policies")
    subset = split_names(scenarios, "--scenarios")
    with console.status(f"running the policies on suite {suite}"):
        result = run_policy_benchmark(
            names,
            suite=suite,
            model_uri=model,
            scenarios=subset,
            json_path=json_path,
            mlflow=not no_mlflow,
        )
    console.print(result.markdown(), markup=False, highlight=False, soft_wrap=True)
    console.print(f"{len(result.scenarios)} scenarios in {result.seconds:.1f} s")
    if json_path is not None:
        console.print(f"results written to {json_path}")

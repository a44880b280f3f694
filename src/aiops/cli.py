"""The ``aiops`` command line: one subcommand per step of the workbench.

Bad input ends with one line on stderr and a non-zero exit status; tracebacks
are kept for bugs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.exceptions import TyperException

from aiops.cli_checks import (
    check_port_free,
    console,
    parse_overrides,
    positive_days,
)
from aiops.cli_evaluate import evaluate_app
from aiops.errors import AiopsError, ConfigError
from aiops.tracking import configure_environment

PROFILE_HELP = "System profile: production, development or experimental."
SET_HELP = (
    "Override a model parameter, as FAMILY.KEY=VALUE (for example "
    "lstm.epochs=3 or xgboost.n_estimators=100). Repeatable."
)

app = typer.Typer(
    name="aiops",
    help=(
        "AIOps workbench: simulate a service fleet with injected faults, train "
        "LSTM anomaly detectors and XGBoost load forecasters, track them in "
        "MLflow, and judge scaling and canary policies in closed loop."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
train_app = typer.Typer(help="Train a model on a simulated dataset and register it.")
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")


def default_profile() -> str:
    return os.environ.get("DEPLOY_ENV", "production")


Profile = Annotated[
    str, typer.Option("--profile", "-p", help=PROFILE_HELP, show_default=False)
]
Days = Annotated[
    float, typer.Option(help="Days of telemetry to simulate.", callback=positive_days)
]
Seed = Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")]
Overrides = Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)]


@app.command()
def run(
    profile: Profile = "",
    days: Days = 14.0,
    seed: Seed = 7,
    real: Annotated[
        bool,
        typer.Option(
            "--real", help="Also train and evaluate the detector on NAB series."
        ),
    ] = False,
    overrides: Overrides = None,
) -> None:
    """Run the main job: simulate, train, register, replay policies, report."""
    from aiops.simulator import load_scenario
    from aiops.steps import check_pipeline_days, check_training_length

    profile = profile or default_profile()
    parsed = parse_overrides(overrides)
    scenario = load_scenario(profile)  # a bad profile fails here, before any work
    check_pipeline_days(days)
    check_training_length(
        round(days * 86400 / scenario.step_s),
        parsed.get("lstm"),
        parsed.get("xgboost"),
        what=f"a {days:g}-day run",
    )
    if real:
        from aiops.config import real_datasets_dir

        real_datasets_dir(needs="nab")

    from aiops.flows import aiops_pipeline

    summary = aiops_pipeline(
        profile=profile,
        days=days,
        seed=seed,
        real=real,
        lstm=parsed.get("lstm"),
        xgboost=parsed.get("xgboost"),
    )
    print_summary(summary)


@app.command()
def simulate(
    profile: Profile = "",
    days: Days = 14.0,
    seed: Seed = 7,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default data/generated/NAME)."),
    ] = None,
    export: Annotated[
        list[str] | None,
        typer.Option(
            help="Also write an export into the folder: openmetrics (for "
            "promtool/Prometheus), nab (NAB-style CSV per series) or wide (one "
            "column per series, the input of `aiops score`). Repeatable."
        ),
    ] = None,
) -> None:
    """Simulate the system model and write a labelled dataset folder."""
    from aiops.config import datasets_root
    from aiops.simulator import load_scenario, simulate, write_dataset
    from aiops.simulator.storage import EXPORTS
    from aiops.steps import dataset_name

    profile = profile or default_profile()
    scenario = load_scenario(profile)
    unknown = sorted(set(export or ()) - set(EXPORTS))
    if unknown:
        raise ConfigError(
            f"--export {unknown[0]!r} is not known; expected one of "
            f"{', '.join(EXPORTS)}"
        )
    if out is not None and out.is_dir() and any(out.iterdir()):
        raise ConfigError(
            f"--out {out} is a folder that is not empty; choose another folder "
            "or remove it first"
        )
    with console.status(f"simulating {days:g} days of {profile}"):
        telemetry = simulate(scenario, days=days, seed=seed)
        folder = out or datasets_root() / dataset_name(profile, days, seed)
        path = write_dataset(
            telemetry, folder, overwrite=out is None, exports=export or ()
        )
    summary = telemetry.summary()
    console.print(
        f"wrote {path} ({len(telemetry.labels)} steps, "
        f"{len(telemetry.incidents)} incidents: "
        f"{', '.join(sorted(set(telemetry.incidents['kind'])))})"
    )
    console.print_json(data=summary)


DatasetOption = Annotated[
    str | None,
    typer.Option(help="Dataset folder written by `aiops simulate` (default: latest)."),
]


@train_app.command("detector")
def train_detector(dataset: DatasetOption = None, overrides: Overrides = None) -> None:
    """Train the LSTM detector, evaluate it on held-out days, register it."""
    from aiops.flows import train_detector_flow
    from aiops.steps import check_dataset_for_training, resolve_dataset

    parsed = parse_overrides(overrides, families=("lstm",))
    folder = resolve_dataset(dataset)
    check_dataset_for_training(folder, lstm=parsed.get("lstm"))
    result = train_detector_flow(dataset=str(folder), lstm=parsed.get("lstm"))
    console.print(result)


@train_app.command("forecaster")
def train_forecaster(
    dataset: DatasetOption = None,
    overrides: Overrides = None,
    scaling: Annotated[
        bool,
        typer.Option(
            "--scaling",
            help="Train the predictive scalers' forecaster (aiops-load-xgb-"
            "scaling): only as far ahead as a scaling decision needs.",
        ),
    ] = False,
) -> None:
    """Train the XGBoost load forecaster, compare with seasonal naive, register."""
    from aiops.flows import train_forecaster_flow
    from aiops.steps import check_dataset_for_training, resolve_dataset

    parsed = parse_overrides(overrides, families=("xgboost",))
    folder = resolve_dataset(dataset)
    check_dataset_for_training(folder, xgboost=parsed.get("xgboost"))
    result = train_forecaster_flow(
        dataset=str(folder), xgboost=parsed.get("xgboost"), for_scaling=scaling
    )
    console.print(result)


@app.command()
def decide(
    telemetry: Annotated[
        Path,
        typer.Option(
            help="Recent telemetry: a dataset folder or a wide CSV/Parquet table."
        ),
    ],
    policy: Annotated[
        list[str],
        typer.Option(
            help="Policy name (data/policies) or YAML path; repeat for several."
        ),
    ],
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Scenario with the fleet's capacity and limits (default: the "
            "dataset's own, or the production profile for a table)."
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(help="Load forecaster for predictive policies.")
    ] = "models:/aiops-load-xgb-scaling@champion",
    canary_samples: Annotated[
        Path | None,
        typer.Option(help="Cohort samples (CSV/Parquet) for canary policies."),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(help="Canary version to judge (default: the latest)."),
    ] = None,
    canary_model: Annotated[
        str,
        typer.Option(
            help="Cohort detector of the detector-based canary judges; without "
            "one, a detector is trained on the telemetry's earlier baselines."
        ),
    ] = "models:/aiops-canary-lstm@champion",
) -> None:
    """Print a JSON recommendation: replicas per fleet with the forecast
    behind them, and the canary verdict with per-metric reasons."""
    import json

    from aiops.decide import decide as recommend

    result = recommend(
        telemetry,
        policy,
        scenario=scenario,
        model_uri=model,
        canary_samples=canary_samples,
        version=version,
        canary_model=canary_model,
    )
    typer.echo(json.dumps(result, indent=2, default=str))


@app.command()
def forecast(
    input: Annotated[
        Path, typer.Option("--input", help="Load history, CSV or Parquet.")
    ],
    model: Annotated[
        str, typer.Option(help="Model URI, e.g. models:/aiops-load-xgb@champion")
    ] = "models:/aiops-load-xgb@champion",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", help="Forecast table, CSV or Parquet (default: CSV on stdout)."
        ),
    ] = None,
    horizon: Annotated[
        str, typer.Option(help="How far ahead, as a duration: 30min, 1h, 2h.")
    ] = "1h",
    time_column: Annotated[str, typer.Option(help="Time stamp column.")] = "timestamp",
    value_column: Annotated[str, typer.Option(help="Load column.")] = "request_rate",
) -> None:
    """Forecast the load after the end of a history file, with quantiles."""
    from aiops.forecasting.serving import forecast_file

    result, table = forecast_file(
        model, input, output, horizon, time_column, value_column
    )
    if result.repairs is not None:
        # stdout may be the forecast itself: the note goes to stderr
        sys.stderr.write(
            f"aiops: note: history repaired: {result.repairs.describe()}\n"
        )
    if output is None:
        sys.stdout.write(table.to_csv(index=False))
        return
    console.print(
        f"forecast {result.horizon_steps} steps ({result.first} .. {result.last}) "
        f"from {result.history_rows} history rows -> {output}"
    )


@app.command()
def score(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            help="Telemetry, CSV or Parquet: one column per metric the model "
            "was trained on (`aiops simulate --export wide` writes one).",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", help="Scores, CSV or Parquet.")],
    model: Annotated[
        str, typer.Option(help="Model URI, e.g. models:/aiops-anomaly-lstm@champion")
    ] = "models:/aiops-anomaly-lstm@champion",
    chunk_rows: Annotated[int, typer.Option(help="Rows scored per chunk.")] = 50_000,
    min_duration: Annotated[
        int, typer.Option(help="Page only after this many alarm steps in a row.")
    ] = 0,
    merge_gap: Annotated[
        int, typer.Option(help="Hold a page through quiet gaps this long (steps).")
    ] = 0,
    cooldown: Annotated[
        int, typer.Option(help="No new page this many steps after one ends.")
    ] = 0,
) -> None:
    """Score a telemetry file with a registered detector, in bounded memory."""
    from aiops.scoring import score_file
    from aiops.thresholds import AlarmFilter

    cleaning = AlarmFilter(min_duration, merge_gap, cooldown)
    result = score_file(
        model,
        input,
        output,
        chunk_rows=chunk_rows,
        alarm_filter=cleaning if (min_duration or merge_gap or cooldown) else None,
    )
    console.print(
        f"scored {result.rows} rows ({result.alarms} alarms, "
        f"{result.flagged} flagged for gaps or missing values) -> {output}"
    )


@app.command()
def models() -> None:
    """List registered models, their versions and aliases."""
    from aiops.registry import describe_models

    table = Table("model", "version", "aliases", "held-out metric", "run")
    for row in describe_models():
        metric = {k: v for k, v in row["tags"].items() if k.startswith("heldout_")}
        table.add_row(
            row["name"],
            row["version"],
            row["aliases"],
            ", ".join(f"{k}={v}" for k, v in metric.items()),
            row["run_id"] or "",
        )
    console.print(table)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
) -> None:
    """Serve the MLflow UI on 127.0.0.1 over the local tracking store."""
    from aiops.tracking import artifact_root, setup_mlflow, tracking_uri

    check_port_free(port)
    setup_mlflow()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tracking_uri(),
        "--default-artifact-root",
        artifact_root(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    console.print(f"MLflow UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    os.execv(sys.executable, command)


@app.command()
def server(
    port: Annotated[int, typer.Option(help="Prefect API port on 127.0.0.1.")] = 4200,
) -> None:
    """Start a Prefect server and a worker on 127.0.0.1 and deploy every flow."""
    from aiops.orchestration import serve_forever

    check_port_free(port)
    serve_forever(port)


def print_summary(summary: dict[str, Any]) -> None:
    data = summary["dataset_summary"]
    console.print(
        f"\n[bold]dataset[/] {summary['dataset']}: {data['steps']} steps, "
        f"{data['series']} series, {data['incidents']} incidents "
        f"({', '.join(data['kinds'])})"
    )
    detector = summary["detector"]
    columns = ("precision", "recall", "f1", "event_f1", "auc_pr", "mean_delay_s")
    table = Table(*columns, title="Anomaly detection, held-out days")
    table.add_row(*(f"{detector.get(c, float('nan')):.3f}" for c in columns))
    console.print(table)

    forecaster = summary["forecaster"]
    table = Table(title="Load forecast, held-out days")
    for column in ("model", "MAE", "MASE", "p90 coverage"):
        table.add_column(column)
    table.add_row(
        "XGBoost",
        f"{forecaster['mae']:.2f}",
        f"{forecaster['mase']:.3f}",
        f"{forecaster['coverage_p90']:.3f}",
    )
    table.add_row(
        "seasonal naive",
        f"{forecaster['naive_mae']:.2f}",
        f"{forecaster['naive_mase']:.3f}",
        f"{forecaster['naive_coverage_p90']:.3f}",
    )
    console.print(table)

    table = Table(title="Scaling policies, replayed on the held-out days")
    for column in ("policy", "replica-hours", "cost $", "SLO-violation min", "actions"):
        table.add_column(column)
    for name, result in summary["policies"].items():
        table.add_row(
            name,
            f"{result.get('replica_hours', float('nan')):.1f}",
            f"{result.get('cost_usd', float('nan')):.2f}",
            f"{result.get('slo_violation_minutes', float('nan')):.0f}",
            f"{result.get('scaling_actions', float('nan')):.0f}",
        )
    console.print(table)

    table = Table(title="Model registry")
    for column in ("model", "version", "metric", "candidate", "champion", "promoted"):
        table.add_column(column)
    for row in summary["registry"]:
        champion = row["champion"]
        table.add_row(
            row["name"],
            row["version"],
            row["metric"],
            f"{row['candidate']:.4f}",
            "-" if champion is None else f"{champion:.4f} (v{row['champion_version']})",
            "yes" if row["promoted"] else "no",
        )
    console.print(table)
    if summary.get("nab"):
        console.print(f"NAB: {summary['nab']['overall']}")
    console.print(
        f"report: {summary['report']}  (MLflow run {summary['parent_run_id']})"
    )


def main() -> None:
    """Entry point: run the CLI, turning user errors into one line on stderr."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] or ["--help"]
    try:
        configure_environment()
        code = command.main(args=args, prog_name="aiops", standalone_mode=False)
    except KeyboardInterrupt:
        sys.stderr.write("aiops: interrupted\n")
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.stderr.write("aiops: aborted\n")
        sys.exit(130)
    except TyperException as error:
        # Usage errors: a bad option value, a missing argument, a typo.
        format_message = getattr(error, "format_message", None)
        message = format_message() if format_message else str(error)
        sys.stderr.write(f"aiops: error: {_one_line(message)}\n")
        sys.exit(getattr(error, "exit_code", 2))
    except AiopsError as error:
        sys.stderr.write(f"aiops: error: {_one_line(str(error))}\n")
        sys.exit(1)
    except BrokenPipeError:
        # the reader of our output went away (`aiops ... | head`): not an error
        sys.stderr.close()
        sys.exit(0)
    except OSError as error:
        # The file system said no: a folder that cannot be written, a full disk.
        where = f" ({error.filename})" if error.filename else ""
        reason = error.strerror or str(error)
        sys.stderr.write(f"aiops: error: {_one_line(reason)}{where}\n")
        sys.exit(1)
    # without standalone mode click returns the exit code of an interrupted
    # command (130 after Ctrl-C) instead of raising it
    if isinstance(code, int) and code != 0:
        if code == 130:
            sys.stderr.write("aiops: interrupted\n")
        sys.exit(code)


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    main()

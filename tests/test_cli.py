"""The command line: help, and one clear line for every kind of bad input."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from aiops.cli import parse_overrides
from aiops.errors import ConfigError
from tests.conftest import aiops_command, home_environment


def run_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **home_environment(home), **env}
    return subprocess.run(
        [*aiops_command(), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_lists_one_subcommand_per_step(aiops_home: Path) -> None:
    done = run_cli(aiops_home, "--help")
    assert done.returncode == 0
    for command in ("simulate", "train", "evaluate", "score", "run", "ui"):
        assert command in done.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["run", "--profile", "staging"], {}, "unknown profile 'staging'"),
        (["simulate", "--days", "abc"], {}, "Invalid value for '--days'"),
        (["simulate", "--days", "-2"], {}, "expected a number of days > 0"),
        (["simulate", "--days", "inf"], {}, "days > 0 and <= 366, got inf"),
        (["simulate", "--days", "1e6"], {}, "days > 0 and <= 366, got 1e+06"),
        (["run", "--days", "2"], {}, "--days covers 2 days; training needs at least 3"),
        (
            ["run", "--set", "lstm.epochs=abc"],
            {},
            "epochs must be a whole number >= 1; got 'abc'",
        ),
        (
            ["run", "--set", "xgboost.max_depth=1.5"],
            {},
            "max_depth must be a whole number >= 1; got [1.5]",
        ),
        (
            ["train", "forecaster", "--set", "lstm.epochs=3"],
            {},
            "--set lstm.* does not apply here: this command trains xgboost only",
        ),
        (
            ["run", "--real"],
            {"AIOPS_DATASETS": "EMPTY"},
            "has no nab/; set AIOPS_DATASETS to the folder holding nab/",
        ),
        (
            ["simulate", "--days", "1", "--out", "/proc/aiops-cannot-write"],
            {},
            "/proc/",
        ),
        (["simulate", "--out", "FULL"], {}, "is a folder that is not empty"),
        (
            ["score", "--input", "in.csv", "--output", "/nonexistent/out.csv"],
            {},
            "output folder /nonexistent does not exist",
        ),
        (
            ["score", "--input", "FULL", "--output", "out.csv"],
            {},
            "is a folder; expected a CSV or Parquet file",
        ),
        (["score", "--output", "out.csv"], {}, "Missing option '--input'"),
        (
            ["score", "--input", "in.csv", "--output", "out.csv", "--cooldown", "-2"],
            {},
            "cooldown must be a whole number >= 0; got -2",
        ),
        (["ui", "--port", "99999"], {}, "--port 99999 is out of range"),
        (
            ["run", "--days", "3", "--set", "lstm.window=100000"],
            {},
            "lstm.window=100000 needs 200002 training steps; a 3-day run trains "
            "the detector on 1728",
        ),
        (
            ["run", "--set", "xgboost.horizon=100000"],
            {},
            "xgboost.horizon=100000 with lags up to 60 needs 200060 training steps",
        ),
        (["models"], {"AIOPS_HOME": "/nonexistent/home"}, "is not a folder"),
        (
            ["run", "--real"],
            {"AIOPS_DATASETS": "/nonexistent/datasets"},
            "datasets folder /nonexistent/datasets",
        ),
        (["run", "--set", "lstm.epochs"], {}, "is not FAMILY.KEY=VALUE"),
        (["run", "--set", "lstm.nonsense=3"], {}, "unknown lstm parameter"),
        (
            ["train", "detector", "--dataset", "/nonexistent/dataset"],
            {},
            "has no manifest.json",
        ),
        (
            [
                "score",
                "--model",
                "models:/aiops-anomaly-lstm@nosuchalias",
                "--input",
                "in.csv",
                "--output",
                "out.csv",
            ],
            {},
            "cannot load model 'models:/aiops-anomaly-lstm@nosuchalias'",
        ),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(
    aiops_home: Path, tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("taken")
    (tmp_path / "empty").mkdir()
    places = {"in.csv": tmp_path / "in.csv", "FULL": tmp_path / "full"}
    args = [str(places.get(a, a)) for a in args]
    env = {k: str(tmp_path / "empty") if v == "EMPTY" else v for k, v in env.items()}
    done = run_cli(aiops_home, *args, **env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]


def test_parse_overrides_types_values() -> None:
    parsed = parse_overrides(["lstm.epochs=3", "xgboost.learning_rate=0.1"])
    assert parsed == {"lstm": {"epochs": 3}, "xgboost": {"learning_rate": 0.1}}


def test_parse_overrides_refuses_unknown_family() -> None:
    with pytest.raises(ConfigError, match="unknown model family 'prophet'"):
        parse_overrides(["prophet.x=1"])


def test_ui_refuses_a_port_in_use(aiops_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = run_cli(aiops_home, "ui", "--port", str(port))
    assert done.returncode != 0
    assert done.stderr.strip() == (
        f"aiops: error: --port {port} is already in use on 127.0.0.1; stop what "
        "holds it or pick another port"
    )

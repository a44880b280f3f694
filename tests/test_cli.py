"""The command line: help, and one clear line for every kind of bad input."""

from __future__ import annotations

import os
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
    done = run_cli(
        aiops_home,
        *[a.replace("in.csv", str(tmp_path / "in.csv")) for a in args],
        **env,
    )
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

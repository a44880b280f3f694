"""Checks of command-line input, made before any work starts, so that a bad
value ends in one line on stderr rather than minutes later in a traceback."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from aiops.config import load_model_config
from aiops.errors import ConfigError

# The commands' standard output; tables keep their width in a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 200)

# A year at one-minute steps is the longest run the simulator is built for.
MAX_DAYS = 366


def positive_days(value: float) -> float:
    if not 0 < value <= MAX_DAYS:
        raise typer.BadParameter(
            f"expected a number of days > 0 and <= {MAX_DAYS}, got {value:g}"
        )
    return value


def parse_overrides(
    pairs: list[str] | None, families: tuple[str, ...] = ("lstm", "xgboost")
) -> dict[str, dict[str, Any]]:
    """Turn ``family.key=value`` strings into ``{family: {key: value}}``.

    Refuses, before any work starts, a family the command does not train, a
    key the family does not have, and a value its model would refuse.
    """
    overrides: dict[str, dict[str, Any]] = {}
    for pair in pairs or []:
        name, separator, raw = pair.partition("=")
        family, dot, key = name.partition(".")
        if not separator or not dot or not key:
            raise ConfigError(
                f"--set {pair!r} is not FAMILY.KEY=VALUE; for example "
                "--set lstm.epochs=3"
            )
        overrides.setdefault(family, {})[key] = yaml.safe_load(raw)
    unknown = set(overrides) - {"lstm", "xgboost"}
    if unknown:
        raise ConfigError(
            f"--set names unknown model family {sorted(unknown)[0]!r}; "
            "expected lstm or xgboost"
        )
    unused = sorted(set(overrides) - set(families))
    if unused:
        raise ConfigError(
            f"--set {unused[0]}.* does not apply here: this command trains "
            f"{' and '.join(families)} only"
        )
    for family, values in overrides.items():
        check_model_config(family, values)
    return overrides


def check_model_config(family: str, values: dict[str, Any]) -> None:
    """Build the family's model with ``values`` and check its parameters."""
    config = load_model_config(family, values)  # refuses unknown keys
    if family == "lstm":
        from aiops.detectors import LSTMForecastDetector

        LSTMForecastDetector(**config)._check_params()
    else:
        from aiops.forecasting import XGBForecaster

        XGBForecaster(**config)._check_params()


def check_port_free(port: int) -> None:
    """Refuse a port out of range or already taken on 127.0.0.1."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is out of range; expected 1-65535")
    with socket.socket() as probe:
        # as servers do, so that a port left in TIME_WAIT counts as free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(
                f"--port {port} is already in use on 127.0.0.1; stop what holds "
                "it or pick another port"
            ) from None


def split_names(text: str | None, option: str) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]``; ``None`` -> ``None`` (all)."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"{option} {text!r} names nothing; give names or omit it")
    return names


def check_max_series(value: int | None) -> None:
    if value is not None and value < 1:
        raise ConfigError(f"--max-series {value} is below 1; expected a count >= 1")


def check_output_file(path: Path | None, option: str = "--json") -> None:
    """Refuse an output file whose folder does not exist, or a folder given
    as the file (nothing is created)."""
    if path is not None and (str(path) in ("", ".") or path.is_dir()):
        raise ConfigError(
            f"{option} {str(path) or repr('')}: is a folder; give a file name, "
            f"e.g. {option} results.json"
        )
    if path is not None and not path.parent.is_dir():
        raise ConfigError(
            f"{option} {path}: folder {path.parent} does not exist; create it or "
            "write elsewhere"
        )

"""Read scenarios from YAML and turn validation failures into one-line errors."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aiops.config import read_yaml_mapping, scenarios_dir
from aiops.errors import ConfigError
from aiops.simulator.spec import PROFILES, ScenarioSpec


def load_scenario(name_or_path: str | Path) -> ScenarioSpec:
    """Load a scenario by profile name (``production``, ...) or YAML path."""
    text = str(name_or_path)
    if (
        isinstance(name_or_path, Path)
        or text.endswith((".yaml", ".yml"))
        or ("/" in text)
    ):
        path = Path(name_or_path)
    elif text in PROFILES:
        path = scenarios_dir() / f"{text}.yaml"
    else:
        raise ConfigError(
            f"unknown profile {text!r}; expected one of {', '.join(PROFILES)} "
            "or a path to a scenario YAML file"
        )
    if not path.is_file():
        raise ConfigError(
            f"scenario file {path} not found; expected a YAML file (profiles live "
            f"in {scenarios_dir()})"
        )
    raw = read_yaml_mapping(path, "scenario", "field: value pairs at the top")
    return parse_scenario(raw, source=path.name)


def parse_scenario(raw: dict[str, Any], source: str = "<dict>") -> ScenarioSpec:
    """Validate a scenario mapping; raise a one-line ConfigError on failure."""
    try:
        return ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"scenario {source}: {describe_error(exc)}") from None


def describe_error(exc: ValidationError) -> str:
    """One line for the first validation error: field path, value, what is allowed."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    path = _format_loc(loc)
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""

    if first["type"] in ("value_error", "assertion_error") and not path:
        return message + more
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(loc[:-1]))
        return (
            f"{path} = {first['input']!r}; unknown field, expected one of: "
            f"{allowed}{more}"
        )
    if first["type"] == "missing":
        return f"{path} is missing; it is required{more}"
    return f"{path} = {first['input']!r}; expected {_expectation(first)}{more}"


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _expectation(error: Any) -> str:
    ctx = error.get("ctx", {}) or {}
    kind = error["type"]
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        symbol, key = bounds[kind]
        number = ctx.get(key)
        noun = "an integer" if isinstance(number, int) else "a number"
        return f"{noun} {symbol} {number}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '')}"
    return error["msg"][0].lower() + error["msg"][1:]


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found by walking ``loc`` from ScenarioSpec."""
    annotation: Any = ScenarioSpec
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = annotation.model_fields[str(part)].annotation
        else:
            args = typing.get_args(annotation)
            annotation = args[-1] if args else Any
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``X | None`` down to ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation

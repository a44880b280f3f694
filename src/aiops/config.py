"""Where the workbench keeps its files, and the model configuration defaults.

Everything is resolved from the project home: the folder holding ``models/`` and
``data/`` (found by walking up from the current directory, or set with
``AIOPS_HOME``). Real datasets are read from ``AIOPS_DATASETS``, by default
``../shared/datasets`` beside the project home.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from aiops.errors import ConfigError, DataError


def project_home() -> Path:
    """Return the project home folder: ``AIOPS_HOME``, else the nearest
    ancestor of the current directory that holds both ``models/`` and
    ``data/``, else the checkout the package runs from (an editable install),
    else the current directory."""
    explicit = os.environ.get("AIOPS_HOME")
    if explicit:
        home = Path(explicit).resolve()
        if not home.is_dir():
            raise ConfigError(
                f"AIOPS_HOME={explicit} is not a folder; point it at the project "
                "folder (the one holding models/ and data/) or unset it"
            )
        return home
    here = Path.cwd().resolve()
    checkout = Path(__file__).resolve().parents[2]
    for folder in (here, *here.parents, checkout):
        if (folder / "models").is_dir() and (folder / "data").is_dir():
            return folder
    return here


def data_dir() -> Path:
    """Folder for scenario specs (committed) and generated datasets (ignored)."""
    return project_home() / "data"


def scenarios_dir() -> Path:
    return data_dir() / "scenarios"


def datasets_root() -> Path:
    """Folder of generated (simulated) datasets, one sub-folder per dataset."""
    return data_dir() / "generated"


def real_datasets_dir(must_exist: bool = True, needs: str | None = None) -> Path:
    """Folder of the real public datasets (NAB, SMD, SKAB, ...).

    ``needs`` names a sub-folder (``"nab"``) that must be there too.
    """
    raw = os.environ.get("AIOPS_DATASETS")
    path = Path(raw) if raw else project_home().parent / "shared" / "datasets"
    path = path.resolve()
    source = "AIOPS_DATASETS" if raw else "the default ../shared/datasets"
    if must_exist and not path.is_dir():
        raise DataError(
            f"datasets folder {path} (from {source}) is not a folder; "
            "set AIOPS_DATASETS to the folder holding nab/, smd/, skab/"
        )
    if needs is not None and not (path / needs).is_dir():
        raise DataError(
            f"datasets folder {path} (from {source}) has no {needs}/; "
            "set AIOPS_DATASETS to the folder holding nab/, smd/, skab/"
        )
    return path


def models_config_dir() -> Path:
    return project_home() / "models"


def load_model_config(
    family: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read ``models/<family>.yaml`` and apply ``overrides`` on top.

    Overrides may only name keys that the defaults file declares, so that a
    typo on the command line is refused instead of silently ignored.
    """
    path = models_config_dir() / f"{family}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"model configuration {path} not found; expected one YAML file per "
            "model family under models/"
        )
    with path.open() as handle:
        config = yaml.safe_load(handle) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a mapping of parameter: value")
    for key, value in (overrides or {}).items():
        if key not in config:
            allowed = ", ".join(sorted(config))
            raise ConfigError(f"unknown {family} parameter {key!r}; allowed: {allowed}")
        config[key] = value
    return config


def read_yaml_mapping(path: Path, what: str, holds: str) -> dict[str, Any]:
    """The mapping at the top of a YAML file. A missing file, invalid YAML
    (with its line and column) or another kind of document is refused in one
    line naming ``what`` (e.g. "suite") and the file; ``holds`` says what the
    mapping should hold."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; expected a YAML file")
    if not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "invalid YAML"
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{what} {path.name}: not valid YAML{where}: {problem}; fix the file"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {path.name}: expected a mapping with {holds}")
    return raw


def first_validation_error(error: Any) -> str:
    """``field = value; what is wrong`` for the first error of a pydantic
    ``ValidationError``, the value shortened to one readable line."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "value_error":  # a cross-field check: no one value
        return f"{field}: {message}" if field else message
    value = repr(first.get("input"))
    value = value if len(value) <= 60 else value[:57] + "..."
    return f"{field} = {value}; {message.lower()}"

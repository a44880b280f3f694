"""The notebooks run top to bottom on a freshly simulated dataset."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from aiops.config import datasets_root
from aiops.simulator import load_scenario, simulate, write_dataset
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("name", "printed_text"),
    [
        ("01-explore-telemetry.ipynb", "production-3d-seed7"),
        ("02-system-model.ipynb", "13 fault kinds"),
        ("03-decision-engine.ipynb", "3 of 3 bad releases rolled back"),
    ],
)
def test_notebook_executes(aiops_home: Path, name: str, printed_text: str) -> None:
    telemetry = simulate(load_scenario("production"), days=3, seed=7)
    write_dataset(telemetry, datasets_root() / "production-3d-seed7")

    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(aiops_home)}},
    )
    client.execute()

    outputs = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    ]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 1
    printed = "".join(
        out.get("text", "") for out in outputs if out.output_type == "stream"
    )
    assert printed_text in printed

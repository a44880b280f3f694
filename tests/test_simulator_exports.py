"""OpenMetrics and NAB exports: format, grouping, round trip, determinism."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiops.errors import DataError
from aiops.nab import load_nab_series
from aiops.simulator import Telemetry, load_scenario, simulate
from aiops.simulator.exports import export_nab_csv, export_openmetrics, nab_file_name


@pytest.fixture(scope="module")
def telemetry() -> Telemetry:
    return simulate(load_scenario("production"), days=2.0, seed=7)


def test_openmetrics_text_follows_the_format(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    path = export_openmetrics(telemetry, tmp_path / "export.om")
    lines = path.read_text().splitlines()
    assert lines[-1] == "# EOF" and lines.count("# EOF") == 1
    samples = [line for line in lines if not line.startswith("#")]
    assert len(samples) == len(telemetry.metrics)

    # each family's metadata once, its samples right after, never interleaved
    families = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(families) == len(set(families))
    order = []
    for line in samples:
        name = line.split("{")[0]
        if not order or order[-1] != name:
            order.append(name)
    assert len(order) == len(set(order))
    assert "# TYPE http_requests counter" in lines
    assert "# UNIT process_cpu_seconds seconds" in lines
    assert "# UNIT process_resident_memory_bytes bytes" in lines
    assert "# TYPE http_request_duration_seconds_p99 gauge" in lines
    assert not any(line.startswith("# UNIT http_request_duration") for line in lines)

    pattern = re.compile(
        r'^([a-z_0-9]+)\{service="([^"]+)",region="[^"]+",'
        r'cloud="[^"]+",env="production",version="[0-9.]+"\} (\S+) (\d+)$'
    )
    parsed = [pattern.match(line) for line in samples]
    assert all(parsed)
    first = telemetry.metrics.iloc[0]
    match = parsed[0]
    assert match is not None
    assert float(match.group(3)) == first["value"]
    assert int(match.group(4)) == int(first["timestamp"].timestamp())
    # counters stay cumulative
    counter = [
        float(m.group(3)) for m in parsed if m and m.group(1) == "pg_queries_total"
    ]
    assert np.all(np.diff(counter) >= 0)


def test_openmetrics_refuses_a_folder(telemetry: Telemetry, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"is a folder; expected a file name"):
        export_openmetrics(telemetry, tmp_path)


def test_nab_export_reads_back_with_the_nab_loader(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    root = export_nab_csv(telemetry, tmp_path / "nab")
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    wide = telemetry.wide()
    assert len(windows) == wide.shape[1]
    name = f"production/{nab_file_name('app:http_request_duration_seconds_p99')}"
    frame = load_nab_series(name, root=root)
    # pandas' fast CSV float parser may be one unit in the last place off
    np.testing.assert_allclose(
        frame["value"].to_numpy(),
        wide["app:http_request_duration_seconds_p99"],
        rtol=1e-15,
    )
    assert frame.attrs["regular"] and frame.attrs["step_s"] == 60.0
    expected = telemetry.labels["anomaly"].to_numpy()
    np.testing.assert_array_equal(frame["label"].to_numpy(), expected)
    assert pd.Timestamp(windows[name][0][0]) == telemetry.incidents[
        "start"
    ].min().tz_convert(None)


def test_exports_are_byte_identical_for_one_seed(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        run = simulate(load_scenario("development"), days=1.0, seed=3)
        om = export_openmetrics(run, tmp_path / name / "export.om")
        nab = export_nab_csv(run, tmp_path / name / "nab")
        files = [om, *sorted(p for p in nab.rglob("*") if p.is_file())]
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in files])
    assert digests[0] == digests[1]


def test_simulate_command_writes_the_exports_into_the_dataset(
    aiops_home: Path, tmp_path: Path
) -> None:
    from aiops.simulator import load_dataset
    from tests.test_cli import run_cli

    out = tmp_path / "exp1"
    done = run_cli(
        aiops_home,
        *("simulate", "--profile", "experimental", "--days", "1", "--seed", "7"),
        *("--out", str(out), "--export", "openmetrics", "--export", "nab"),
        *("--export", "wide"),
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    hashed = set(manifest["sha256"])
    assert "metrics.openmetrics.txt" in hashed
    nab_files = sorted(p for p in (out / "nab").rglob("*") if p.is_file())
    assert nab_files and {p.relative_to(out).as_posix() for p in nab_files} <= hashed
    assert (out / "metrics.openmetrics.txt").read_text().endswith("# EOF\n")
    telemetry = load_dataset(out)
    assert len(telemetry.labels) == 1440
    wide = pd.read_parquet(out / "metrics_wide.parquet").set_index("timestamp")
    pd.testing.assert_frame_equal(wide, telemetry.wide(), check_names=False)

    bad = run_cli(
        aiops_home,
        "simulate",
        "--days",
        "1",
        "--out",
        str(tmp_path / "x"),
        "--export",
        "csv",
    )
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines() == [
        "aiops: error: --export 'csv' is not known; expected one of openmetrics, "
        "nab, wide"
    ]
    assert not (tmp_path / "x").exists()

"""The OpenMetrics export backfills into a real Prometheus and reads back exactly.

Needs the ``promtool`` and ``prometheus`` binaries on PATH (Debian: ``apt-get
install prometheus``); skipped otherwise. Installs nothing itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from aiops.simulator import Telemetry, load_scenario, simulate
from aiops.simulator.exports import export_openmetrics
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="promtool and prometheus binaries not on PATH "
    "(install with: apt-get install -y --no-install-recommends prometheus)",
)


@pytest.fixture(scope="module")
def telemetry() -> Telemetry:
    return simulate(load_scenario("production"), days=0.5, seed=7)


@pytest.fixture(scope="module")
def server(
    telemetry: Telemetry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("prometheus")
    export = export_openmetrics(telemetry, root / "export.om")
    tsdb = root / "tsdb"
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(export),
            str(tsdb),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "prometheus did not become ready: "
                    + (root / "prometheus.log").read_text()[-2000:]
                )
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def query_range(url: str, query: str, start: pd.Timestamp, end: pd.Timestamp) -> list:
    params = urllib.parse.urlencode(
        {"query": query, "start": start.timestamp(), "end": end.timestamp(), "step": 60}
    )
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}") as answer:
        body = json.load(answer)
    assert body["status"] == "success"
    return list(body["data"]["result"])


def simulated(telemetry: Telemetry, service: str, metric: str) -> pd.Series:
    rows = telemetry.metrics[
        (telemetry.metrics["service"] == service)
        & (telemetry.metrics["metric"] == metric)
    ]
    return rows.set_index("timestamp")["value"]


@pytest.mark.parametrize(
    ("service", "metric"),
    [
        ("postgres", "pg_replication_lag_seconds"),
        ("geodns", "http_requests_total"),
        ("app", "http_request_duration_seconds_p99"),
    ],
)
def test_backfilled_series_equal_the_simulated_ones(
    server: str, telemetry: Telemetry, service: str, metric: str
) -> None:
    expected = simulated(telemetry, service, metric)
    start, end = expected.index[100], expected.index[339]
    result = query_range(server, f'{metric}{{service="{service}"}}', start, end)
    assert len(result) == 1
    labels = result[0]["metric"]
    assert labels["__name__"] == metric and labels["env"] == "production"
    stamps = [pd.Timestamp(t, unit="s", tz="UTC") for t, _ in result[0]["values"]]
    values = np.array([float(v) for _, v in result[0]["values"]])
    assert stamps == list(expected.index[100:340])
    np.testing.assert_array_equal(values, expected.iloc[100:340].to_numpy())


def test_counter_rate_matches_the_wide_rate(server: str, telemetry: Telemetry) -> None:
    wide = telemetry.wide()["geodns:http_requests_total"]
    at = wide.index[200]
    result = query_range(
        server, 'rate(http_requests_total{service="geodns"}[1m])', at, at
    )
    # the 1m window holds the samples at t - 60 s and t (closed in Prometheus 2)
    observed = float(result[0]["values"][0][1])
    assert observed == pytest.approx(wide.iloc[200], rel=1e-6)

"""Run a real Prefect server and a process worker on 127.0.0.1.

``aiops server`` (and ``make server``) start both, create the work pool and
deploy every flow declared in ``pipelines/prefect.yaml``, then wait until
interrupted. The test suite uses the same functions against a throw-away
Prefect home.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from aiops.config import project_home
from aiops.errors import AiopsError

logger = logging.getLogger(__name__)

WORK_POOL = "aiops-local"
PREFECT_FILE = Path("pipelines") / "prefect.yaml"


def prefect_executable() -> str:
    beside_python = Path(sys.executable).with_name("prefect")
    found = str(beside_python) if beside_python.exists() else shutil.which("prefect")
    if not found:
        raise AiopsError("the prefect command is not installed; run `make install`")
    return found


def api_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/api"


def server_environment(
    port: int, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment for processes that talk to the server on ``port``."""
    env = dict(os.environ if base is None else base)
    env["PREFECT_API_URL"] = api_url(port)
    return env


def start_server(port: int, env: Mapping[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("ab")
    return subprocess.Popen(
        [
            prefect_executable(),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=dict(env),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_api(port: int, timeout_s: float = 120.0) -> None:
    """Block until the server answers its health check."""
    deadline = time.monotonic() + timeout_s
    url = api_url(port) + "/health"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise AiopsError(f"Prefect server on port {port} did not answer in {timeout_s}s")


def deploy_all(env: Mapping[str, str], root: Path | None = None) -> None:
    """Create the process work pool and deploy every flow in prefect.yaml."""
    root = root or project_home()
    env = {**env, "PWD": str(root)}
    prefect = prefect_executable()
    subprocess.run(
        [prefect, "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [
            prefect,
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(PREFECT_FILE),
        ],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise AiopsError(f"prefect deploy failed: {done.stdout[-2000:]}")


def start_worker(
    env: Mapping[str, str], log: Path, root: Path | None = None
) -> subprocess.Popen:
    handle = log.open("ab")
    return subprocess.Popen(
        [
            prefect_executable(),
            "worker",
            "start",
            "--pool",
            WORK_POOL,
            "--type",
            "process",
        ],
        env=dict(env),
        cwd=root or project_home(),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """Stop a background process group: SIGTERM, then SIGKILL if it lingers.

    A worker started in the background ignores SIGINT and may outlive the
    first SIGTERM, hence the escalation.
    """
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout_s / 3)
            return
        except subprocess.TimeoutExpired:
            continue


def serve_forever(port: int) -> None:
    """Start server and worker, deploy the flows, and wait for Ctrl-C."""
    root = project_home()
    logs = root / ".prefect" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = server_environment(port)

    # SIGTERM (a service manager, `timeout`, `kill`) stops both like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    server = start_server(port, env, logs / "server.log")
    worker = None
    try:
        wait_for_api(port)
        deploy_all(env, root)
        worker = start_worker(env, logs / "worker.log", root)
        sys.stdout.write(
            f"Prefect UI and API on http://127.0.0.1:{port}; worker on pool "
            f"{WORK_POOL!r}; logs in {logs}.\nIn another shell:\n"
            f"  export PREFECT_API_URL={api_url(port)}\n"
            "  prefect deployment run 'aiops-pipeline/default' -p days=7 --watch\n"
            "Ctrl-C stops both.\n"
        )
        sys.stdout.flush()
        while server.poll() is None and worker.poll() is None:
            time.sleep(1)
        raise AiopsError(f"the Prefect server or worker stopped; see {logs}")
    except KeyboardInterrupt:
        pass
    finally:
        if worker is not None:
            stop(worker)
        stop(server)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt

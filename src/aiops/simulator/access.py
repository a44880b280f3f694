"""Sampled HTTP access log of the app, with labelled attacks.

Lines are drawn per step in proportion to the app's traffic
(``logging.access_lines_per_minute`` at ``workload.base_rps``). Client
addresses come only from the documentation ranges (RFC 5737 and RFC 3849), so
no real host is ever named. Status codes follow the simulated error ratio and
latencies the simulated quantiles. A ``credential_stuffing`` incident adds
POST /login lines from a handful of addresses, nearly all 401 with the odd
200 as a leaked password works; a ``scraping`` incident adds fast GETs of many
catalogue pages from a few addresses with bot user agents. Attack lines carry
``attack`` = the incident kind and its id. Lines with status >= 400 are kept
``ERROR_BOOST`` times as often as the rest; ``sample_weight`` says how many
requests each line stands for, so weighted counts estimate the traffic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from aiops.simulator.faults import ATTACK_SHARE, Incident, envelope
from aiops.simulator.logs import address_pool
from aiops.simulator.spec import ScenarioSpec
from aiops.simulator.telemetry import ACCESS_COLUMNS

# (method, path template, share of ordinary traffic)
ROUTES = (
    ("GET", "/", 0.12),
    ("GET", "/api/products/{id}", 0.3),
    ("GET", "/catalogue/{category}/{id}", 0.15),
    ("GET", "/api/search?q={category}", 0.1),
    ("POST", "/api/cart", 0.12),
    ("GET", "/api/orders/{id}", 0.08),
    ("POST", "/login", 0.05),
    ("POST", "/api/checkout", 0.04),
    ("GET", "/health", 0.04),
)
CATEGORIES = ("shoes", "shirts", "bags", "hats", "watches", "toys", "books")
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Safari/17.2",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) Mobile/15E148",
    "okhttp/4.12.0",
)
BOTS = (
    "python-requests/2.31.0",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "curl/8.5.0",
)
STUFFER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/91.0"
N_CLIENTS = 5000  # ordinary client population (address codes)
# attackers use a few IPv4 addresses of their own, kept out of the ordinary
# pool: codes 700..761 (203.0.113.193-254) are theirs
ATTACKER_CODES = {"credential_stuffing": 700, "scraping": 730}
ATTACK_ADDRESSES = 4
LOGIN_SUCCESS = 0.03
ERROR_BOOST = 10
CHUNK_STEPS = 7 * 1440


def generate_access_log(
    spec: ScenarioSpec,
    index: pd.DatetimeIndex,
    step_s: int,
    app_rps: np.ndarray,
    error_ratio: np.ndarray,
    p50_s: np.ndarray,
    p99_s: np.ndarray,
    old_versions: np.ndarray,
    new_versions: np.ndarray,
    new_share: np.ndarray,
    incidents: list[Incident],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Sampled access lines of a run, sorted by time (see :data:`ACCESS_COLUMNS`).

    ``app_rps`` is the ordinary traffic (attacks excluded); ``new_share`` the
    share of it on ``new_versions`` during a rollout.
    """
    n_steps = len(index)
    per_request = spec.logging.access_lines_per_minute / (spec.workload.base_rps * 60)
    # draw ERROR_BOOST times the lines, then keep every error and one in
    # ERROR_BOOST of the rest: errors are what people search access logs for
    expected = app_rps * step_s * per_request * ERROR_BOOST
    frames = [_ordinary(index, step_s, expected, error_ratio, p50_s, p99_s, rng)]
    for incident in incidents:
        if incident.kind in ATTACK_SHARE:
            strength = incident.intensity * envelope(incident, n_steps)
            attack_rps = ATTACK_SHARE[incident.kind] * spec.workload.base_rps
            attack = attack_rps * strength * step_s * per_request * ERROR_BOOST
            frames.append(_attack(incident, index, step_s, attack, p50_s, rng))
    log = pd.concat(frames, ignore_index=True)
    log["sample_weight"] = np.where(
        log["status"] >= 400, 1.0 / (per_request * ERROR_BOOST), 1.0 / per_request
    )

    steps = (pd.DatetimeIndex(log["timestamp"]).asi8 - index.asi8[0]) // (
        step_s * 1_000_000_000
    )
    on_new = rng.random(len(log)) < new_share[steps]
    log["version"] = np.where(on_new, new_versions[steps], old_versions[steps])
    log = log.sort_values("timestamp", kind="stable", ignore_index=True)
    return log[list(ACCESS_COLUMNS)]


StatusDraw = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _sample(
    index: pd.DatetimeIndex,
    step_s: int,
    expected: np.ndarray,
    status_of: StatusDraw,
    rng: np.random.Generator,
) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Candidate lines per step and their (status, route), then the sample
    that keeps errors; returns the kept steps, stamps, status and route."""
    counts = rng.poisson(expected)
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    # a week of steps at a time: the candidates are ERROR_BOOST times the
    # lines kept, and a 90-day run would hold them all at once otherwise
    for first in range(0, expected.size, CHUNK_STEPS):
        chunk = slice(first, first + CHUNK_STEPS)
        steps = np.repeat(np.arange(first, first + counts[chunk].size), counts[chunk])
        status, route = status_of(steps)
        keep = (status >= 400) | (rng.random(steps.size) < 1.0 / ERROR_BOOST)
        kept.append((steps[keep], status[keep], route[keep]))
    steps = np.concatenate([part[0] for part in kept])
    status = np.concatenate([part[1] for part in kept])
    route = np.concatenate([part[2] for part in kept])
    offset_ms = rng.integers(0, step_s * 1000, steps.size)
    stamps = index.asi8[steps] + offset_ms * 1_000_000
    return steps, pd.DatetimeIndex(stamps, tz="UTC").as_unit("ns"), status, route


def _paths(templates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill ``{category}`` and ``{id}`` (each at most once, in that order)."""
    n = templates.size
    ids = rng.integers(1, 20000, n).astype(str).astype(object)
    categories = np.array(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), n)]
    paths = np.empty(n, dtype=object)
    for template in np.unique(templates.astype(str)):
        rows = np.flatnonzero(templates == template)
        head, _, rest = template.partition("{category}")
        if _:
            middle, _, tail = rest.partition("{id}")
            filled = head + categories[rows] + middle
            paths[rows] = (filled + ids[rows] + tail) if _ else filled + tail
            continue
        head, _, tail = template.partition("{id}")
        paths[rows] = (head + ids[rows] + tail) if _ else template
    return paths


def _latency(
    steps: np.ndarray,
    p50_s: np.ndarray,
    p99_s: np.ndarray,
    rng: np.random.Generator,
    timeout_s: float = 10.0,
) -> np.ndarray:
    """Log-normal per request, matching the step's median and 99th percentile;
    nothing waits past the timeout."""
    median = np.maximum(p50_s[steps], 1e-4)
    spread = np.log(np.maximum(p99_s[steps] / median, 1.01)) / 2.326
    value = median * np.exp(spread * rng.standard_normal(steps.size))
    return np.round(np.clip(value, 1e-3, timeout_s), 6)


def _ordinary(
    index: pd.DatetimeIndex,
    step_s: int,
    expected: np.ndarray,
    error_ratio: np.ndarray,
    p50_s: np.ndarray,
    p99_s: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    shares = np.array([route[2] for route in ROUTES])
    login = [route[1] for route in ROUTES].index("/login")

    def status_of(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = steps.size
        route = rng.choice(len(ROUTES), n, p=shares / shares.sum())
        status = np.full(n, 200, dtype=np.int64)
        status[rng.random(n) < 0.02] = 404
        status[(route != login) & (rng.random(n) < 0.05)] = 304
        status[(route == login) & (rng.random(n) < 0.08)] = 401
        status[rng.random(n) < error_ratio[steps]] = 503
        return status, route

    steps, stamps, status, route = _sample(index, step_s, expected, status_of, rng)
    n = steps.size
    methods = np.array([r[0] for r in ROUTES], dtype=object)[route]
    templates = np.array([r[1] for r in ROUTES], dtype=object)[route]
    # a few heavy clients and a long tail, as real client populations go
    client = np.floor(N_CLIENTS * rng.random(n) ** 2).astype(np.int64)
    client = np.where(client >= 700, client + 62, client)
    signed_in = rng.random(n) < 0.4
    names = "user" + rng.integers(1000, 9999, n).astype(str).astype(object)
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "client_address": address_pool()[client],
            "user": np.where(signed_in, names, "-"),
            "method": methods,
            "path": _paths(templates, rng),
            "status": status,
            "bytes": rng.integers(200, 60000, n),
            "latency_seconds": _latency(steps, p50_s, p99_s, rng),
            "user_agent": np.array(BROWSERS, dtype=object)[
                rng.integers(0, len(BROWSERS), n)
            ],
            "attack": np.full(n, "", dtype=object),
            "incident_id": np.full(n, "", dtype=object),
        }
    )


def _attack(
    incident: Incident,
    index: pd.DatetimeIndex,
    step_s: int,
    expected: np.ndarray,
    p50_s: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    stuffing = incident.kind == "credential_stuffing"

    def status_of(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = steps.size
        if stuffing:
            # most guesses fail; a leaked password works now and then
            status = np.where(rng.random(n) < LOGIN_SUCCESS, 200, 401)
        else:
            status = np.where(rng.random(n) < 0.04, 404, 200)
        return status.astype(np.int64), np.zeros(n, dtype=np.int64)

    steps, stamps, status, _ = _sample(index, step_s, expected, status_of, rng)
    n = steps.size
    number = int(incident.id.split("-")[-1])
    base = ATTACKER_CODES[incident.kind] + ATTACK_ADDRESSES * (number % 7)
    client = base + rng.integers(0, ATTACK_ADDRESSES, n)
    if stuffing:
        methods = np.full(n, "POST", dtype=object)
        paths = np.full(n, "/login", dtype=object)
        users = "user" + rng.integers(1000, 99999, n).astype(str).astype(object)
        agents = np.full(n, STUFFER_AGENT, dtype=object)
        latency = np.round(0.25 + 0.05 * rng.random(n), 6)  # bcrypt cost
        sizes = rng.integers(80, 400, n)
    else:
        methods = np.full(n, "GET", dtype=object)
        paths = _paths(np.full(n, "/catalogue/{category}/{id}", dtype=object), rng)
        users = np.full(n, "-", dtype=object)
        agents = np.array(BOTS, dtype=object)[rng.integers(0, len(BOTS), n)]
        latency = np.round(p50_s[steps] * rng.uniform(0.6, 1.4, n), 6)
        sizes = rng.integers(20000, 90000, n)
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "client_address": address_pool()[client],
            "user": users,
            "method": methods,
            "path": paths,
            "status": status,
            "bytes": sizes,
            "latency_seconds": latency,
            "user_agent": agents,
            "attack": np.full(n, incident.kind, dtype=object),
            "incident_id": np.full(n, incident.id, dtype=object),
        }
    )

"""What a benchmark returns, and how the results are shown and stored."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Measurement:
    """One measured figure, with the baseline it is compared to when any."""

    benchmark: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    passed: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]


def best_of(function: Callable[[], object], repeat: int = 3) -> float:
    """Fastest wall-clock time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def markdown(measurements: list[Measurement]) -> str:
    lines = [
        "| benchmark | figure | value | unit | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in measurements:
        ratio = "" if m.ratio is None else f"{m.ratio:.2f}"
        baseline = "" if m.baseline is None else f"{m.baseline:.4g}"
        met = "" if m.passed is None else ("yes" if m.passed else "no")
        lines.append(
            f"| {m.benchmark} | {m.name} | {m.value:.4g} | {m.unit} | {baseline} "
            f"| {ratio} | {m.target} | {met} |"
        )
    return "\n".join(lines)


def save(measurements: list[Measurement], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "latest.json"
    payload = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "measurements": [asdict(m) | {"ratio": m.ratio} for m in measurements],
    }
    path.write_text(json.dumps(payload, indent=2))
    return path

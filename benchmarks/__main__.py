"""Run every benchmark module (or those named on the command line)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from benchmarks.harness import Measurement, markdown, save

HERE = Path(__file__).parent


def main(names: list[str]) -> int:
    modules = sorted(path.stem for path in HERE.glob("bench_*.py"))
    chosen = [m for m in modules if not names or m.removeprefix("bench_") in names]
    measurements: list[Measurement] = []
    for name in chosen:
        print(f"running {name} ...", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        measurements.extend(module.run())
    print(markdown(measurements))
    print(f"results written to {save(measurements, HERE / 'results')}")
    return 0 if all(m.passed is not False for m in measurements) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

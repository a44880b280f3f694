"""Performance benchmarks of the workbench, run with ``make bench``.

Each ``bench_*.py`` module defines ``run() -> list[Measurement]``. Targets are
ratios against a baseline measured in the same run, so that the figures do
not depend on how fast the machine happens to be.
"""

"""System-model simulator of the DevOps Simulator architecture.

Load a scenario (:func:`load_scenario`), run it (:func:`simulate`) and get
labelled :class:`Telemetry`; store and reload it with :func:`write_dataset` and
:func:`load_dataset`.
"""

from aiops.simulator.engine import simulate
from aiops.simulator.loading import load_scenario, parse_scenario
from aiops.simulator.spec import PROFILES, ScenarioSpec
from aiops.simulator.storage import load_dataset, write_dataset
from aiops.simulator.telemetry import Telemetry

__all__ = [
    "PROFILES",
    "ScenarioSpec",
    "Telemetry",
    "load_dataset",
    "load_scenario",
    "parse_scenario",
    "simulate",
    "write_dataset",
]

"""Entry points of the Prefect deployments declared in ``prefect.yaml``.

The flows live in the ``aiops`` package so that the command line and the
deployments run the very same code; this file names them for Prefect.
"""

from aiops.tracking import configure_environment

configure_environment()

from aiops.flows import (  # noqa: E402
    aiops_pipeline,
    evaluate_nab_flow,
    evaluate_policy_flow,
    replay_flow,
    simulate_flow,
    train_detector_flow,
    train_forecaster_flow,
)

__all__ = [
    "aiops_pipeline",
    "evaluate_nab_flow",
    "evaluate_policy_flow",
    "replay_flow",
    "simulate_flow",
    "train_detector_flow",
    "train_forecaster_flow",
]

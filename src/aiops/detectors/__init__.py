"""Anomaly detectors: one continuous score per time step, higher = more anomalous.

All share :class:`BaseDetector`'s scikit-learn style API (``fit``,
``score_samples``, ``attribute``, ``predict``, ``get_params``); see
:mod:`aiops.thresholds` for turning scores into alarms and
:mod:`aiops.evaluation` for scoring detections against labels.
"""

from aiops.detectors.base import BaseDetector
from aiops.detectors.baselines import (
    ECODDetector,
    IsolationForestDetector,
    RandomDetector,
    RollingZScoreDetector,
)
from aiops.detectors.lstm import LSTMAutoencoderDetector, LSTMForecastDetector

__all__ = [
    "BaseDetector",
    "ECODDetector",
    "IsolationForestDetector",
    "LSTMAutoencoderDetector",
    "LSTMForecastDetector",
    "RandomDetector",
    "RollingZScoreDetector",
]

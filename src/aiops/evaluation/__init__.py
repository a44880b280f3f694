"""Judge anomaly scores and alarms against labels.

* :mod:`aiops.evaluation.metrics` - point, event, AUC-PR, delay and
  point-adjusted metrics, collected by :func:`evaluate_detection`;
* :mod:`aiops.evaluation.vus` - range-based PR curves and VUS-PR;
* :mod:`aiops.evaluation.nab_scoring` - the NAB scoring rules and threshold
  optimiser.
"""

from aiops.evaluation.metrics import (
    auc_pr,
    detection_delay,
    evaluate_detection,
    event_metrics,
    point_adjusted_f1,
    point_metrics,
)
from aiops.evaluation.nab_scoring import (
    NAB_PROFILES,
    NABCorpusScore,
    NABProfile,
    NABSeries,
    load_nab_profiles,
    nab_probation_rows,
    nab_window_rows,
    normalised_nab_score,
    score_nab_corpus,
)
from aiops.evaluation.vus import range_auc_pr, range_pr_curve, soft_labels, vus_pr

__all__ = [
    "NAB_PROFILES",
    "NABCorpusScore",
    "NABProfile",
    "NABSeries",
    "auc_pr",
    "detection_delay",
    "evaluate_detection",
    "event_metrics",
    "load_nab_profiles",
    "nab_probation_rows",
    "nab_window_rows",
    "normalised_nab_score",
    "point_adjusted_f1",
    "point_metrics",
    "range_auc_pr",
    "range_pr_curve",
    "score_nab_corpus",
    "soft_labels",
    "vus_pr",
]

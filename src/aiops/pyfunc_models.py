"""MLflow pyfunc wrappers that serve the workbench's models.

They are logged as *models from code* (the small scripts in
:mod:`aiops.model_code`), with the fitted estimator stored beside them as a
pickled artifact. Loading a registered model therefore runs this module's code
from the installed package and unpickles only the estimator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

ESTIMATOR_ARTIFACT = "estimator"
MODEL_CODE = Path(__file__).with_name("model_code")


def save_estimator(estimator: Any, folder: Path) -> str:
    """Pickle ``estimator`` into ``folder`` and return the file's path."""
    path = folder / "estimator.pkl"
    path.write_bytes(cloudpickle.dumps(estimator))
    return str(path)


def _load_estimator(context: Any) -> Any:
    return cloudpickle.loads(Path(context.artifacts[ESTIMATOR_ARTIFACT]).read_bytes())


def top_metric_names(
    contributions: np.ndarray, names: list[str], top_k: int
) -> list[str]:
    """Comma-separated names of the ``top_k`` largest contributions per row;
    empty where nothing contributes (a warm-up row scores 0 everywhere)."""
    values = np.nan_to_num(contributions, nan=-np.inf)
    order = np.argsort(-values, axis=1)[:, :top_k]
    labels = np.asarray(names, dtype=object)
    silent = ~(values > 0).any(axis=1)
    return [
        "" if quiet else ",".join(labels[row])
        for row, quiet in zip(order, silent, strict=True)
    ]


class AnomalyDetectorModel(PythonModel):
    """Serves a fitted detector: one row of score, alarm and top metrics per
    input row. Input columns must be the detector's training columns."""

    def __init__(self, detector: Any = None, top_k: int = 3) -> None:
        self.detector = detector
        self.top_k = top_k

    def load_context(self, context: Any) -> None:
        self.detector = _load_estimator(context)

    @property
    def feature_names(self) -> list[str]:
        return list(self.detector.feature_names_in_)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: Any = None
    ) -> pd.DataFrame:
        frame = model_input[self.feature_names].astype("float64")
        scores = self.detector.score_samples(frame)
        alarms = self.detector.threshold_.predict(scores)
        contributions = self.detector.attribute(frame)
        return pd.DataFrame(
            {
                "score": scores.astype("float64"),
                "alarm": alarms.astype("float64"),
                "top_metrics": top_metric_names(
                    contributions, self.feature_names, self.top_k
                ),
            },
            index=model_input.index,
        )


class LoadForecasterModel(PythonModel):
    """Serves a fitted load forecaster: given recent history (``timestamp``,
    ``request_rate``), returns the forecast for the next steps. Time stamps
    without a zone are read as UTC, and forecasts are returned in naive UTC."""

    def __init__(self, forecaster: Any = None) -> None:
        self.forecaster = forecaster

    def load_context(self, context: Any) -> None:
        self.forecaster = _load_estimator(context)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: Any = None
    ) -> pd.DataFrame:
        history = pd.Series(
            model_input["request_rate"].to_numpy(dtype="float64"),
            index=pd.DatetimeIndex(pd.to_datetime(model_input["timestamp"], utc=True)),
            name="request_rate",
        )
        forecast = self.forecaster.predict(history=history)
        # MLflow schemas hold naive date-times: every time here is UTC.
        forecast.index = forecast.index.tz_convert("UTC").tz_localize(None)
        forecast.index.name = "timestamp"
        return forecast.reset_index()

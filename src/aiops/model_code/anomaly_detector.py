"""MLflow entry point of the registered anomaly detector."""

from mlflow.models import set_model

from aiops.pyfunc_models import AnomalyDetectorModel

set_model(AnomalyDetectorModel())

"""MLflow entry point of the registered load forecaster."""

from mlflow.models import set_model

from aiops.pyfunc_models import LoadForecasterModel

set_model(LoadForecasterModel())

"""Model-from-code scripts that MLflow runs when it loads a registered model.

Each script names the pyfunc wrapper of one model family; the fitted estimator
comes from the model's artifacts. They are not meant to be imported.
"""

"""Where a finished run is also recorded: MLflow (``spec.tracking.mlflow``)."""

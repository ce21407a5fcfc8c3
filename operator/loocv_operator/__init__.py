"""LOOCV of scikit-learn models, locally or as Kubernetes Jobs.

The engine (spec, datasets, estimators, folds, trainer, store, metrics, report) is shared by
the ``loocv`` CLI, the trainer pods and the operator, so all three accept and compute the same.
"""

__version__ = "0.2.0"

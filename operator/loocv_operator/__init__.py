"""LOOCV of scikit-learn models, locally or as Kubernetes Jobs.

The engine (spec, datasets, estimators, folds, trainer, store, metrics, report) is shared by
the ``loocv`` CLI and the pods of a cluster run (runsteps.py: plan, train, finish), so both
accept and compute the same; the operator (kube/) uses only its thin part (spec, store, plan,
the stored folds) and never imports what reads data or fits models.
"""

__version__ = "0.2.0"

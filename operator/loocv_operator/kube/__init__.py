"""The Kubernetes operator: LOOCVRun resources in, Jobs out, results back on status.

A run is three kinds of Jobs, all from the trainer image (jobs.py): the planner writes
plan.json, the trainers write segments, the report Job writes report.json. This package
never reads user data or fits a model, and never imports the engine that does (trainer,
datasets, estimators, report): it stands on the spec, the store, the plan and the stored
segments' summary headers (tally.py). service.py is the loop (list → decide → act → write
status); the deciding is pure (admission, reconcile, stopping, sizing, progress) and
unit-tested offline, apart from the code that talks to the API server (kubeapi, acts) and
the kopf wiring (handlers, main).
"""

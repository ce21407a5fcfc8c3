"""The Kubernetes operator: LOOCVRun resources in, trainer Jobs out, results back on status.

Pure builders (CRD, Jobs, conditions, status, reconcile decisions) are kept apart from the
code that talks to the API server (kubeapi, service) and the kopf wiring (handlers, main), so
everything that decides what the cluster should look like is unit-tested offline.
"""

"""The CLI's side of a cluster run: submit a LOOCVRun through the user's kubeconfig, follow
it, and turn its final status into the same summary and exit code as a local run.

This is the user's client, not the operator: it holds the user's own credentials, and reads
the run's report from the store only to print it.
"""

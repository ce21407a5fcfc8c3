"""Errors a user can act on, each naming the field or file that is wrong."""

from __future__ import annotations

# The trainer's and the CLI's exit codes are a contract with the operator's Jobs
# (podFailurePolicy fails a Job at once on EXIT_INVALID) and with CI scripts.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_GATE_FAILED = 3
EXIT_INTERRUPTED = 130


class InvalidInput(Exception):
    """Bad input from the user: a manifest field, a data file or a parameter.

    ``where`` names the field (``spec.model.estimator``) or the file; the message says what
    is wrong with it. Retrying cannot help, so the trainer exits with EXIT_INVALID.
    """

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class StoreError(Exception):
    """The result store could not be read or written (after retries): retryable."""


TERMINATION_LOG = "/dev/termination-log"


def last_word(message: str) -> str:
    """Write ``message`` where the kubelet reads a container's last word (its pod's
    termination message, which the operator reads); absent outside a pod. Returns it."""
    import os

    if os.path.exists(TERMINATION_LOG):
        try:
            with open(TERMINATION_LOG, "w") as handle:
                handle.write(message[-4000:])
        except OSError:
            pass
    return message


INVALID_PREFIX = "invalid input: "  # how a pod's last word names the field it refuses

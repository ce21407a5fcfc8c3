"""Failed trainer pods, said once each in the run's Events: OOM kills and the trainer's error.

Why: a Job's own failure says only "BackoffLimitExceeded"; what the user needs is on the pod —
the kubelet's ``OOMKilled`` (with the memory limit it hit) or the trainer's termination
message. Remediation of OOM kills (splitting the batch, raising memory) is not done here yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .observe import ObservedPod

OOM_REASON = "OOMKilled"
MAX_MESSAGE = 600

Emit = Callable[[str, str, str], None]  # (type, reason, message)


def pod_failure_events(
    pods: Iterable[ObservedPod], seen: set[str], memory_limit: str | None, emit: Emit
) -> None:
    """Emit one Warning Event per failed pod not in ``seen`` (updated); preemptions have
    their own accounting and are skipped."""
    for pod in pods:
        if pod.terminated is None or pod.disrupted or pod.name in seen:
            continue
        seen.add(pod.name)
        reason, code, message = pod.terminated
        where = f"batch {pod.batch}" if pod.batch >= 0 else f"the {pod.step} step"
        if reason == OOM_REASON:
            limit = f" of {memory_limit}" if memory_limit else ""
            emit(
                "Warning",
                OOM_REASON,
                f"{where}: pod {pod.name} exceeded its memory limit{limit} and was "
                "killed (OOMKilled); raise spec.execution.resources.limits.memory or lower "
                "spec.execution.foldsPerJob",
            )
        else:
            said = f": {message[-MAX_MESSAGE:]}" if message else ""
            emit(
                "Warning",
                "TrainerFailed",
                f"{where}: pod {pod.name} exited {code} ({reason}){said}",
            )

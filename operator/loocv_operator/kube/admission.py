"""What the operator checks itself before creating any Job: what needs no user data.

The manifest's schema (pydantic, as the CRD's), the estimator names against the allowlist
(a string check: nothing named is imported), and what a local run accepts but a cluster
cannot do. Everything that needs the data or the model — the dataset's columns, the target
against the task, a trial fit — is the planner Job's (``loocv plan``), whose verdict comes
back through its pod's termination message (``planner_refusal``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..allowlist import refused_names
from ..errors import INVALID_PREFIX
from ..spec import LOOCVRunSpec, ManifestError, parse_spec
from ..store import RunLocation
from .observe import ObservedPod
from .settings import Settings

Problems = list[tuple[str, str]]


def run_location(body: Mapping[str, Any]) -> RunLocation:
    """The run's one identity: namespace, name, uid (its store prefix, its Jobs' owner)."""
    meta = body.get("metadata") or {}
    return RunLocation(
        str(meta.get("namespace") or "default"), str(meta.get("name")), str(meta.get("uid") or "")
    )


def accepted_spec(
    body: Mapping[str, Any], settings: Settings
) -> tuple[LOOCVRunSpec | None, Problems]:
    """The parsed spec, or the problems (field, message) that refuse it."""
    try:
        spec = parse_spec(body.get("spec") or {})
    except ManifestError as exc:
        return None, list(exc.problems)
    problems = cluster_problems(spec, settings) + refused_names(spec.model, settings.allowlist)
    return (None, problems) if problems else (spec, [])


def cluster_problems(spec: LOOCVRunSpec, settings: Settings) -> Problems:
    """What a local run accepts but a cluster cannot do."""
    problems: Problems = []
    uri = spec.storage.uri or settings.storage_uri
    if not uri:
        problems.append(
            (
                "spec.storage.uri",
                "no results store: set it, or give the operator a default (--storage-uri)",
            )
        )
    elif not uri.startswith("s3://") and not settings.allow_local_store:
        problems.append(
            (
                "spec.storage.uri",
                f"{uri!r} is not s3://…: trainer pods and the operator must share the store",
            )
        )
    if spec.strategy.repeats is not None:
        problems.append(
            ("spec.strategy.repeats", "runs locally only for now: loocv run FILE --local")
        )
    if spec.privacy.hash_sample_ids and spec.privacy.salt_secret_ref is None:
        problems.append(
            (
                "spec.privacy.saltSecretRef",
                "required when hashSampleIds is true: the salt reaches the pods only from a Secret",
            )
        )
    return problems


def planner_refusal(pods: Sequence[ObservedPod], job_message: str) -> Problems:
    """The planner's invalid-input verdict, ``invalid input: <field>: <what>``, as the
    Invalid condition's problems: from its pod's termination message (its last word, or its
    log's tail), else the Job's own failure message."""
    for pod in pods:
        said = pod.terminated[2] if pod.terminated else ""
        lines = [line for line in said.splitlines() if line.startswith(INVALID_PREFIX)]
        if lines:
            where, _, what = lines[-1].removeprefix(INVALID_PREFIX).partition(": ")
            return [(where, what)] if what else [("spec", where)]
    return [("spec", f"the planner refused the run: {job_message}")]

"""Which estimator names a run may use: a string check, importing nothing.

A manifest is user input: importing whatever module it names would let anyone who can create
a LOOCVRun run code in the trainer (or the operator). So a name is checked against the
allowlist *before* anything is imported. The allowlist is sklearn by default and extended
only by whoever runs the process (LOOCV_ESTIMATOR_ALLOWLIST, an operator setting or a CLI
flag), never by a manifest. This module imports no scikit-learn: the operator refuses a
non-allowlisted name with it before creating any Job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .spec import ModelSpec

DEFAULT_ALLOWLIST: tuple[str, ...] = ("sklearn",)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
# Module names that hold a library's tests and tooling, not its estimators: importing them runs
# test code (and their classes are fixtures), so they never pass, whatever the allowlist.
_NOT_LIBRARY = frozenset({"tests", "test", "testing", "conftest", "externals", "benchmarks"})


def allowlist_from_env(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The default allowlist plus the admin's additions (comma-separated module prefixes)."""
    configured = os.environ.get("LOOCV_ESTIMATOR_ALLOWLIST", "")
    prefixes = [*DEFAULT_ALLOWLIST, *configured.split(","), *extra]
    return tuple(dict.fromkeys(p.strip().rstrip(".") for p in prefixes if p.strip()))


def is_allowed(name: str, allowlist: Sequence[str]) -> bool:
    """``sklearn`` admits ``sklearn.x.Y`` but not ``sklearnx.Y``; private parts, tests and
    vendored code never pass."""
    if not _NAME.match(name):
        return False
    modules = name.split(".")[:-1]
    if any(part in _NOT_LIBRARY or part.startswith("test_") for part in modules):
        return False
    return any(name == p or name.startswith(p + ".") for p in allowlist)


def refusal(name: str, allowlist: Sequence[str]) -> str:
    return (
        f"{name!r} is not allowed: estimators must be public classes under "
        f"{', '.join(allowlist)} (the cluster admin can extend the allowlist)"
    )


def _named(value: Any, field: str) -> Iterable[tuple[str, str]]:
    """(field, estimator name) of a nested {estimator, params} parameter, recursively."""
    if (
        isinstance(value, Mapping)
        and "estimator" in value
        and set(value) <= {"estimator", "params"}
    ):
        yield f"{field}.estimator", str(value["estimator"])
        for key, inner in (value.get("params") or {}).items():
            yield from _named(inner, f"{field}.params.{key}")


def refused_names(model: ModelSpec, allowlist: Sequence[str]) -> list[tuple[str, str]]:
    """(field, message) for every estimator name of the model that the allowlist refuses:
    the model, each preprocessing step and every nested estimator parameter."""
    names: list[tuple[str, str]] = []
    steps = [(model, "spec.model")] + [
        (s, f"spec.model.preprocessing[{i}]") for i, s in enumerate(model.preprocessing)
    ]
    for step, field in steps:
        names.append((f"{field}.estimator", step.estimator))
        for key, value in step.params.items():
            names += _named(value, f"{field}.params.{key}")
    return [
        (where, refusal(name, allowlist))
        for where, name in names
        if not is_allowed(name, allowlist)
    ]

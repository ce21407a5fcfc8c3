"""The trainer image's Dockerfile agrees with the Jobs the operator builds."""

from __future__ import annotations

import json
import re
from pathlib import Path

from loocv_operator.kube.jobs import TRAINER_COMMAND, TRAINER_UID

DOCKERFILE = Path(__file__).resolve().parents[3] / "trainer_image" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_entry_point_is_the_command_the_jobs_run() -> None:
    entrypoints = [value for kind, value in instructions() if kind == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoints] == [list(TRAINER_COMMAND)]


def test_it_runs_as_the_numeric_non_root_user_the_pods_require() -> None:
    users = [value for kind, value in instructions() if kind == "USER"]
    assert users[-1] == f"{TRAINER_UID}:{TRAINER_UID}"


def test_a_pinned_slim_base_and_writable_paths_under_tmp() -> None:
    bases = [value.split()[0] for kind, value in instructions() if kind == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.\d+-slim-\w+", b) for b in bases)
    env = " ".join(value for kind, value in instructions() if kind == "ENV")
    for variable in ("HOME=/tmp", "TMPDIR=/tmp", "MPLCONFIGDIR=/tmp/"):
        assert variable in env

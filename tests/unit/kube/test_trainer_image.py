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


def test_a_base_from_a_build_arg_with_a_public_slim_default() -> None:
    bases = {value.split()[0] for kind, value in instructions() if kind == "FROM"}
    assert bases == {"${BASE_IMAGE}"}
    args = [value for kind, value in instructions() if kind == "ARG"]
    assert any(re.fullmatch(r"BASE_IMAGE=python:3\.\d+\.\d+-slim-\w+", a) for a in args)
    env = " ".join(value for kind, value in instructions() if kind == "ENV")
    for variable in ("HOME=/tmp", "TMPDIR=/tmp", "MPLCONFIGDIR=/tmp/"):
        assert variable in env


def test_every_pip_install_is_pinned_by_the_constraints() -> None:
    runs = [value for kind, value in instructions() if kind == "RUN" and "pip install" in value]
    assert runs
    for run in runs:
        for command in run.split("&&"):
            if "pip install" in command:
                assert "-c /src/constraints.txt" in command, command

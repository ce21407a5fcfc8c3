"""The two images `make images` builds, checked from the inside (`make images-test`).

Why: the chart and the Jobs name these images, so what they contain is what a cluster runs.
Each test runs a container with podman (runc) as uid 10001, read-only root filesystem, no
capabilities; the trainer batch reaches only the S3 store on the loopback of the private
network namespace `run-isolated.sh` puts this test in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster.s3server import S3Server
from sklearn.model_selection import LeaveOneOut, cross_val_predict

from loocv_operator import __version__
from loocv_operator.datasets import load_dataset
from loocv_operator.estimators import DEFAULT_ALLOWLIST, build_estimator
from loocv_operator.ledger import load_results
from loocv_operator.planning import make_plan
from loocv_operator.spec import parse_spec
from loocv_operator.store import RunLocation, open_store

pytestmark = pytest.mark.images

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGES = {
    "trainer": f"ghcr.io/loocv-dev/loocv-trainer:{VERSION}",
    "operator": f"ghcr.io/loocv-dev/loocv-operator:{VERSION}",
}
# Installed by venv/pip themselves, or the project: not constrained by constraints.txt.
UNPINNED = {"pip", "setuptools", "loocv-operator"}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "images", "AWS_SECRET_ACCESS_KEY": "images-secret"}
HARDENED = [
    "--rm",
    "--user=10001:10001",
    "--read-only",
    "--tmpfs=/tmp:rw,size=64m",
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("#", 1)[0].strip().split("==")
            pins[_normal(name)] = version.strip()
    return pins


def podman(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


@pytest.fixture(scope="module", autouse=True)
def _images_built() -> None:
    if shutil.which("podman") is None or "CONTAINERS_STORAGE_CONF" not in os.environ:
        pytest.skip("run through `make images-test` (podman, tests/e2e/images/env.sh)")
    for image in IMAGES.values():
        if podman("image", "exists", image, check=False).returncode != 0:
            pytest.fail(f"{image} is not built: run `make images`")


@pytest.mark.parametrize("which", sorted(IMAGES))
def test_python_packages_are_exactly_the_constraints(which: str) -> None:
    script = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = podman(
        "run", *HARDENED, "--network=none", "--entrypoint=python3", IMAGES[which], "-c", script
    )
    installed = {_normal(k): v for k, v in json.loads(out.stdout).items()}
    pins = constraints()
    assert installed.get("loocv-operator") == VERSION
    assert {"numpy", "kopf", "boto3"} <= installed.keys()
    data_libraries = {"scikit-learn", "scipy", "pyarrow"}
    if which == "trainer":
        assert data_libraries <= installed.keys()
    else:  # the operator never imports them: its planner and report Jobs run the trainer
        assert not data_libraries & installed.keys(), data_libraries & installed.keys()
    wrong = {
        name: (version, pins.get(name))
        for name, version in installed.items()
        if name not in UNPINNED and pins.get(name) != version
    }
    assert wrong == {}, f"{which}: installed (version, constraints.txt) differ: {wrong}"


@pytest.mark.parametrize("which", sorted(IMAGES))
def test_loocv_version_is_the_checkouts(which: str) -> None:
    out = podman(
        "run", *HARDENED, "--network=none", "--entrypoint=loocv", IMAGES[which], "--version"
    )
    assert out.stdout.strip() == f"loocv {VERSION}" == f"loocv {__version__}"


@pytest.mark.parametrize("which", sorted(IMAGES))
def test_non_root_and_read_only(which: str) -> None:
    script = (
        "id -u; id -g; touch /opt/x 2>/dev/null && echo writable || echo read-only; "
        "touch /tmp/x && echo tmp-ok"
    )
    out = podman("run", *HARDENED, "--network=none", "--entrypoint=sh", IMAGES[which], "-c", script)
    assert out.stdout.split() == ["10001", "10001", "read-only", "tmp-ok"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The real S3 server (versitygw, built once into the e2e cache) on this loopback."""
    server = S3Server(
        tmp_path_factory.mktemp("s3"),
        access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).start()
    yield server
    server.stop()


def test_the_trainer_runs_a_real_batch_against_the_store(
    store: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    store.create_bucket("images")
    spec = parse_spec(
        {
            "dataset": {"builtin": "iris"},
            "model": {
                "estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"max_iter": 500},
            },
            "strategy": {"subset": {"stratifiedSample": 12, "seed": 3}},
            "execution": {"foldsPerJob": 12, "fastPath": "off"},
            "storage": {"uri": "s3://images/runs/", "endpoint": store.endpoint},
        }
    )
    estimator = build_estimator(spec.model, DEFAULT_ALLOWLIST, spec.execution.seed)
    dataset = load_dataset(spec.dataset, spec.storage)
    location = RunLocation("images", "iris", "uid-1")
    plan = make_plan(location, spec, dataset, estimator, executor="cluster")
    s3 = open_store("s3://images/runs/", store.endpoint, None)
    s3.put(location.plan, plan.to_json())
    env = [f"--env={k}={v}" for k, v in CREDENTIALS.items()]
    run = podman(
        "run",
        *HARDENED,
        "--network=host",  # this test's private namespace: loopback, where only the store is
        *env,
        f"--env=LOOCV_S3_ENDPOINT={store.endpoint}",
        IMAGES["trainer"],
        "--plan",
        f"s3://images/runs/{location.plan}",
        "--batch",
        "0",
        check=False,
    )
    assert run.returncode == 0, run.stderr
    results = load_results(s3, location)
    assert len(results) == plan.n_folds == 12
    assert all(r.ok and r.trainer_version == VERSION for r in results)
    stored = {sample.row: sample.y_pred for r in results for sample in r.samples}
    # The oracle: sklearn's brute-force LOO (each held-out row against all the others),
    # computed in this interpreter with the same scikit-learn version.
    expected = cross_val_predict(estimator, dataset.X, dataset.y, cv=LeaveOneOut())
    assert stored == {row: int(expected[row]) for row in stored}

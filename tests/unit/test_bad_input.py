"""Bad input, as a new user writes it: each case gets its exit code and a message that names
the field or the file, within seconds, without a traceback, and loses nothing computed.

Every case runs ``loocv run --local`` in-process (an exception escaping ``main`` fails the
test, so "no traceback" is asserted by the call returning at all); a few run as a real
process to check what the terminal shows.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from loocv_operator.cli import main
from tests.segment_tools import stored_fold_count

BASE: dict[str, Any] = {
    "apiVersion": "loocv.dev/v1alpha1",
    "kind": "LOOCVRun",
    "metadata": {"name": "bad"},
    "spec": {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    },
}
LOGREG = "sklearn.linear_model.LogisticRegression"


def spec(**changes: Any) -> dict[str, Any]:
    """BASE with whole spec sections replaced (not merged: a dataset is one thing)."""
    document = copy.deepcopy(BASE)
    document["spec"].update(changes)
    return document


def write_csv(path: Path, header: str, rows: list[str]) -> str:
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


# (case id, the spec's sections, exit code, words the message must hold)
SPEC_CASES: list[tuple[str, dict[str, Any], int, list[str]]] = [
    (
        "penalty-l1-with-lbfgs",
        {"model": {"estimator": LOGREG, "params": {"penalty": "l1", "solver": "lbfgs"}}},
        2,
        ["spec.model.params.penalty", "lbfgs", "trial fit"],
    ),
    (
        "classifier-as-preprocessing",
        {
            "model": {
                "estimator": LOGREG,
                "preprocessing": [{"estimator": "sklearn.tree.DecisionTreeClassifier"}],
            }
        },
        2,
        ["spec.model.preprocessing[0].estimator", "is a classifier"],
    ),
    (
        "regressor-as-preprocessing",
        {
            "model": {
                "estimator": LOGREG,
                "preprocessing": [{"estimator": "sklearn.linear_model.LinearRegression"}],
            }
        },
        2,
        ["spec.model.preprocessing[0].estimator", "not a transformer"],
    ),
    (
        "continuous-target-to-classifier",
        {"dataset": {"builtin": "diabetes"}, "model": {"estimator": LOGREG}},
        2,
        ["spec.dataset", "looks continuous", "use a regressor"],
    ),
    (
        "log-loss-gate-without-predict-proba",
        {"model": {"estimator": "sklearn.svm.LinearSVC"}, "gate": {"logLoss": {"max": 0.5}}},
        2,
        ["spec.gate.logLoss", "predict_proba"],
    ),
    (
        "brier-gate-on-svc-without-probability",
        {"model": {"estimator": "sklearn.svm.SVC"}, "gate": {"brier": {"max": 0.2}}},
        2,
        ["spec.gate.brier", "probability: true"],
    ),
    (
        "ece-gate-on-ridge-classifier",
        {
            "model": {"estimator": "sklearn.linear_model.RidgeClassifier"},
            "gate": {"ece": {"max": 0.1}},
        },
        2,
        ["spec.gate.ece"],
    ),
    (
        "pca-more-components-than-features",
        {
            "model": {
                "estimator": LOGREG,
                "preprocessing": [
                    {"estimator": "sklearn.decomposition.PCA", "params": {"n_components": 10}}
                ],
            }
        },
        2,
        ["spec.model.preprocessing[0].params.n_components"],
    ),
    (
        "knn-more-neighbours-than-samples",
        {
            "model": {
                "estimator": "sklearn.neighbors.KNeighborsClassifier",
                "params": {"n_neighbors": 500},
            },
            "execution": {"fastPath": "disabled"},
        },
        2,
        ["spec.model.params.n_neighbors", "n_neighbors"],
    ),
    ("empty-gate", {"gate": {}}, 2, ["spec.gate", "empty gate passes everything"]),
    (
        "threshold-not-a-mapping",
        {"gate": {"accuracy": 0.9}},
        2,
        ["spec.gate.accuracy: Input should be a valid dictionary"],
    ),
    ("accuracy-above-1", {"gate": {"accuracy": {"min": 1.5}}}, 2, ["spec.gate.accuracy.min"]),
    ("recall-below-0", {"gate": {"classRecall": {"min": -0.1}}}, 2, ["spec.gate.classRecall.min"]),
    ("failure-rate-above-1", {"gate": {"failureRate": {"max": 2}}}, 2, ["spec.gate.failureRate"]),
    ("negative-log-loss", {"gate": {"logLoss": {"max": -1}}}, 2, ["spec.gate.logLoss.max"]),
    ("ece-above-1", {"gate": {"ece": {"max": 1.5}}}, 2, ["spec.gate.ece.max"]),
    ("negative-failed-folds", {"gate": {"failedFolds": {"max": -1}}}, 2, ["spec.gate.failedFolds"]),
    (
        "r2-above-1",
        {
            "dataset": {"builtin": "diabetes"},
            "model": {"estimator": "sklearn.linear_model.Ridge"},
            "gate": {"r2": {"min": 2}},
        },
        2,
        ["spec.gate.r2.min"],
    ),
    ("negative-mae", {"gate": {"mae": {"max": -0.5}}}, 2, ["spec.gate.mae.max"]),
    (
        "folds-per-job-huge",
        {"execution": {"foldsPerJob": 10**7}},
        2,
        ["spec.execution.foldsPerJob"],
    ),
    (
        "stratified-sample-larger-than-data",
        {"strategy": {"subset": {"stratifiedSample": 1000}}},
        2,
        ["spec.strategy.subset.stratifiedSample", "150 samples"],
    ),
    ("seed-past-numpy", {"execution": {"seed": 2**40}}, 2, ["spec.execution.seed"]),
    ("negative-seed", {"execution": {"seed": -1}}, 2, ["spec.execution.seed"]),
    (
        "fast-path-true-is-ambiguous",
        {"execution": {"fastPath": True}},
        2,
        ["spec.execution.fastPath", "ambiguous"],
    ),
    (
        "sklearn-test-module",
        {"model": {"estimator": "sklearn.tests.test_base.T"}},
        2,
        ["spec.model.estimator", "not allowed"],
    ),
    (
        "sklearn-externals",
        {"model": {"estimator": "sklearn.externals.array_api_compat.Foo"}},
        2,
        ["spec.model.estimator", "not allowed"],
    ),
    (
        "nested-estimator-outside-allowlist",
        {
            "model": {
                "estimator": "sklearn.ensemble.BaggingClassifier",
                "params": {"estimator": {"estimator": "os.system"}},
            }
        },
        2,
        ["spec.model.params.estimator.estimator", "not allowed"],
    ),
    (
        "a-clusterer-as-model",
        {"model": {"estimator": "sklearn.cluster.KMeans"}},
        2,
        ["spec.model.estimator", "neither a classifier nor a regressor"],
    ),
    ("kfold-k-above-n", {"strategy": {"type": "KFold", "k": 500}}, 2, ["spec.strategy.k"]),
    (
        "group-strategy-without-groups",
        {"strategy": {"type": "LeaveOneGroupOut"}},
        2,
        ["spec.dataset.groupColumn"],
    ),
    (
        "unsupported-store-scheme",
        {"storage": {"uri": "gs://bucket/results/"}},
        2,
        ["spec.storage.uri", "gs://"],
    ),
    (
        "hash-ids-without-salt",
        {"privacy": {"hashSampleIds": True}},
        2,
        ["spec.privacy.hashSampleIds", "LOOCV_ID_SALT"],
    ),
    (
        "warm-start-on-a-tree",
        {"model": {"estimator": "sklearn.tree.DecisionTreeClassifier", "warmStart": True}},
        2,
        ["spec.model.warmStart"],
    ),
]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    start = time.monotonic()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err, time.monotonic() - start


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [pytest.param(c, code, w, id=name) for name, c, code, w in SPEC_CASES],
)
def test_bad_manifest_is_refused_before_any_fold(
    changes: dict[str, Any],
    code: int,
    words: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(spec(**changes)))
    out = tmp_path / "out"
    where = [] if "storage" in changes else ["--out", str(out)]  # --out would override it
    got, _, err, _ = run_cli(["run", str(path), "--local", *where], capsys)
    assert got == code, err
    for word in words:
        assert word in err
    assert not list(out.rglob("segments/*")), "no fold may run for a refused manifest"
    if "privacy" not in changes:  # on a cluster the salt comes from a Secret, not from here
        # `loocv validate` refuses it too, with the same field
        assert main(["validate", str(path)]) == 2
        assert words[0] in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("", ["expected exactly one LOOCVRun document, found no"], id="empty"),
        pytest.param("- a\n- b\n", ["found no"], id="a-list"),
        pytest.param(
            "apiVersion: apps/v1\nkind: Deployment\n", ["it holds kind Deployment"], id="kind"
        ),
        pytest.param(
            yaml.safe_dump({**BASE, "metadata": {"name": "Bad_Name"}}),
            ["metadata.name: must be a lowercase DNS name"],
            id="bad-name",
        ),
        pytest.param("kind: LOOCVRun\n\tmetadata: {}\n", ["not valid YAML at line 2"], id="tab"),
        pytest.param(
            yaml.safe_dump(BASE) + "spec:\n  dataset: {builtin: wine}\n",
            ["the key 'spec' appears twice"],
            id="duplicate-key",
        ),
        pytest.param(
            yaml.safe_dump(BASE) + "---\n" + yaml.safe_dump(BASE), ["found 2"], id="two-runs"
        ),
        pytest.param("[" * 5000 + "]" * 5000, ["nested too deeply"], id="deep-nesting"),
    ],
)
def test_unreadable_manifest_names_the_file(
    text: str, words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    code, _, err, _ = run_cli(["run", str(path), "--local", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert str(path) in err
    for word in words:
        assert word in err


def alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    body = yaml.safe_dump(BASE).replace("spec:\n", "spec:\n  boom: *a8\n")
    return "\n".join(lines) + "\n" + body


def test_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "loocv_operator.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - start
    assert proc.returncode == 2 and "alias" in proc.stderr and "Traceback" not in proc.stderr
    assert took < 10, f"{took:.1f} s"  # generous for a loaded CI machine; ~0.3 s measured


def test_fast_path_off_as_yaml_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README documents ``fastPath: disabled``; an unquoted ``off`` (YAML's false) means it."""
    text = yaml.safe_dump(BASE).replace("spec:\n", "spec:\n  execution: {fastPath: off}\n")
    path = tmp_path / "run.yaml"
    path.write_text(text)
    code, out, _, _ = run_cli(["run", str(path), "--local", "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    assert "brute-force (150)" in out


def test_every_sample_its_own_class_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = write_csv(tmp_path / "own.csv", "id,x,y", [f"{i},{i * 0.5},{i}" for i in range(30)])
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(spec(dataset={"uri": uri, "target": "y", "idColumn": "id"})))
    code, _, err, _ = run_cli(["run", str(path), "--local", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "spec.dataset.target" in err and "30 classes for 30 samples" in err


def test_the_target_among_the_features_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A leak, not an error: accuracy would be 1.0. Refused, naming the list entry."""
    uri = write_csv(tmp_path / "d.csv", "x,y", [f"{i * 0.5},{i % 2}" for i in range(20)])
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump(spec(dataset={"uri": uri, "target": "y", "features": ["x", "y"]}))
    )
    code, _, err, _ = run_cli(["run", str(path), "--local", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "spec.dataset.features[1]: 'y' is the target" in err


def test_absent_group_column_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = write_csv(tmp_path / "g.csv", "x,y,g", [f"{i * 0.5},{i % 2},{i % 3}" for i in range(30)])
    path = tmp_path / "run.yaml"
    dataset = {"uri": uri, "target": "y", "groupColumn": "site"}
    path.write_text(yaml.safe_dump(spec(dataset=dataset, strategy={"type": "LeaveOneGroupOut"})))
    code, _, err, _ = run_cli(["run", str(path), "--local", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "spec.dataset.groupColumn: column 'site' is not in" in err


def unique_category_npz(path: Path, n: int) -> str:
    """Column 0 takes a new value on every row: a one-hot encoder fitted on all rows works,
    but every fold's held-out value is unseen by its training fold, so every fold fails."""
    X = np.column_stack([np.arange(float(n)), np.tile([1.0, 2.0], n // 2)])
    np.savez(path, X=X, y=np.array([0, 1] * (n // 2)))
    return str(path)


def onehot_logreg(uri: str, **extra: Any) -> dict[str, Any]:
    return spec(
        dataset={"uri": uri},
        model={
            "estimator": LOGREG,
            "preprocessing": [{"estimator": "sklearn.preprocessing.OneHotEncoder"}],
        },
        **extra,
    )


def test_every_fold_failing_is_an_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    uri = unique_category_npz(tmp_path / "u.npz", 8)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(onehot_logreg(uri)))
    code, out, err, _ = run_cli(
        ["run", str(path), "--local", "--out", str(tmp_path / "o"), "--workers", "1"], capsys
    )
    assert code == 2
    assert "no fold succeeded: all 8 folds failed with the same error" in err
    assert "unknown categories" in err
    assert "WARNING" in out and "no fold succeeded" in out
    (report,) = (tmp_path / "o").rglob("report.json")
    content = json.loads(report.read_text())
    assert content["outcome"]["state"] == "no-fold-succeeded"
    assert content["gate"]["passed"] is None  # no gate: nothing claims it passed


def test_first_folds_failing_alike_stop_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = unique_category_npz(tmp_path / "u.npz", 60)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(onehot_logreg(uri)))
    out = tmp_path / "o"
    code, _, err, _ = run_cli(
        ["run", str(path), "--local", "--out", str(out), "--workers", "1"], capsys
    )
    assert code == 2
    assert "spec.model: the first 10 folds all failed with the same error" in err
    assert "the folds computed so far are kept in" in err
    assert 10 <= stored_fold_count(out) < 60  # stopped early, and what ran is kept


def test_unwritable_out_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(BASE))
    code, _, err, _ = run_cli(
        ["run", str(path), "--local", "--out", str(blocker / "results")], capsys
    )
    assert code == 1
    assert str(blocker / "results") in err and "not a directory" in err
    assert "--out" in err


def test_refused_s3_endpoint_is_reported_within_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    from tests.conftest import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(spec(storage={"uri": "s3://b/r/", "endpoint": endpoint})))
    code, _, err, took = run_cli(["run", str(path), "--local"], capsys)
    assert code == 1
    assert f"cannot reach the store s3://b/r/ at {endpoint}" in err
    assert "spec.storage.endpoint" in err
    assert took < 30, f"{took:.1f} s"  # ~6 s measured: the check gives up after 5 s


def test_missing_s3_credentials_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials are looked for before the request is sent: no server needed."""
    from tests.conftest import free_port

    s3_endpoint = f"http://127.0.0.1:{free_port()}"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches earlier tests' credentials
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(spec(storage={"uri": "s3://b/r/", "endpoint": s3_endpoint})))
    code, _, err, _ = run_cli(["run", str(path), "--local"], capsys)
    assert code == 1
    assert "no S3 credentials" in err and "AWS_ACCESS_KEY_ID" in err


def test_unknown_bucket_is_the_manifests_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_env: str
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump(spec(storage={"uri": "s3://no-such-bucket/r/", "endpoint": s3_env}))
    )
    code, _, err, _ = run_cli(["run", str(path), "--local"], capsys)
    assert code == 2
    assert "s3://no-such-bucket/r/" in err and "no such bucket 'no-such-bucket'" in err


@pytest.mark.parametrize(
    "argv_tail",
    [
        pytest.param(["--workers", "0"], id="zero-workers"),
    ],
)
def test_bad_flags_exit_2(
    argv_tail: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(BASE))
    code, _, err, _ = run_cli(["run", str(path), "--local", *argv_tail], capsys)
    assert code == 2 and "--workers" in err


def test_the_terminal_shows_no_traceback(tmp_path: Path) -> None:
    """As a process: the messages above are what a user sees, and nothing else."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            spec(model={"estimator": LOGREG, "params": {"penalty": "l1", "solver": "lbfgs"}})
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loocv_operator.cli",
            "run",
            str(bad),
            "--local",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("invalid input: spec.model.params.penalty")
    )

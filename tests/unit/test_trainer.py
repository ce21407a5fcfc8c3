from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from loocv_operator.errors import InvalidInput
from loocv_operator.estimators import DEFAULT_ALLOWLIST
from loocv_operator.ledger import load_results
from loocv_operator.local import prepare
from loocv_operator.results import FoldResult
from loocv_operator.spec import parse_run
from loocv_operator.store import LocalStore, open_store
from loocv_operator.trainer import run_batch
from tests.segment_tools import drop_fold, truncate_segment


def poisoned_npz(path: Path) -> Path:
    """Column 0 is a category; row 3's value occurs nowhere else, so a one-hot encoder fitted
    without it raises when fold 3 predicts it: exactly one fold fails."""
    category = np.tile([0.0, 1.0, 2.0], 8)
    category[3] = 99.0
    X = np.column_stack([category, np.tile([5.0, 6.0, 7.0, 8.0], 6)])
    np.savez(path, X=X, y=np.array([0, 1] * 12))
    return path


def doc(dataset: dict, **spec: object) -> dict:
    return {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "tr"},
        "spec": {"dataset": dataset, **spec},
    }


def onehot_model() -> dict:
    return {
        "estimator": "sklearn.linear_model.LogisticRegression",
        "preprocessing": [
            {
                "estimator": "sklearn.preprocessing.OneHotEncoder",
                "params": {"handle_unknown": "error"},
            }
        ],
    }


def test_a_bad_sample_fails_its_fold_not_the_batch(tmp_path: Path) -> None:
    data = poisoned_npz(tmp_path / "p.npz")
    store = LocalStore(tmp_path / "s")
    run = parse_run(doc({"uri": str(data)}, model=onehot_model(), execution={"foldsPerJob": 100}))
    plan, runner = prepare(run, store, DEFAULT_ALLOWLIST)
    outcome = run_batch(runner, 0, store)
    assert (outcome.computed, outcome.failed) == (24, 1)
    results = load_results(store, plan.location)
    failed = [r for r in results if not r.ok]
    assert [r.index for r in failed] == [3]
    assert failed[0].error is not None and failed[0].error.type == "ValueError"
    assert "unknown categor" in failed[0].error.message.lower()
    assert failed[0].samples[0].y_pred is None and failed[0].samples[0].y_true == 1


def test_rerun_computes_only_missing_folds(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    run = parse_run(
        doc(
            {"builtin": "iris"},
            model={"estimator": "sklearn.naive_bayes.GaussianNB"},
            execution={"foldsPerJob": 150},
        )
    )
    plan, runner = prepare(run, store, DEFAULT_ALLOWLIST)
    assert run_batch(runner, 0, store).computed == 150
    for index in (5, 77):
        drop_fold(store.root, plan.location, index)
    again = run_batch(runner, 0, store)
    assert (again.computed, again.skipped) == (2, 148)
    assert [r.index for r in load_results(store, plan.location)] == list(range(150))
    lost = truncate_segment(store.root, plan.location, 9)  # a torn object: not trusted
    third = run_batch(runner, 0, store, attempt=1)
    assert (third.computed, third.skipped) == (len(lost), 150 - len(lost))
    assert [r.index for r in load_results(store, plan.location)] == list(range(150))


def test_trainer_refuses_data_that_changed(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(20.0).reshape(10, 2), y=np.array([0, 1] * 5))
    run = parse_run(doc({"uri": str(path)}, model={"estimator": "sklearn.naive_bayes.GaussianNB"}))
    plan, _ = prepare(run, LocalStore(tmp_path / "s"), DEFAULT_ALLOWLIST)
    np.savez(path, X=np.arange(20.0).reshape(10, 2) + 1, y=np.array([0, 1] * 5))
    from loocv_operator.trainer import runner_for

    with pytest.raises(InvalidInput, match="differ from the data the run was planned on"):
        runner_for(plan, DEFAULT_ALLOWLIST)


def test_hashed_ids_never_reach_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "patients.csv"
    csv.write_text(
        "patient,a,b,y\n" + "".join(f"MRN-{i:04d},{i % 7},{i % 3},{i % 2}\n" for i in range(12))
    )
    run = parse_run(
        doc(
            {"uri": str(csv), "target": "y", "idColumn": "patient"},
            model={"estimator": "sklearn.naive_bayes.GaussianNB"},
            privacy={"hashSampleIds": True},
        )
    )
    store = LocalStore(tmp_path / "s")
    with pytest.raises(InvalidInput) as err:
        prepare(run, store, DEFAULT_ALLOWLIST)
    assert err.value.where == "spec.privacy.hashSampleIds"
    monkeypatch.setenv("LOOCV_ID_SALT", "pepper")
    plan, runner = prepare(run, store, DEFAULT_ALLOWLIST)
    for batch in range(len(plan.batches)):
        run_batch(runner, batch, store)
    stored = b"".join(store.get(k) for k in store.list(plan.location.prefix))
    assert b"MRN-" not in stored
    ids = {s.id for r in load_results(store, plan.location) for s in r.samples}
    assert len(ids) == 12 and all(len(i) == 16 for i in ids)


def trainer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The trainer exactly as a Job's container runs it."""
    return subprocess.run(
        [sys.executable, "-m", "loocv_operator.cli", "train", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_trainer_process_against_s3(s3_bucket: str, s3_env: str) -> None:
    store = open_store(f"{s3_bucket}/results")
    run = parse_run(
        doc(
            {"builtin": "iris"},
            model={"estimator": "sklearn.naive_bayes.GaussianNB"},
            execution={"foldsPerJob": 60},
        )
    )
    plan, _ = prepare(run, store, DEFAULT_ALLOWLIST)
    plan_uri = store.uri(plan.location.plan)
    done = trainer("--plan", plan_uri, "--batch", "1")
    assert done.returncode == 0, done.stderr
    assert "60 computed" in done.stderr
    stored = load_results(store, plan.location)
    assert [r.index for r in stored] == list(range(60, 120))
    again = trainer("--plan", plan_uri, "--batch", "1")
    assert again.returncode == 0 and "60 already stored" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--batch", "9"], "batch 9 does not exist"), (["--batch", "0"], None)],
)
def test_trainer_exit_codes(tmp_path: Path, args: list[str], message: str | None) -> None:
    store = LocalStore(tmp_path)
    run = parse_run(
        doc(
            {"builtin": "iris"},
            model={"estimator": "sklearn.naive_bayes.GaussianNB"},
            execution={"foldsPerJob": 75},
        )
    )
    plan, _ = prepare(run, store, DEFAULT_ALLOWLIST)
    result = trainer("--plan", str(store.root / plan.location.plan), *args)
    assert result.returncode == (2 if message else 0), result.stderr
    if message:
        assert message in result.stderr


def test_trainer_missing_plan_is_invalid_input(tmp_path: Path) -> None:
    result = trainer("--plan", str(tmp_path / "ns/r/u/plan.json"), "--batch", "0")
    assert result.returncode == 2 and "no such file" in result.stderr


def test_trainer_store_outage_is_retryable(tmp_path: Path) -> None:
    from tests.conftest import free_port

    result = trainer(
        "--plan",
        "s3://b/ns/r/u/plan.json",
        "--batch",
        "0",
        "--endpoint",
        f"http://127.0.0.1:{free_port()}",
        env={
            "LOOCV_STORE_RETRY_SECONDS": "1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
        },
    )
    assert result.returncode == 1 and "retryable" in result.stderr


def test_non_finite_predictions_fail_the_fold(tmp_path: Path) -> None:
    """A regressor predicting infinity has failed that fold; the result stays valid JSON."""
    path = tmp_path / "d.npz"
    X = np.array([[1.0], [2.0], [3.0], [1e308]])
    np.savez(path, X=X, y=np.array([1.0, 2.0, 3.0, 4.0]))
    store = LocalStore(tmp_path / "s")
    run = parse_run(
        doc(
            {"uri": str(path)},
            model={"estimator": "sklearn.linear_model.LinearRegression"},
            execution={"foldsPerJob": 4},
        )
    )
    plan, runner = prepare(run, store, DEFAULT_ALLOWLIST)
    run_batch(runner, 0, store)
    errors = {r.index: r.error for r in load_results(store, plan.location)}
    assert errors[3] is not None and errors[3].type == "NonFinitePrediction"


def test_stored_folds_lists_once_and_reads_each_segment_once(tmp_path: Path) -> None:
    """A resumed batch pays one listing and one GET per segment, not one per fold."""
    from loocv_operator.trainer import stored_folds

    store = LocalStore(tmp_path)
    run = parse_run(
        doc(
            {"builtin": "iris"},
            model={"estimator": "sklearn.naive_bayes.GaussianNB"},
            execution={"foldsPerJob": 10, "fastPath": "disabled"},
        )
    )
    plan, runner = prepare(run, store, DEFAULT_ALLOWLIST)
    for batch in (2, 7):
        run_batch(runner, batch, store)
    calls: list[str] = []
    listing, reading = store.list, store.get
    store.list = lambda prefix: calls.append("list") or listing(prefix)  # type: ignore[method-assign]
    store.get = lambda key: calls.append("get") or reading(key)  # type: ignore[method-assign]
    expected = set(plan.batches[2]) | set(plan.batches[7])
    assert stored_folds(store, plan, range(150)) == expected
    assert calls == ["list", "get", "get"]  # one segment per batch here


def test_pipeline_outputs_are_bitwise_those_of_the_pipeline(tmp_path: Path) -> None:
    """The trainer transforms the held-out rows once for predict and predict_proba; the
    numbers must be exactly what Pipeline.predict / predict_proba give."""
    from sklearn.base import clone

    run = parse_run(
        doc(
            {"builtin": "wine"},
            model={
                "estimator": "sklearn.linear_model.LogisticRegression",
                "preprocessing": [
                    {"estimator": "sklearn.preprocessing.StandardScaler"},
                    {"estimator": "sklearn.decomposition.PCA", "params": {"n_components": 5}},
                ],
            },
        )
    )
    plan, runner = prepare(run, LocalStore(tmp_path), DEFAULT_ALLOWLIST)
    X, y = runner.dataset.X, runner.dataset.y
    for index in (0, 77, 177):
        result = runner.run(plan.folds[index])
        assert result.path == "brute-force" and result.ok
        keep = np.delete(np.arange(len(y)), index)
        reference = clone(runner.estimator).fit(X[keep], y[keep])
        sample = result.samples[0]
        assert sample.y_pred == reference.predict(X[[index]])[0]
        assert sample.proba == reference.predict_proba(X[[index]])[0].tolist()


def test_fresh_models_are_unfitted_independent_clones(tmp_path: Path) -> None:
    from sklearn.base import clone

    run = parse_run(
        doc({"builtin": "iris"}, model={"estimator": "sklearn.ensemble.RandomForestClassifier"})
    )
    _, runner = prepare(run, LocalStore(tmp_path), DEFAULT_ALLOWLIST)
    a, b = runner.fresh_model(), runner.fresh_model()
    assert a is not b and a.get_params() == clone(runner.estimator).get_params()
    a.fit(runner.dataset.X, runner.dataset.y)
    assert not hasattr(runner.fresh_model(), "estimators_") and not hasattr(b, "estimators_")


def test_fold_json_is_the_dataclass_mapping() -> None:
    """to_json builds the mapping by hand (asdict deep-copies); the bytes must not change."""
    import json
    from dataclasses import asdict

    from loocv_operator.results import FoldError, SampleResult

    ok = FoldResult(
        index=3,
        samples=[SampleResult(row=3, id="a", y_true=1, y_pred=0, proba=[0.6, 0.4], loss=0.9)],
        fit_seconds=0.25,
        predict_seconds=0.5,
        path="warm-start",
        extra={"warnings": ["w"], "amortized_over": 2},
    )
    failed = FoldResult(
        index=4, samples=[SampleResult(row=4, id="b", y_true="x")], error=FoldError("E", "m")
    )
    for result in (ok, failed):
        expected = json.dumps(asdict(result), separators=(",", ":"), allow_nan=False).encode()
        assert result.to_json() == expected
        assert FoldResult.from_json(result.to_json()) == result

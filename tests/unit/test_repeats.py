"""strategy.repeats: r ordinary runs with seeds derived from execution.seed, and the
stability of the metrics and of each sample's prediction across them; refused where it
could only repeat the same numbers."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from loocv_operator.cli import main
from loocv_operator.compare.runs import load_run
from loocv_operator.estimators import DEFAULT_ALLOWLIST, build_estimator
from loocv_operator.spec import ModelSpec, parse_run
from loocv_operator.stability import (
    _random_parameters,
    repeat_runs,
    repeat_seeds,
    stability_html,
    stability_of,
)
from tests.unit.kube.test_crd import model_accepts, run_doc, schema_accepts, with_
from tests.unit.test_compare import write_run

GOOD = {"dataset": {"builtin": "iris"}, "model": {"estimator": "sklearn.svm.SVC"}}
SGD = "sklearn.linear_model.SGDClassifier"


def test_seeds_follow_the_documented_rule() -> None:
    seeds = repeat_seeds(42, 4)
    assert seeds[0] == 42
    for k in (1, 2, 3):
        digest = hashlib.sha256(f"loocv-repeat:42:{k}".encode()).digest()
        assert seeds[k] == int.from_bytes(digest[:4], "big")
    assert len(set(seeds)) == 4 and repeat_seeds(42, 4) == seeds
    assert all(0 <= s < 2**32 for s in seeds)


@pytest.mark.parametrize(("repeats", "ok"), [(2, True), (20, True), (1, False), (21, False)])
def test_repeats_range_in_model_and_crd(repeats: int, ok: bool) -> None:
    document = run_doc(with_("strategy", {"repeats": repeats}, GOOD))
    assert model_accepts(document) is ok
    assert schema_accepts(document) is ok


def test_each_repeat_is_an_ordinary_run_with_its_own_seed_and_results_key() -> None:
    run = parse_run(run_doc(with_("strategy", {"repeats": 3}, GOOD)))
    runs = repeat_runs(run)
    assert [r.spec.execution.seed for r in runs] == repeat_seeds(0, 3)
    assert all(r.spec.strategy.repeats is None for r in runs)
    assert len({r.spec.results_digest() for r in runs}) == 3
    plain = parse_run(run_doc(GOOD))
    assert runs[0].spec.results_digest() == plain.spec.results_digest()  # repeat 0 reuses


@pytest.mark.parametrize(
    ("model", "random"),
    [
        ({"estimator": "sklearn.ensemble.RandomForestClassifier"}, True),
        (
            {
                "estimator": SGD,
                "preprocessing": [{"estimator": "sklearn.preprocessing.StandardScaler"}],
            },
            True,
        ),
        (
            {
                "estimator": "sklearn.ensemble.BaggingClassifier",
                "params": {"estimator": {"estimator": "sklearn.tree.DecisionTreeClassifier"}},
            },
            True,
        ),
        ({"estimator": "sklearn.naive_bayes.GaussianNB"}, False),
        (
            {
                "estimator": "sklearn.neighbors.KNeighborsClassifier",
                "preprocessing": [{"estimator": "sklearn.preprocessing.StandardScaler"}],
            },
            False,
        ),
    ],
)
def test_randomness_is_found_in_the_estimator_its_steps_and_nested_estimators(
    model: dict[str, Any], random: bool
) -> None:
    estimator = build_estimator(ModelSpec.model_validate(model), DEFAULT_ALLOWLIST)
    assert bool(_random_parameters(estimator)) is random


def _manifest(tmp_path: Path, model: dict[str, Any], repeats: int = 2, **spec: Any) -> str:
    document = run_doc(
        {"dataset": {"builtin": "iris"}, "model": model, "strategy": {"repeats": repeats}}
    )
    document["metadata"]["name"] = "sgd"
    document["spec"].update(spec)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ({"estimator": "sklearn.naive_bayes.GaussianNB"}, ["has no random_state", "deterministic"]),
        ({"estimator": SGD, "params": {"random_state": 3}}, ["random_state is fixed"]),
    ],
)
def test_pointless_repeats_are_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: dict[str, Any], words: list[str]
) -> None:
    assert main(["run", _manifest(tmp_path, model), "--local", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "spec.strategy.repeats" in err and all(w in err for w in words), err
    assert not (tmp_path / "s").exists()  # refused before any fold ran


def test_stability_of_constructed_repeats(tmp_path: Path) -> None:
    truth = [0, 1] * 5
    one = list(truth)
    two = list(truth)
    two[3] = 0  # sample 3 flips in one repeat of three
    runs = [
        load_run(write_run(tmp_path, f"r{k}", truth, pred))
        for k, pred in enumerate((one, two, one))
    ]
    runs = [
        type(r)(**{**vars(r), "metrics": {"accuracy": acc}})
        for r, acc in zip(runs, (1.0, 0.9, 1.0), strict=True)
    ]
    stability = stability_of(runs, [1, 2, 3])
    (accuracy,) = stability.metrics
    assert accuracy.mean == pytest.approx(29 / 30)
    assert accuracy.std == pytest.approx(0.057735, rel=1e-4)
    (unstable,) = stability.unstable
    assert (unstable.row, unstable.changed, unstable.predictions) == (3, 1, {"0": 1, "1": 2})
    assert unstable.agreement == pytest.approx(2 / 3)
    assert "<script>" not in stability_html(stability)


def test_a_repeated_local_run_reports_stability_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = {"estimator": SGD, "params": {"max_iter": 5, "tol": None}}
    manifest = _manifest(tmp_path, model, repeats=3, gate={"accuracy": {"min": 0.5}})
    args = [
        "run",
        manifest,
        "--local",
        "--out",
        str(tmp_path / "s"),
        "--no-progress",
        "--workers",
        "1",
    ]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "stability over 3 repeats" in printed.out
    dirs = sorted((tmp_path / "s" / "default" / "sgd").iterdir())
    assert len(dirs) == 3  # one results key per seed
    first = next(d for d in dirs if (d / "stability.json").exists())
    stability = json.loads((first / "stability.json").read_text())
    report = json.loads((first / "report.json").read_text())
    assert report["stability"] == stability
    assert stability["seeds"] == repeat_seeds(0, 3)
    assert report["spec"]["execution"]["seed"] == 0  # repeat 0 is the ordinary run
    accuracies = stability["metrics"]["accuracy"]["values"]
    assert len(accuracies) == 3 and stability["metrics"]["accuracy"]["std"] > 0
    # 5 SGD epochs on unscaled iris: predictions depend on the seed
    assert stability["unstableSamples"] > 0
    assert all(s["agreement"] < 1 for s in stability["unstable"])
    assert main(args) == 0  # a rerun resumes every repeat
    assert printed.err.count("repeat ") >= 3
    assert capsys.readouterr().err.count("resumed: 150 folds were already stored") == 3


def test_a_gate_failed_in_any_repeat_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = {"estimator": SGD, "params": {"max_iter": 5, "tol": None}}
    manifest = _manifest(tmp_path, model, repeats=2, gate={"accuracy": {"min": 0.99}})
    args = [
        "run",
        manifest,
        "--local",
        "--out",
        str(tmp_path / "s"),
        "--no-progress",
        "--workers",
        "1",
    ]
    assert main(args) == 3
    assert "the gate failed in repeats" in capsys.readouterr().err


def test_the_operator_refuses_repeats_for_now(tmp_path: Path) -> None:
    from tests.unit.kube.fakekube import Clock, FakeKube
    from tests.unit.kube.test_service import body, make_service

    kube = FakeKube()
    service = make_service(kube, tmp_path / "store", Clock())
    spec = body()["spec"] | {"model": {"estimator": SGD}, "strategy": {"repeats": 3}}
    service.admit(body(copy.deepcopy(spec)))
    invalid = kube.conditions()["Invalid"]
    assert invalid["status"] == "True" and "spec.strategy.repeats" in invalid["message"]
    assert kube.jobs == {}


def test_validate_refuses_pointless_repeats_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(tmp_path, {"estimator": "sklearn.naive_bayes.GaussianNB"})
    assert main(["validate", manifest, "--no-data"]) == 2
    captured = capsys.readouterr()
    assert "spec.strategy.repeats" in captured.err and "ok" not in captured.out
    assert main(["validate", _manifest(tmp_path, {"estimator": SGD}), "--no-data"]) == 0

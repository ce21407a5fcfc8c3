"""The baseline gate: the manifest field (model and CRD agree), the verdict on constructed
comparisons, a real local run judged against a stored baseline (exit 3 naming the reason,
report.json), failing closed when the baseline cannot be read, and the operator's status."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from loocv_operator.cli import main
from loocv_operator.compare.gate import (
    REASON_REGRESSIONS,
    REASON_UNAVAILABLE,
    REASON_WORSE,
    combine,
    judge,
)
from loocv_operator.compare.paired import compare_runs
from loocv_operator.compare.runs import load_run
from loocv_operator.gate import GateVerdict
from loocv_operator.kube.status import RunView, build_status
from loocv_operator.kube.wire import FoldCounts, JobCounts
from loocv_operator.spec import BaselineSpec
from tests.unit.kube.test_crd import model_accepts, run_doc, schema_accepts, with_
from tests.unit.kube.test_status import STATUS_SCHEMA, T0
from tests.unit.test_compare import flips, write_run

GOOD = {"dataset": {"builtin": "iris"}, "model": {"estimator": "sklearn.svm.SVC"}}


@pytest.mark.parametrize(
    "baseline",
    [
        {"run": "prod-model"},
        {"resultsUri": "s3://b/ns/r/uid"},
        {"run": "x", "alpha": 0.01, "maxRegressions": 0, "classes": [1, "setosa"]},
    ],
)
def test_valid_baselines_are_accepted_by_model_and_crd(baseline: dict[str, Any]) -> None:
    document = run_doc(with_("gate", {"baseline": baseline}, GOOD))
    assert model_accepts(document) and schema_accepts(document)


@pytest.mark.parametrize(
    "baseline",
    [
        {},
        {"run": "a", "resultsUri": "s3://b/x"},
        {"run": "a", "alpha": 0},
        {"run": "a", "alpha": 1},
        {"run": "a", "alpha": 1.5},
        {"run": "a", "maxRegressions": -1},
        {"run": "a", "classes": []},
        {"run": "Not_A_Name"},
    ],
)
def test_invalid_baselines_are_refused_by_model_and_crd(baseline: dict[str, Any]) -> None:
    document = run_doc(with_("gate", {"baseline": baseline}, GOOD))
    assert not model_accepts(document)
    assert not schema_accepts(document)


def _comparison(tmp_path: Path, regress: tuple[int, ...], improve: tuple[int, ...]) -> Any:
    truth = [0] * 30 + [1] * 30
    right_a = [True] * 60
    right_b = [True] * 60
    for r in regress:
        right_b[r] = False
    for r in improve:
        right_a[r] = False
    pa, pb = flips(truth, right_a, right_b)
    return compare_runs(
        load_run(write_run(tmp_path, "base", truth, pa)),
        load_run(write_run(tmp_path, "cand", truth, pb)),
    )


def test_significantly_worse_fails(tmp_path: Path) -> None:
    verdict = judge(BaselineSpec(run="base"), _comparison(tmp_path, tuple(range(6)), ()))
    # b=6, c=0: one-sided p = 1/64 < 0.05
    assert not verdict.passed and verdict.reason == REASON_WORSE
    assert verdict.p_value == pytest.approx(1 / 64) and (verdict.b, verdict.c) == (6, 0)
    assert "McNemar p=0.01562" in verdict.failures[0]


def test_worse_but_not_significant_passes_and_ties_pass(tmp_path: Path) -> None:
    assert judge(BaselineSpec(run="base"), _comparison(tmp_path, (0, 1, 2, 3), ())).passed
    tie = judge(BaselineSpec(run="base", alpha=0.5), _comparison(tmp_path, (0, 1, 2), (3, 4, 5)))
    assert tie.passed and tie.p_value is not None and tie.p_value > 0.5


def test_max_regressions_counts_right_to_wrong_optionally_in_classes(tmp_path: Path) -> None:
    comparison = _comparison(tmp_path, (0, 31, 32), (40, 41, 42, 43))  # 1 of class 0, 2 of 1
    assert judge(BaselineSpec(run="b", maxRegressions=3), comparison).passed
    over = judge(BaselineSpec(run="b", maxRegressions=2), comparison)
    assert not over.passed and over.reason == REASON_REGRESSIONS and over.regressions == 3
    only_0 = judge(BaselineSpec(run="b", maxRegressions=0, classes=[0]), comparison)
    assert (
        not only_0.passed and only_0.regressions == 1 and "of classes ['0']" in only_0.failures[0]
    )
    assert judge(BaselineSpec(run="b", maxRegressions=2, classes=[1]), comparison).passed
    unknown = judge(BaselineSpec(run="b", classes=["virginica"]), comparison)
    assert not unknown.passed and unknown.reason == REASON_UNAVAILABLE


def test_combined_verdict_names_the_baseline_reason_only_when_it_alone_failed(
    tmp_path: Path,
) -> None:
    failed = judge(BaselineSpec(run="base"), _comparison(tmp_path, tuple(range(6)), ()))
    alone = combine(GateVerdict(passed=True), failed)
    assert not alone.passed and alone.reason == REASON_WORSE
    both = combine(GateVerdict(passed=False, failures=["accuracy 0.5 < min 0.9"]), failed)
    assert both.reason == "ThresholdsBreached" and len(both.failures) == 2


MANIFEST: dict[str, Any] = {
    "apiVersion": "loocv.dev/v1alpha1",
    "kind": "LOOCVRun",
    "metadata": {"name": "lda"},
    "spec": {
        "dataset": {"builtin": "iris"},
        "model": {"estimator": "sklearn.discriminant_analysis.LinearDiscriminantAnalysis"},
    },
}


def _manifest(tmp_path: Path, name: str, estimator: str, gate: dict[str, Any] | None) -> str:
    document = copy.deepcopy(MANIFEST)
    document["metadata"]["name"] = name
    document["spec"]["model"]["estimator"] = estimator
    if gate:
        document["spec"]["gate"] = gate
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


LDA = "sklearn.discriminant_analysis.LinearDiscriminantAnalysis"
NB = "sklearn.naive_bayes.GaussianNB"


def test_a_local_run_judged_against_its_stored_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "store")
    args = ["--local", "--out", out, "--no-progress", "--workers", "1"]
    assert main(["run", _manifest(tmp_path, "prod", LDA, None), *args]) == 0
    capsys.readouterr()
    # GaussianNB on iris: 144/150 against LDA's 147/150 — worse, but not significantly.
    gate = {"baseline": {"run": "prod", "maxRegressions": 1}}
    code = main(["run", _manifest(tmp_path, "cand", NB, gate), *args])
    printed = capsys.readouterr()
    assert code == 3
    assert "went right->wrong against baseline default/prod/" in printed.out
    assert "run prod: the newest of its stored reports" in printed.out
    assert "gate failed:" in printed.err
    report_path = next((tmp_path / "store" / "default" / "cand").glob("*/report.json"))
    report = json.loads(report_path.read_text())
    assert report["outcome"]["exitCode"] == 3
    assert report["baseline"]["reason"] == REASON_REGRESSIONS
    assert report["baseline"]["b"] > report["baseline"]["c"]
    assert report["baseline"]["pValue"] > 0.05
    # `loocv report` re-judges from the stored folds, the same way.
    assert main(["report", str(report_path.parent)]) == 3


def test_an_unreadable_baseline_fails_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "store")
    args = ["--local", "--out", out, "--no-progress", "--workers", "1"]
    for gate in (
        {"baseline": {"run": "nothing-here"}},
        {"baseline": {"resultsUri": str(tmp_path / "nowhere")}},
    ):
        assert main(["run", _manifest(tmp_path, "cand", NB, gate), *args]) == 3
        printed = capsys.readouterr()
        assert "baseline unavailable:" in printed.err
    report = json.loads(
        next((tmp_path / "store" / "default" / "cand").glob("*/report.json")).read_text()
    )
    assert report["baseline"]["reason"] == REASON_UNAVAILABLE
    assert report["gate"]["passed"] is False


def test_other_data_is_unavailable_not_compared(tmp_path: Path) -> None:
    out = str(tmp_path / "store")
    args = ["--local", "--out", out, "--no-progress", "--workers", "1"]
    wine = _manifest(tmp_path, "wine", NB, None)
    text = Path(wine).read_text().replace("builtin: iris", "builtin: wine")
    Path(wine).write_text(text)
    assert main(["run", wine, *args]) == 0
    gate = {"baseline": {"run": "wine"}}
    assert main(["run", _manifest(tmp_path, "cand", NB, gate), *args]) == 3
    report = json.loads(
        next((tmp_path / "store" / "default" / "cand").glob("*/report.json")).read_text()
    )
    assert "different data" in report["baseline"]["failures"][0]


def test_operator_status_carries_the_baseline_and_the_reason(tmp_path: Path) -> None:
    failed = judge(BaselineSpec(run="base"), _comparison(tmp_path, tuple(range(6)), ()))
    view = RunView(
        generation=1,
        folds=FoldCounts(total=60, done=60, succeeded=60),
        jobs=JobCounts(total=1, batches=1, succeeded=1),
        summary={"task": "classification", "metrics": {}, "folds": {"total": 60}},
        results_uri="s3://b/ns/cand/uid/",
        finished=True,
        verdict=combine(GateVerdict(passed=True), failed),
        baseline=failed.to_json(),
    )
    status = build_status(None, view, T0)

    jsonschema.validate(status, STATUS_SCHEMA)
    assert status["baseline"]["b"] == 6 and status["baseline"]["c"] == 0
    assert status["baseline"]["pValue"] == pytest.approx(1 / 64)
    assert status["baseline"]["baseline"] == "default/base/uid-base"
    gate = next(c for c in status["conditions"] if c["type"] == "GatePassed")
    assert gate["status"] == "False" and gate["reason"] == REASON_WORSE


def _operator_run(tmp_path: Path, baseline: dict[str, Any]) -> Any:
    """A whole operator run (fake Kubernetes, real trainer, local store) of a majority-class
    dummy, judged against a stored GaussianNB run of those samples."""
    from tests.unit.kube.fakekube import Clock, FakeKube
    from tests.unit.kube.test_service import UID, body, make_service, train

    root = tmp_path / "store"
    subset = {"indices": list(range(0, 150, 10))}  # 15 folds: 5 of each class
    prod = copy.deepcopy(MANIFEST)
    prod["metadata"] = {"name": "prod", "namespace": "ns"}
    prod["spec"]["model"]["estimator"] = NB
    prod["spec"]["strategy"] = {"subset": subset}
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(prod))
    assert main(["run", str(path), "--local", "--out", str(root), "--no-progress"]) == 0
    kube, clock = FakeKube(), Clock()
    service = make_service(kube, root, clock)
    spec = body()["spec"] | {
        "model": {"estimator": "sklearn.dummy.DummyClassifier"},
        "strategy": {"subset": subset},
        "gate": {"baseline": baseline},
    }
    service.admit(body(spec))
    for _ in range(20):
        for name in [n for n, j in kube.jobs.items() if "status" not in j]:
            train(root, kube, name)
        clock.now += 10
        service.reconcile(UID)
        if service.tracked() == []:
            break
    return kube


def test_the_operator_fails_a_run_worse_than_its_baseline(tmp_path: Path) -> None:
    kube = _operator_run(tmp_path, {"run": "prod"})
    gate = kube.conditions()["GatePassed"]
    assert gate["status"] == "False" and gate["reason"] == REASON_WORSE
    assert "worse than baseline ns/prod/" in gate["message"]
    baseline = kube.status["baseline"]
    # Held out, a sample's class is the rarer in training: the majority-class dummy is wrong
    # on all 15; GaussianNB is right on 14 of them.
    assert baseline["b"] == 14 and baseline["c"] == 0
    assert baseline["pValue"] == pytest.approx(1 / 2**14)
    assert baseline["baseline"].startswith("ns/prod/local-")
    assert kube.status["gate"]["passed"] is False
    assert "GateFailed" in [e["reason"] for e in kube.events]


def test_the_operator_fails_closed_when_the_baseline_cannot_be_read(tmp_path: Path) -> None:
    kube = _operator_run(tmp_path, {"resultsUri": str(tmp_path / "no-such-run")})
    gate = kube.conditions()["GatePassed"]
    assert gate["status"] == "False" and gate["reason"] == REASON_UNAVAILABLE
    assert "baseline unavailable" in gate["message"]
    assert kube.status["baseline"]["passed"] is False


def test_a_baseline_gate_on_a_regressor_is_refused_before_any_fold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = copy.deepcopy(MANIFEST)
    document["spec"] = {
        "dataset": {"builtin": "diabetes"},
        "model": {"estimator": "sklearn.linear_model.Ridge"},
        "gate": {"baseline": {"run": "prod"}},
    }
    path = tmp_path / "ridge.yaml"
    path.write_text(yaml.safe_dump(document))
    assert main(["run", str(path), "--local", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "spec.gate.baseline: applies to classification runs" in err
    assert not list((tmp_path / "s").glob("*/*/*/folds"))

"""The three steps as the planner and report Jobs run them (``loocv plan``, ``loocv finish``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loocv_operator.cli import main
from loocv_operator.datasets import load_dataset
from loocv_operator.errors import InvalidInput
from loocv_operator.podsteps import locate
from loocv_operator.privacy import IdHasher
from loocv_operator.results import NOT_RUN_PATH, FoldError, FoldResult, SampleResult
from loocv_operator.runsteps import Inputs, needs_samples, with_samples
from loocv_operator.segments import OPERATOR_ATTEMPT, SegmentWriter
from loocv_operator.spec import parse_spec
from loocv_operator.store import LocalStore, RunLocation

LOCATION = RunLocation("ns", "iris", "uid-1")
SPEC = {
    "dataset": {"builtin": "iris"},
    "model": {"estimator": "sklearn.naive_bayes.GaussianNB"},
    "strategy": {"subset": {"indices": [0, 50, 100, 1, 51, 101]}},
}


def spec_json(root: Path, spec: dict[str, object]) -> Path:
    path = root / LOCATION.artifact("spec.json")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(spec))
    return path


def test_locate_finds_the_store_root_and_the_run() -> None:
    store, location = locate("s3://bucket/runs/ns/iris/uid-1/plan.json", "plan.json", None)
    assert location == LOCATION and store.uri() == "s3://bucket/runs/"
    with pytest.raises(InvalidInput, match=r"expected <store>/<namespace>/<run>/<uid>/plan\.json"):
        locate("s3://bucket/plan.json", "plan.json", None)


def test_plan_then_train_then_finish_as_the_jobs_do(tmp_path: Path) -> None:
    path = spec_json(tmp_path, SPEC)
    assert main(["plan", "--spec", str(path)]) == 0
    plan_uri = str(tmp_path / LOCATION.plan)
    assert main(["train", "--plan", plan_uri, "--batch", "0"]) == 0
    store = LocalStore(tmp_path)
    # The operator gave up on a fold it never ran: rows only, it never reads the data.
    with SegmentWriter(store, LOCATION, 0, OPERATOR_ATTEMPT) as writer:
        writer.add(
            FoldResult(
                index=5,
                samples=[SampleResult(row=101, id="", y_true="")],
                error=FoldError("RetriesExhausted", "gone"),
                path=NOT_RUN_PATH,
            )
        )
    assert main(["finish", "--plan", plan_uri]) == 0
    report = json.loads(store.get(LOCATION.artifact("report.json")))
    folds = report["summary"]["folds"]
    assert folds["done"] == folds["succeeded"] == 6  # the trainer's fold 5 counts first
    assert store.exists(LOCATION.artifact("predictions.csv"))


def test_the_planners_refusal_is_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = spec_json(tmp_path, {**SPEC, "dataset": {"builtin": "diabetes"}})
    assert main(["plan", "--spec", str(path)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("invalid input: spec.dataset: ") and "continuous" in last
    assert not (tmp_path / LOCATION.plan).exists()


def test_not_run_folds_are_named_from_the_data() -> None:
    spec = parse_spec(SPEC)
    dataset = load_dataset(spec.dataset, spec.storage)
    bare = FoldResult(0, [SampleResult(row=50, id="", y_true="")], path=NOT_RUN_PATH)
    assert needs_samples([bare]) and not needs_samples([FoldResult(1, [])])
    (named,) = with_samples([bare], Inputs(dataset, None, IdHasher(None)))
    sample = named.samples[0]
    assert (sample.row, sample.id, sample.y_true) == (50, dataset.ids[50], 1)

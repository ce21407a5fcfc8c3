from __future__ import annotations

from pathlib import Path

import pytest

from loocv_operator.errors import InvalidInput
from loocv_operator.manifestfile import load_manifest
from loocv_operator.spec import ManifestError, parse_run, parse_spec

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_parse(path: Path) -> None:
    run = load_manifest(path)
    assert run.kind == "LOOCVRun"
    assert run.spec.model.estimator.startswith("sklearn.")


def test_defaults(run_doc) -> None:
    spec = parse_run(run_doc()).spec
    assert spec.strategy.type == "LeaveOneOut"
    assert spec.execution.folds_per_job == "auto"
    assert spec.execution.fast_path == "auto"
    assert spec.gate is None


def test_unknown_field_is_named(run_doc) -> None:
    with pytest.raises(ManifestError) as err:
        parse_run(run_doc(gate={"acuracy": {"min": 0.9}}))
    assert ("spec.gate.acuracy", "unknown field") in err.value.problems


def test_wrong_type_is_named(run_doc) -> None:
    with pytest.raises(ManifestError) as err:
        parse_run(run_doc(execution={"maxConcurrentJobs": "many"}))
    assert err.value.problems[0][0] == "spec.execution.maxConcurrentJobs"


def test_every_problem_is_reported(run_doc) -> None:
    doc = run_doc(execution={"retries": -1}, strategy={"type": "KFold"})
    doc["spec"]["model"] = {}
    with pytest.raises(ManifestError) as err:
        parse_run(doc)
    fields = [where for where, _ in err.value.problems]
    assert "spec.model.estimator" in fields
    assert "spec.execution.retries" in fields
    assert "spec.strategy" in fields and "KFold needs 'k'" in str(err.value)


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"builtin": "iris", "uri": "s3://b/x.csv"}, "exactly one of 'builtin' or 'uri'"),
        ({}, "exactly one of 'builtin' or 'uri'"),
        ({"builtin": "mnist"}, "Input should be"),
        ({"builtin": "iris", "target": "y"}, "apply to 'uri' only"),
    ],
)
def test_dataset_source_rules(run_doc, dataset, message) -> None:
    doc = run_doc()
    doc["spec"]["dataset"] = dataset
    with pytest.raises(ManifestError) as err:
        parse_run(doc)
    assert err.value.problems[0][0].startswith("spec.dataset")
    assert message in str(err.value)


def test_subset_needs_exactly_one_kind(run_doc) -> None:
    with pytest.raises(ManifestError, match="exactly one of 'indices'"):
        parse_run(run_doc(strategy={"subset": {"indices": [1], "stratifiedSample": 3}}))


def test_subset_only_for_leave_one_out(run_doc) -> None:
    with pytest.raises(ManifestError, match="LeaveOneOut only"):
        parse_run(run_doc(strategy={"type": "KFold", "k": 5, "subset": {"indices": [1]}}))


def test_estimator_name_must_be_dotted(run_doc) -> None:
    with pytest.raises(ManifestError) as err:
        parse_run(run_doc(model={"estimator": "os.system; rm -rf /"}))
    assert err.value.problems[0][0] == "spec.model.estimator"


def test_spec_digest_ignores_concurrency_and_suspend(run_doc) -> None:
    a = parse_run(run_doc()).spec
    b = parse_run(run_doc(execution={"maxConcurrentJobs": 9}, suspend=True)).spec
    c = parse_run(run_doc(execution={"seed": 3})).spec
    assert a.digest() == b.digest() != c.digest()


def test_parse_spec_prefixes_paths() -> None:
    with pytest.raises(ManifestError) as err:
        parse_spec({"dataset": {"builtin": "iris"}})
    assert err.value.problems == [("spec.model", "Field required")]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        load_manifest(tmp_path / "absent.yaml")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("kind: LOOCVRun\nspec: [unclosed\n")
    with pytest.raises(InvalidInput, match=r"not valid YAML at line \d"):
        load_manifest(path)


def test_needs_one_loocvrun_document(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("kind: ConfigMap\n---\nkind: Secret\n")
    with pytest.raises(InvalidInput, match="exactly one LOOCVRun document, found no"):
        load_manifest(path)


def test_non_finite_params_are_refused(run_doc) -> None:
    doc = run_doc()
    doc["spec"]["model"]["params"] = {"C": float("inf")}
    with pytest.raises(ManifestError) as err:
        parse_run(doc)
    assert err.value.problems[0][0] == "spec.model.params"
    assert "params.C is inf" in err.value.problems[0][1]

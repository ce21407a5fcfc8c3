"""The CRD: generated from the manifest model, structural, and in agreement with it."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from loocv_operator.kube import crd
from loocv_operator.kube.wire import LOOCVRunStatus
from loocv_operator.spec import LOOCVRunSpec, ManifestError, parse_run

ROOT = Path(__file__).resolve().parents[3]
CRD_FILE = ROOT / "crds" / "loocvruns.loocv.dev.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def version() -> dict[str, Any]:
    return dict(crd.build_crd()["spec"]["versions"][0])


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """As the API server validates with strict field validation (kubectl's default):
    unknown fields are errors; x-kubernetes-* markers are not JSON Schema."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {k: strict(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            out[key] = strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict(v) for v in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            # OpenAPI v3.0 (Kubernetes): a flag on minimum/maximum; draft 7: the bound itself
            bound = schema["minimum" if key == "exclusiveMinimum" else "maximum"]
            out[key] = bound if value else None
        elif not key.startswith("x-kubernetes-"):
            out[key] = value
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in out and out[key] is not None:
            out.pop("minimum" if key == "exclusiveMinimum" else "maximum", None)
        elif key in out:
            del out[key]
    if "properties" in schema and schema.get("type") == "object":
        out["additionalProperties"] = False
    return out


def cel_violations(schema: Mapping[str, Any], value: Any, path: str = "") -> list[str]:
    """Evaluate the schema's CEL rules (not the transition rules, which need oldSelf) on
    every node the document has, as the API server does after schema validation."""
    import celpy

    found: list[str] = []
    if isinstance(value, Mapping):
        for rule in schema.get("x-kubernetes-validations", []):
            if "oldSelf" in rule["rule"]:
                continue
            env = celpy.Environment()
            program = env.program(env.compile(rule["rule"]))
            if not program.evaluate({"self": celpy.json_to_cel(dict(value))}):
                found.append(f"{path}: {rule['message']}")
        for key, child in schema.get("properties", {}).items():
            if key in value:
                found += cel_violations(child, value[key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += cel_violations(schema["items"], item, f"{path}[{i}]")
    return found


def schema_accepts(document: dict[str, Any]) -> bool:
    """Structural schema (jsonschema) and CEL rules (cel-python), as the API server checks."""
    openapi = version()["schema"]["openAPIV3Schema"]
    if list(jsonschema.Draft7Validator(strict(openapi)).iter_errors(document)):
        return False
    return not cel_violations(openapi, document)


def test_cel_rules_say_what_the_model_says() -> None:
    """kubectl's message for a cross-field mistake is the one `loocv validate` prints."""
    document = run_doc(
        {
            "dataset": {"builtin": "iris", "uri": "s3://b/x.csv"},
            "model": {"estimator": "sklearn.svm.SVC"},
            "strategy": {"type": "KFold"},
        }
    )
    violations = cel_violations(version()["schema"]["openAPIV3Schema"], document)
    assert violations == [
        ".spec.dataset: give exactly one of 'builtin' or 'uri'",
        ".spec.strategy: KFold needs 'k'",
    ]


def model_accepts(document: dict[str, Any]) -> bool:
    try:
        parse_run(document)
    except ManifestError:
        return False
    return True


def run_doc(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "r", "namespace": "default"},
        "spec": spec,
    }


BASE = {"dataset": {"builtin": "iris"}, "model": {"estimator": "sklearn.svm.SVC"}}


def with_(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = copy.deepcopy(base or BASE)
    node = spec
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return spec


VALID_SPECS = {
    "uri-dataset": {
        "dataset": {"uri": "s3://b/d.csv", "target": "y", "idColumn": "id", "format": "csv"},
        "model": {"estimator": "sklearn.svm.SVC"},
    },
    "kfold": with_("strategy", {"type": "KFold", "k": 5, "shuffle": True}),
    "group-out": with_("strategy", {"type": "LeaveOneGroupOut"}),
    "subset-labels": with_("strategy", {"subset": {"labels": [1, "setosa"]}}),
    "folds-per-job-int": with_("execution", {"foldsPerJob": 7}),
    "quantities": with_("execution", {"resources": {"requests": {"cpu": 1, "memory": "1Gi"}}}),
    "tolerations": with_("execution", {"tolerations": [{"key": "gpu", "operator": "Exists"}]}),
    "nested-params": with_(
        "model",
        {
            "estimator": "sklearn.ensemble.BaggingClassifier",
            "params": {"estimator": {"estimator": "sklearn.tree.DecisionTreeClassifier"}},
        },
    ),
    "gate": with_("gate", {"accuracy": {"min": 0.9}, "failedFolds": {"max": 0}}),
    "privacy": with_("privacy", {"hashSampleIds": True, "saltSecretRef": {"name": "salt"}}),
    "fast-path-disabled": with_("execution", {"fastPath": "disabled"}),
    "fast-path-off-quoted": with_("execution", {"fastPath": "off"}),
    "bounds-at-their-limits": with_(
        "gate",
        {
            "accuracy": {"min": 1},
            "classRecall": {"min": 0},
            "ece": {"max": 1.0},
            "failureRate": {"max": 0},
            "r2": {"min": -5.0},
            "missingFolds": {"max": 3},
        },
    ),
    "suspended": with_("suspend", True),
    "budget-cores": with_("execution", {"budget": {"maxCoreHours": 2}}),
    "budget-both": with_("execution", {"budget": {"maxCoreHours": 0.5, "maxGPUHours": 1.5}}),
}

INVALID_SPECS = {
    "no-dataset": {"model": {"estimator": "sklearn.svm.SVC"}},
    "no-model": {"dataset": {"builtin": "iris"}},
    "both-sources": with_("dataset", {"builtin": "iris", "uri": "s3://b/x.csv"}),
    "no-source": with_("dataset", {}),
    "builtin-with-target": with_("dataset", {"builtin": "iris", "target": "label"}),
    "unknown-builtin": with_("dataset", {"builtin": "mnist"}),
    "empty-uri": with_("dataset", {"uri": ""}),
    "bad-format": with_("dataset", {"uri": "s3://b/x", "format": "xlsx"}),
    "estimator-not-dotted": with_("model.estimator", "SVC"),
    "bad-step-name": with_("model.name", "1st"),
    "kfold-without-k": with_("strategy", {"type": "KFold"}),
    "k-without-kfold": with_("strategy", {"k": 3}),
    "shuffle-without-kfold": with_("strategy", {"shuffle": True}),
    "k-too-small": with_("strategy", {"type": "KFold", "k": 1}),
    "subset-with-kfold": with_("strategy", {"type": "KFold", "k": 3, "subset": {"indices": [1]}}),
    "subset-two-kinds": with_("strategy", {"subset": {"indices": [1], "labels": [1]}}),
    "subset-none": with_("strategy", {"subset": {"seed": 1}}),
    "subset-negative-index": with_("strategy", {"subset": {"indices": [-1]}}),
    "subset-empty": with_("strategy", {"subset": {"indices": []}}),
    "unknown-strategy": with_("strategy", {"type": "Bootstrap"}),
    "folds-per-job-zero": with_("execution", {"foldsPerJob": 0}),
    "folds-per-job-word": with_("execution", {"foldsPerJob": "many"}),
    "concurrency-zero": with_("execution", {"maxConcurrentJobs": 0}),
    "concurrency-huge": with_("execution", {"maxConcurrentJobs": 1001}),
    "retries-negative": with_("execution", {"retries": -1}),
    "bad-fast-path": with_("execution", {"fastPath": "fast"}),
    "bad-toleration-operator": with_("execution", {"tolerations": [{"operator": "Maybe"}]}),
    "node-selector-not-string": with_("execution", {"nodeSelector": {"gpu": {"a": 1}}}),
    "deadline-zero": with_("execution", {"activeDeadlineSeconds": 0}),
    "ttl-negative": with_("execution", {"ttlSecondsAfterFinished": -5}),
    "bad-secret-name": with_("storage", {"secretRef": {"name": "Not_A_Name"}}),
    "gate-typo": with_("gate", {"acuracy": {"min": 0.9}}),
    "gate-bound-missing": with_("gate", {"accuracy": {}}),
    "gate-count-negative": with_("gate", {"failedFolds": {"max": -1}}),
    "gate-empty": with_("gate", {}),
    "accuracy-above-one": with_("gate", {"accuracy": {"min": 1.5}}),
    "recall-below-zero": with_("gate", {"classRecall": {"min": -0.1}}),
    "failure-rate-above-one": with_("gate", {"failureRate": {"max": 2}}),
    "ece-above-one": with_("gate", {"ece": {"max": 1.01}}),
    "log-loss-negative": with_("gate", {"logLoss": {"max": -1}}),
    "rmse-negative": with_("gate", {"rmse": {"max": -0.1}}),
    "r2-above-one": with_("gate", {"r2": {"min": 1.2}}),
    "missing-folds-negative": with_("gate", {"missingFolds": {"max": -1}}),
    "folds-per-job-huge": with_("execution", {"foldsPerJob": 100_001}),
    "seed-negative": with_("execution", {"seed": -1}),
    "seed-past-numpy": with_("execution", {"seed": 2**32}),
    "subset-seed-past-numpy": with_("strategy", {"subset": {"stratifiedSample": 5, "seed": 2**32}}),
    "unknown-spec-field": with_("resume", True),
    "unknown-execution-field": with_("execution", {"parallelism": 3}),
    "budget-empty": with_("execution", {"budget": {}}),
    "budget-zero": with_("execution", {"budget": {"maxCoreHours": 0}}),
    "budget-negative-gpu": with_("execution", {"budget": {"maxGPUHours": -1}}),
    "budget-misspelt": with_("execution", {"budget": {"maxGpuHours": 1}}),
}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_is_accepted_by_the_model_and_by_the_schema(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    assert model_accepts(document)
    assert schema_accepts(document)


@pytest.mark.parametrize("spec", VALID_SPECS.values(), ids=list(VALID_SPECS))
def test_valid_specs_are_accepted_by_both(spec: dict[str, Any]) -> None:
    assert model_accepts(run_doc(spec))
    assert schema_accepts(run_doc(spec))


@pytest.mark.parametrize("spec", INVALID_SPECS.values(), ids=list(INVALID_SPECS))
def test_invalid_specs_are_rejected_by_both(spec: dict[str, Any]) -> None:
    assert not model_accepts(run_doc(spec))
    assert not schema_accepts(run_doc(spec))


@pytest.mark.parametrize(
    "spec",
    [
        with_("execution", {"maxConcurrentJobs": "4"}),
        with_("execution", {"retries": True}),
        with_("suspend", "yes"),
    ],
    ids=["string-for-int", "bool-for-int", "string-for-bool"],
)
def test_type_coercion_agrees(spec: dict[str, Any]) -> None:
    assert model_accepts(run_doc(spec)) == schema_accepts(run_doc(spec))


def test_the_crd_file_is_the_generators_output() -> None:
    assert CRD_FILE.read_text() == crd.render_yaml(), (
        "crds/ is stale: python -m loocv_operator.kube.crd > crds/loocvruns.loocv.dev.yaml"
    )


def _walk(schema: Mapping[str, Any], model: type[BaseModel], path: str) -> Iterator[str]:
    """Every field of the model, compared with the schema's property of the same name."""
    properties = schema.get("properties", {})
    for name, info in model.model_fields.items():
        wire = info.alias or name
        yield f"{path}.{wire}"
        assert wire in properties, f"{path}.{wire} is missing from the schema"
        annotation = info.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                node = properties[wire]
                node = node.get("items", node)
                yield from _walk(node, candidate, f"{path}.{wire}")
        required = info.is_required()
        assert (wire in schema.get("required", [])) == required, f"{path}.{wire} required"
    assert set(properties) == {(i.alias or n) for n, i in model.model_fields.items()}, (
        f"{path} has properties the model does not"
    )


def test_the_schema_has_every_field_of_the_spec_and_status_models_and_no_other() -> None:
    schema = version()["schema"]["openAPIV3Schema"]["properties"]
    spec_fields = list(_walk(schema["spec"], LOOCVRunSpec, "spec"))
    status_fields = list(_walk(schema["status"], LOOCVRunStatus, "status"))
    assert "spec.execution.maxConcurrentJobs" in spec_fields
    assert "spec.strategy.subset.stratifiedSample" in spec_fields
    assert "status.metrics.accuracyCI95" in status_fields


def _nodes(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, schema
    for key, value in schema.get("properties", {}).items():
        yield from _nodes(value, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), Mapping):
            yield from _nodes(schema[key], f"{path}[]")


FORBIDDEN_IN_JUNCTORS = {"type", "description", "default", "additionalProperties", "nullable"}


def _junctor_clean(branch: Mapping[str, Any], path: str) -> None:
    assert not FORBIDDEN_IN_JUNCTORS & set(branch), f"{path}: {branch}"
    for child in (branch.get("properties") or {}).values():
        _junctor_clean(child, path)
    for key in ("items", "not"):
        if isinstance(branch.get(key), Mapping):
            _junctor_clean(branch[key], path)
    for key in ("allOf", "anyOf", "oneOf"):
        for child in branch.get(key, []):
            _junctor_clean(child, path)


def test_the_schema_is_structural() -> None:
    """Every node has a type (or is int-or-string); junctors carry value validations only
    (except the int-or-string pair); never properties next to additionalProperties."""
    for path, node in _nodes(version()["schema"]["openAPIV3Schema"]):
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert "type" in node, path
        for junctor in ("allOf", "anyOf", "oneOf"):
            for branch in node.get(junctor, []):
                _junctor_clean(branch, path)
        if isinstance(node.get("not"), Mapping):
            _junctor_clean(node["not"], path)


def test_free_form_parameters_are_preserved_and_int_or_string_fields_marked() -> None:
    spec = version()["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    params = spec["model"]["properties"]["params"]
    assert params == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    folds = spec["execution"]["properties"]["foldsPerJob"]
    assert folds["x-kubernetes-int-or-string"] is True
    assert folds["minimum"] == 1 and folds["pattern"] == "^(auto)$"
    cpu = spec["execution"]["properties"]["resources"]["properties"]["requests"]
    assert cpu["additionalProperties"]["x-kubernetes-int-or-string"] is True


def test_spec_is_immutable_except_suspend_and_max_concurrent_jobs() -> None:
    rules = version()["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"]
    text = " ".join(r["rule"] for r in rules)
    for field in ("dataset", "model", "strategy", "storage", "gate", "privacy"):
        assert f"self.{field} == oldSelf.{field}" in text
    for field in ("foldsPerJob", "retries", "image", "resources", "seed", "queueName"):
        assert f"self.execution.{field} == oldSelf.execution.{field}" in text
    assert "maxConcurrentJobs" not in text and "suspend" not in text
    assert "budget" not in text  # raising the budget resumes a run it stopped
    assert all("oldSelf" in r["rule"] and r["message"] for r in rules)


def test_names_printer_columns_and_subresources() -> None:
    definition = crd.build_crd()
    assert definition["metadata"]["name"] == "loocvruns.loocv.dev"
    assert definition["spec"]["scope"] == "Namespaced"
    assert "loocv" in definition["spec"]["names"]["shortNames"]
    v = version()
    assert v["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in v["additionalPrinterColumns"]}
    assert list(columns)[:4] == ["Phase", "Folds", "Accuracy", "Gate"]
    assert columns["Gate"]["jsonPath"] == '.status.conditions[?(@.type=="GatePassed")].status'
    assert columns["Age"]["jsonPath"] == ".metadata.creationTimestamp"
    assert all("[-1:]" not in c["jsonPath"] for c in columns.values())
    conditions = v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]

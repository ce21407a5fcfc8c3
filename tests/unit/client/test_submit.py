"""The API server's refusals, turned into errors that name the field (no cluster needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from loocv_operator.client import submit
from loocv_operator.client.submit import ClusterError, RunAddress, create, prepare_document
from loocv_operator.errors import InvalidInput

DOC: dict[str, Any] = {
    "apiVersion": "loocv.dev/v1alpha1",
    "kind": "LOOCVRun",
    "metadata": {"generateName": "ci-"},
    "spec": {"dataset": {"builtin": "iris"}, "model": {"estimator": "sklearn.svm.SVC"}},
}


class Refusing:
    """CustomObjectsApi whose create answers with one API status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.error = ApiException(status=status, reason="refused")
        self.error.body = json.dumps(body)

    def __call__(self, api: Any) -> Refusing:
        return self

    def create_namespaced_custom_object(self, *args: Any) -> dict[str, Any]:
        raise self.error


def refuse(monkeypatch: pytest.MonkeyPatch, status: int, body: dict[str, Any]) -> None:
    from kubernetes import client

    monkeypatch.setattr(client, "CustomObjectsApi", Refusing(status, body))


def test_admission_refusal_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse(
        monkeypatch,
        422,
        {
            "message": "LOOCVRun.loocv.dev is invalid",
            "details": {
                "causes": [{"field": "spec.gate.accuracy.min", "message": "should be less than 1"}]
            },
        },
    )
    with pytest.raises(InvalidInput) as err:
        create(object(), DOC, "ml")
    assert err.value.where == "spec.gate.accuracy.min"


def test_a_name_in_use_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse(monkeypatch, 409, {"message": "already exists"})
    doc = {**DOC, "metadata": {"name": "taken"}}
    with pytest.raises(InvalidInput, match="generateName for a fresh run per CI job"):
        create(object(), doc, "ml")


@pytest.mark.parametrize(
    ("status", "message", "error", "words"),
    [
        (404, 'namespaces "nope" not found', InvalidInput, "metadata.namespace"),
        (404, "the server could not find the requested resource", ClusterError, "install the CRD"),
        (403, "loocvruns is forbidden", ClusterError, "refused to create the run"),
    ],
)
def test_other_refusals(
    monkeypatch: pytest.MonkeyPatch, status: int, message: str, error: type, words: str
) -> None:
    refuse(monkeypatch, status, {"message": message})
    with pytest.raises(error, match=words):
        create(object(), DOC, "ml")


def test_prepare_keeps_generate_name_and_validates_the_spec() -> None:
    body, namespace = prepare_document(DOC, "m.yaml", "ml", None)
    assert body["metadata"] == {"generateName": "ci-", "namespace": "ml"} and namespace == "ml"
    named, _ = prepare_document(DOC, "m.yaml", None, "fixed")
    assert named["metadata"]["name"] == "fixed" and "generateName" not in named["metadata"]
    bad = {**DOC, "spec": {**DOC["spec"], "gate": {"accuracy": {"min": 2}}}}
    with pytest.raises(InvalidInput, match=r"spec\.gate\.accuracy\.min"):
        prepare_document(bad, "m.yaml", "ml", None)


def test_kubectl_hint() -> None:
    assert RunAddress("ml", "ci-x").kubectl("delete") == "kubectl delete loocvrun/ci-x -n ml"
    assert submit.PLURAL == "loocvruns"

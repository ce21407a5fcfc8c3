"""What the operator checks itself, and how it reads the planner's refusal."""

from __future__ import annotations

from loocv_operator.kube.admission import accepted_spec, planner_refusal, run_location
from loocv_operator.kube.observe import ObservedPod
from loocv_operator.kube.settings import Settings


def pod(message: str) -> ObservedPod:
    return ObservedPod("p", -1, False, None, None, ("Error", 2, message), step="plan")


def test_the_planners_last_word_names_the_field() -> None:
    log_tail = "Traceback? no\nINFO loading\ninvalid input: spec.dataset.target: is continuous\n"
    assert planner_refusal([pod(log_tail)], "FailJob") == [("spec.dataset.target", "is continuous")]


def test_without_a_last_word_the_jobs_message_is_said() -> None:
    (problem,) = planner_refusal([], "PodFailurePolicy: exit code 2")
    assert problem[0] == "spec" and "exit code 2" in problem[1]


def test_a_refused_estimator_or_a_cluster_only_problem_is_refused_before_any_job() -> None:
    settings = Settings(storage_uri="s3://bucket/runs/")
    body = {
        "metadata": {"name": "r", "namespace": "ns", "uid": "u"},
        "spec": {"dataset": {"builtin": "iris"}, "model": {"estimator": "os.system"}},
    }
    spec, problems = accepted_spec(body, settings)
    assert spec is None and [w for w, _ in problems] == ["spec.model.estimator"]
    assert run_location(body).prefix == "ns/r/u/"
    body["spec"]["model"] = {"estimator": "sklearn.svm.SVC"}  # type: ignore[index]
    spec, problems = accepted_spec(body, settings)
    assert spec is not None and problems == []

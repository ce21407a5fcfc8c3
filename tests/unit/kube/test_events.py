"""Events about a run."""

from __future__ import annotations

from datetime import UTC, datetime

from loocv_operator.kube.events import build_event
from loocv_operator.store import RunLocation


def test_an_event_points_at_the_run_and_is_bounded() -> None:
    run = RunLocation("ns", "iris", "u-1")
    event = build_event(
        run, "Warning", "BatchGivenUp", "x" * 5000, datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert event["involvedObject"] == {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "name": "iris",
        "namespace": "ns",
        "uid": "u-1",
    }
    assert event["metadata"] == {"generateName": "iris.", "namespace": "ns"}
    assert event["type"] == "Warning" and event["reason"] == "BatchGivenUp"
    assert len(event["message"]) == 1024
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-01-01T00:00:00Z"
    assert event["source"] == {"component": "loocv-operator"}

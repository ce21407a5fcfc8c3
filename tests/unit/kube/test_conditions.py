"""metav1.Condition list updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loocv_operator.kube import conditions as cond

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_a_new_condition_gets_every_metav1_field() -> None:
    out = cond.set_condition([], cond.COMPLETE, "True", "AllFoldsDone", "done", T0, 3)
    assert out == [
        {
            "type": "Complete",
            "status": "True",
            "reason": "AllFoldsDone",
            "message": "done",
            "lastTransitionTime": "2026-01-02T03:04:05Z",
            "observedGeneration": 3,
        }
    ]


def test_the_transition_time_moves_only_when_the_status_changes() -> None:
    first = cond.set_condition([], cond.PROGRESSING, "True", "JobsRunning", "1/9", T0)
    same = cond.set_condition(first, cond.PROGRESSING, "True", "JobsRunning", "5/9", T1)
    assert same[0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert same[0]["message"] == "5/9"
    flipped = cond.set_condition(same, cond.PROGRESSING, "False", "Finished", "9/9", T1)
    assert flipped[0]["lastTransitionTime"] == "2026-01-02T03:09:05Z"


def test_other_conditions_are_kept_in_a_stable_order() -> None:
    out = cond.set_condition([], cond.GATE_PASSED, "True", "ThresholdsMet", "", T0)
    out = cond.set_condition(out, cond.INVALID, "False", "Valid", "", T0)
    out = cond.set_condition(out, cond.COMPLETE, "True", "AllFoldsDone", "", T0)
    assert [c["type"] for c in out] == ["Invalid", "Complete", "GatePassed"]
    assert cond.is_true(out, cond.COMPLETE) and not cond.is_true(out, cond.INVALID)
    assert cond.find(out, cond.FAILED) is None


def test_messages_are_bounded() -> None:
    out = cond.set_condition([], cond.FAILED, "True", "X", "m" * 10_000, T0)
    assert len(out[0]["message"]) == cond.MAX_MESSAGE_CHARS

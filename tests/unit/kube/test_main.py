"""kopf wiring: settings, handler registration, the reconcile ticker."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from loocv_operator.kube.handlers import Ticker, deletes_results, register
from loocv_operator.kube.main import kopf_settings
from loocv_operator.kube.settings import Settings
from loocv_operator.kube.telemetry import Telemetry


def test_kopf_keeps_its_state_in_our_annotations_and_bounds_its_threads() -> None:
    settings = kopf_settings(Settings(workers=3))
    assert settings.execution.max_workers == 3
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert isinstance(settings.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    assert settings.persistence.finalizer == "loocv.dev/delete-results"
    assert settings.scanning.disabled is True


class FakeService:
    def __init__(self) -> None:
        self.telemetry = Telemetry()
        self.reconciled: list[str] = []

    def tracked(self) -> list[str]:
        return ["a", "b"]

    def due(self) -> list[str]:
        return ["a", "b"]

    def reconcile(self, uid: str) -> None:
        self.reconciled.append(uid)

    def phase_counts(self) -> dict[str, int]:
        return {"Running": 2}


def test_a_tick_reconciles_every_due_run_on_the_pool_never_twice_at_once() -> None:
    service = FakeService()
    release = threading.Event()
    slow: list[str] = []

    def reconcile(uid: str) -> None:
        if uid == "a":
            release.wait(5)  # run a is slow: b must not wait for it
        slow.append(uid)

    service.reconcile = reconcile  # type: ignore[method-assign]

    async def passes() -> tuple[list[str], list[str], list[str]]:
        ticker = Ticker(service, pool)  # type: ignore[arg-type]
        first = ticker.tick()
        await asyncio.sleep(0.2)
        second = ticker.tick()  # a is still in flight: not started again; b is done: again
        release.set()
        await ticker.drain()
        return first, second, list(slow)

    with ThreadPoolExecutor(2) as pool:
        first, second, finished = asyncio.run(passes())
    assert sorted(first) == ["a", "b"] and second == ["b"]
    assert finished[0] == "b" and sorted(finished) == ["a", "b", "b"]


def test_only_runs_that_delete_their_results_get_a_finalizer() -> None:
    registry = kopf.OperatorRegistry()
    register(registry, FakeService(), Settings())  # type: ignore[arg-type]
    deletion = [h for h in registry._changing.get_all_handlers() if h.reason == kopf.Reason.DELETE]
    assert sorted(bool(h.requires_finalizer) for h in deletion) == [False, True]
    assert registry._spawning.get_all_handlers() == []  # no timers/daemons: no finalizers
    assert deletes_results(spec={"storage": {"deleteOnDelete": True}})
    assert not deletes_results(spec={})
    kinds: set[Any] = {h.reason for h in registry._changing.get_all_handlers()}
    assert {kopf.Reason.CREATE, kopf.Reason.UPDATE, kopf.Reason.DELETE} <= kinds

"""kopf wiring: settings, handler registration, the reconcile ticker."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from loocv_operator.kube.handlers import deletes_results, register, tick
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

    def reconcile(self, uid: str) -> None:
        self.reconciled.append(uid)

    def phase_counts(self) -> dict[str, int]:
        return {"Running": 2}


def test_a_tick_reconciles_every_tracked_run_on_the_pool() -> None:
    service = FakeService()
    with ThreadPoolExecutor(2) as pool:
        asyncio.run(tick(service, pool))  # type: ignore[arg-type]
    assert sorted(service.reconciled) == ["a", "b"]


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

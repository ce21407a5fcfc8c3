"""kopf handlers for LOOCVRun: thin, each hands the body to the run service.

No handler watches Jobs (that would put finalizers and annotations on every child and pull
every Job in the cluster into memory): the service lists a run's Jobs with a server-side
label selector when the run is due, from one ticker task that reconciles the tracked runs
on a bounded thread pool. A finalizer is added only to runs with spec.storage.deleteOnDelete,
whose stored results must be cleaned up before the run goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from .crd import GROUP, PLURAL, VERSION
from .service import RetryLater, RunService
from .settings import Settings

log = logging.getLogger("loocv.operator")
RESOURCE = (GROUP, VERSION, PLURAL)


def _guarded(action: Callable[[Mapping[str, Any]], None], body: Mapping[str, Any]) -> None:
    try:
        action(body)
    except RetryLater as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc


def deletes_results(spec: Mapping[str, Any], **_: Any) -> bool:
    return bool((spec.get("storage") or {}).get("deleteOnDelete"))


class Ticker:
    """Reconciles each tracked run when it is due, on the bounded pool.

    Runs are independent: a run whose reconcile is slow (a big collect) is skipped while in
    flight and never holds back the others. The service says when a run is due: every
    ``pollInterval`` while it has batches waiting for a Job slot, else every status interval.
    """

    def __init__(self, service: RunService, executor: ThreadPoolExecutor) -> None:
        self.service = service
        self.executor = executor
        self.in_flight: dict[str, asyncio.Future[None]] = {}

    def tick(self) -> list[str]:
        """Start a reconcile for every due run not already in flight; return their uids."""
        loop = asyncio.get_running_loop()
        for uid, future in list(self.in_flight.items()):
            if future.done():
                del self.in_flight[uid]
        started = []
        for uid in self.service.due():
            if uid not in self.in_flight:
                self.in_flight[uid] = loop.run_in_executor(
                    self.executor, self.service.reconcile, uid
                )
                started.append(uid)
        self.service.telemetry.set_phases(self.service.phase_counts())
        return started

    async def drain(self) -> None:
        await asyncio.gather(*self.in_flight.values(), return_exceptions=True)

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick()
            except Exception:  # a bad pass must not stop the next one
                log.exception("reconcile pass failed")


def register(registry: kopf.OperatorRegistry, service: RunService, settings: Settings) -> None:
    """Put the operator's handlers into ``registry``."""

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """As main.kube_client logs in: in a pod, the service account at
        $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (kopf's login_with_service_account
        assumes https://kubernetes.default.svc, which needs cluster DNS); else the kubeconfig."""
        return kopf.login_via_client(**kwargs)

    @kopf.on.create(*RESOURCE, registry=registry)
    def created(body: kopf.Body, **_: Any) -> None:
        _guarded(service.admit, body)

    @kopf.on.resume(*RESOURCE, registry=registry)
    def resumed(body: kopf.Body, **_: Any) -> None:
        _guarded(service.admit, body)

    @kopf.on.update(*RESOURCE, field="spec", registry=registry)
    def spec_updated(body: kopf.Body, **_: Any) -> None:
        _guarded(service.spec_changed, body)

    @kopf.on.event(*RESOURCE, registry=registry)
    def watched(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        """Every watch event: the status feeds the per-run gauges (no patch, no annotation)."""
        service.telemetry.observe_run(body, deleted=event.get("type") == "DELETED")

    @kopf.on.delete(*RESOURCE, optional=True, registry=registry)
    def deleted(body: kopf.Body, **_: Any) -> None:
        service.forget(body)

    @kopf.on.delete(*RESOURCE, when=deletes_results, registry=registry)
    def results_deleted(body: kopf.Body, **_: Any) -> None:
        _guarded(service.delete_results, body)

    @kopf.on.startup(registry=registry)
    async def start_ticker(memo: kopf.Memo, **_: Any) -> None:
        executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="loocv-reconcile")
        memo["executor"] = executor
        memo["ticker"] = asyncio.create_task(
            Ticker(service, executor).run(min(settings.poll_interval, settings.status_interval)),
            name="loocv-ticker",
        )

    @kopf.on.cleanup(registry=registry)
    async def stop_ticker(memo: kopf.Memo, **_: Any) -> None:
        task = memo.get("ticker")
        if isinstance(task, asyncio.Task):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        executor = memo.get("executor")
        if isinstance(executor, ThreadPoolExecutor):
            executor.shutdown(wait=False, cancel_futures=True)
        service.close()

"""Following a LOOCVRun until it ends, with the same progress a local run shows.

Polling its status every couple of seconds is enough for a run that lasts minutes and
needs no watch permission. On a terminal the progress is a bar; in CI logs, a line at every
phase change and every ten seconds, never carriage returns.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from ..spec import API_GROUP, API_VERSION
from .submit import PLURAL, ClusterError, RunAddress

POLL_SECONDS = 2.0
LOG_EVERY_SECONDS = 10.0


class FollowTimeout(Exception):
    """The run did not end within --timeout (it goes on)."""


def conditions(resource: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = (resource.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in found}


def is_over(resource: Mapping[str, Any]) -> bool:
    status = resource.get("status") or {}
    invalid = conditions(resource).get("Invalid", {}).get("status") == "True"
    return invalid or status.get("phase") in ("Succeeded", "Failed")


def get_run(api: Any, address: RunAddress) -> dict[str, Any]:
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    try:
        resource: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
            API_GROUP, API_VERSION, address.namespace, PLURAL, address.name
        )
    except ApiException as exc:
        if exc.status == 404:
            raise ClusterError(
                f"loocvrun/{address.name} not found in {address.namespace} (deleted?)"
            ) from None
        raise ClusterError(f"reading loocvrun/{address.name} failed: {exc.reason}") from None
    except HTTPError as exc:
        raise ClusterError(f"cannot reach the cluster: {exc}") from None
    return resource


class Progress:
    """A bar on a terminal, a line every LOG_EVERY_SECONDS elsewhere."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self.bar: Any = None
        self.last_line = float("-inf")
        self.last_text = ""

    def show(self, resource: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        status = resource.get("status") or {}
        folds = status.get("folds") or {}
        done, total = int(folds.get("done") or 0), int(folds.get("total") or 0)
        phase = status.get("phase") or "Pending"
        if self.tty:
            from tqdm import tqdm

            if self.bar is None and total:
                self.bar = tqdm(total=total, unit="fold", file=self.stream)
            if self.bar is not None:
                self.bar.n = done
                self.bar.set_postfix_str(str(phase), refresh=True)
            return
        text = f"{phase}: {done}/{total or '?'} folds done, {folds.get('failed') or 0} failed"
        now = time.monotonic()
        new_phase = not self.last_text.startswith(f"{phase}:")
        if text != self.last_text and (new_phase or now - self.last_line >= LOG_EVERY_SECONDS):
            print(text, file=self.stream, flush=True)
            self.last_line, self.last_text = now, text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def follow(
    api: Any,
    address: RunAddress,
    timeout: float | None,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The run's resource once it has ended (Succeeded, Failed or Invalid)."""
    start = time.monotonic()
    try:
        while True:
            resource = get_run(api, address)
            progress.show(resource)
            if is_over(resource):
                return resource
            if timeout is not None and time.monotonic() - start > timeout:
                raise FollowTimeout(
                    f"loocvrun/{address.name} has not ended after {timeout:.0f} s; it goes "
                    f"on: {address.kubectl('get')}"
                )
            sleep(POLL_SECONDS)
    finally:
        progress.close()


def stderr_progress(enabled: bool) -> Progress:
    return Progress(sys.stderr, enabled)

"""kmock's Kubernetes emulator, made a little more like an API server, on a thread.

kmock stores objects and serves list/watch/get/create/patch/delete, and nothing more. What
an operator relies on beyond that is added here (and only that): uid, creationTimestamp,
generation (bumped on spec changes) and resourceVersion; generateName; equality-based label
selectors on lists; admission of LOOCVRuns against the CRD's openAPIV3Schema (strict field
validation, as kubectl does by default). Every request is logged in order, with its outcome,
so tests can replay what the operator did (Job windows, status patch rate, duplicates).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import jsonschema
import kmock
from kmock._internal import rendering

from loocv_operator.kube.crd import build_crd

T = TypeVar("T")
CRD_RESOURCE = "apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass(frozen=True)
class Entry:
    """One request the emulated API server answered."""

    seq: int
    method: str
    action: str | None
    resource: str | None  # plural
    namespace: str | None
    name: str | None
    subresource: str | None
    params: dict[str, str]
    data: Any
    status: int
    time: float = 0.0


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The CRD schema as the API server applies it with strict field validation: unknown
    fields are errors (a structural schema cannot say additionalProperties: false)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {k: strict_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            out[key] = strict_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict_schema(v) for v in value]
        elif key.startswith("x-kubernetes-"):
            continue
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            # OpenAPI v3.0 (Kubernetes): a flag on minimum/maximum; draft 7: the bound itself
            if value:
                out[key] = schema["minimum" if key == "exclusiveMinimum" else "maximum"]
        else:
            out[key] = value
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if key in out:
            out.pop(bound, None)
    if "properties" in schema and schema.get("type") == "object":
        out["additionalProperties"] = False
    return out


def _labels_match(labels: Mapping[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class Emulator(kmock.KubernetesEmulator):
    """See the module docstring."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.log: list[Entry] = []
        self._seq = itertools.count()
        self._versions = itertools.count(1)
        crd = build_crd()
        version = crd["spec"]["versions"][0]
        self.run_schema = strict_schema(version["schema"]["openAPIV3Schema"])
        self.clock = 0.0

    async def _handle(self, request: rendering.Request) -> Any:
        self._enrich(request)
        status = 500
        try:
            self._admit(request)
            response = await super()._handle(request)
            created = request.action == kmock.action.CREATE and response.status == 200
            if created and not response.prepared:
                response.set_status(201)  # kmock answers 200; clients expect 201
            status = int(response.status)
            return response
        except kmock.KubernetesError as exc:
            status = exc.status
            raise
        finally:
            self.log.append(
                Entry(
                    seq=next(self._seq),
                    method=getattr(request.method, "name", str(request.method)),
                    action=request.action.name if request.action is not None else None,
                    resource=request.resource.plural if request.resource is not None else None,
                    namespace=request.namespace,
                    name=_name_of(request),
                    subresource=request.subresource,
                    params=dict(request.params),
                    data=request.data,
                    status=status,
                    time=asyncio.get_running_loop().time(),
                )
            )

    def _enrich(self, request: rendering.Request) -> None:
        if request.resource is None or not isinstance(request.data, dict):
            return
        meta = request.data.setdefault("metadata", {})
        if not isinstance(meta, dict):
            return
        action = request.action
        if action == kmock.action.CREATE:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + secrets.token_hex(3)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            meta.setdefault("generation", 1)
            if request.namespace:
                meta.setdefault("namespace", request.namespace)
            meta["resourceVersion"] = str(next(self._versions))
        elif action == kmock.action.UPDATE and request.name:
            meta["resourceVersion"] = str(next(self._versions))
            if request.subresource is None and "spec" in request.data:
                key = (request.resource, request.namespace, request.name)
                current = self.objects[key] if key in self.objects else None  # noqa: SIM401
                if current is not None and not current.deleted:
                    old = current.get("spec")
                    if _changed(old, request.data["spec"]):
                        meta["generation"] = (
                            int(current.get("metadata", {}).get("generation", 1)) + 1
                        )

    def _admit(self, request: rendering.Request) -> None:
        if (
            request.action == kmock.action.CREATE
            and request.resource is not None
            and request.resource.plural == "loocvruns"
        ):
            validator = jsonschema.Draft7Validator(self.run_schema)
            errors = sorted(validator.iter_errors(request.data), key=lambda e: list(e.path))
            if errors:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.path) or '<root>'}: {e.message}"
                    for e in errors[:5]
                )
                raise kmock.KubernetesError(status=422, reason="Invalid", message=detail)

    async def _serve_list(self, request: rendering.Request) -> Any:
        result = await super()._serve_list(request)
        selector = request.params.get("labelSelector")
        if selector and isinstance(result, dict):
            result["items"] = [
                item
                for item in result["items"]
                if _labels_match((item.get("metadata") or {}).get("labels") or {}, selector)
            ]
        return result


def _name_of(request: rendering.Request) -> str | None:
    if request.name:
        return request.name
    data = request.data if isinstance(request.data, dict) else {}
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    name = (meta or {}).get("name")
    return str(name) if name else None


def _changed(old: Any, patch: Any) -> bool:
    """Would merging ``patch`` into ``old`` change it?"""
    if isinstance(patch, dict):
        if not isinstance(old, dict):
            return True
        return any(
            (key in old) if value is None else _changed(old.get(key), value)
            for key, value in patch.items()
        )
    return bool(old != patch)


@dataclass
class Cluster:
    """The emulator served on 127.0.0.1 from its own event loop thread."""

    emulator: Emulator = field(init=False)
    url: str = field(init=False)
    _loop: asyncio.AbstractEventLoop = field(init=False)
    _thread: threading.Thread = field(init=False)
    _stop: asyncio.Event = field(init=False)

    def start(self) -> Cluster:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._stop = asyncio.Event()
            async with Emulator() as emulator, kmock.Server(emulator) as server:
                self.emulator = emulator
                self.url = str(server.url).rstrip("/")
                register_resources(emulator)
                ready.set()
                await self._stop.wait()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())

        self._thread = threading.Thread(target=run, name="kmock", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the emulated API server did not start")
        return self

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    @property
    def log(self) -> list[Entry]:
        return list(self.emulator.log)


def register_resources(emulator: Emulator) -> None:
    """Discovery for what the operator and the test driver use, the CRD from crds/."""
    crd = build_crd()
    names = crd["spec"]["names"]
    version = crd["spec"]["versions"][0]
    emulator.resources[f"{crd['spec']['group']}/{version['name']}/{names['plural']}"] = (
        kmock.ResourceInfo(
            kind=names["kind"],
            singular=names["singular"],
            namespaced=True,
            shortnames=set(names["shortNames"]),
            categories=set(names["categories"]),
            subresources=set(version.get("subresources", {})),
            verbs={"create", "delete", "get", "list", "patch", "update", "watch"},
        )
    )
    verbs = {"create", "delete", "get", "list", "patch", "update", "watch"}
    for key, kind, subresources in (
        ("batch/v1/jobs", "Job", {"status"}),
        ("v1/pods", "Pod", {"status"}),
        ("v1/events", "Event", set()),
        ("v1/secrets", "Secret", set()),
    ):
        emulator.resources[key] = kmock.ResourceInfo(
            kind=kind, namespaced=True, verbs=verbs, subresources=subresources
        )
    emulator.resources["v1/namespaces"] = kmock.ResourceInfo(
        kind="Namespace", namespaced=False, verbs=verbs
    )
    emulator.resources[CRD_RESOURCE] = kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False, verbs=verbs
    )
    emulator.objects[CRD_RESOURCE, None, crd["metadata"]["name"]] = crd

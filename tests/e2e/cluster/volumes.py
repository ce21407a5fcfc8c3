"""A pod's volumes as the kubelet sets them up, as per-pod directories on this machine.

Why: an operator in a pod finds its API credentials in the files the ServiceAccount
admission plugin asks for (a projected volume at /var/run/secrets/kubernetes.io/
serviceaccount: a bound token from the TokenRequest API, the cluster CA from the
``kube-root-ca.crt`` ConfigMap, the namespace from the downward API) and writes to an
emptyDir when its root filesystem is read-only. The shim materialises each volume of a pod
into ``<sandbox>/volumes/<name>`` (this module) and bind-mounts them where the containers'
``volumeMounts`` say, in a private mount namespace per container (``podmounts``).

Supported: emptyDir, configMap, secret, downwardAPI (fieldRef), projected (those three
plus serviceAccountToken) and hostPath. Anything else, or a source that does not exist yet,
raises ``VolumeError``: the pod stays ContainerCreating with the message, as with a kubelet
whose mount fails, and the shim tries again.

Not done: token rotation (a token lives ``expirationSeconds``, 1 h by default, and a
pod-bound default token is extended by the API server), file ownership (every pod process
runs as root here), the ``..data`` symlink swap the kubelet uses for atomic updates.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .podenv import EnvConfigError, Lookup, field_path

# (namespace, service account, TokenRequest body) -> the token.
TokenRequester = Callable[[str, str, dict[str, Any]], str]

DEFAULT_MODE = 0o644
EMPTY_DIR_MODE = 0o777  # as the kubelet makes an emptyDir: writable by any uid


class VolumeError(Exception):
    """A volume cannot be set up (yet): kubelet's FailedMount; the pod waits."""


@dataclass(frozen=True)
class Mount:
    """One bind mount for a container: a host path onto a path in its view."""

    source: str
    target: str
    read_only: bool

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "readOnly": self.read_only}


def _relative(path: str) -> PurePosixPath:
    """A key or item path inside a volume: relative, no '..' (as the API server validates)."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise VolumeError(f"invalid path {path!r} in a volume")
    return rel


def _write(root: Path, path: str, data: bytes, mode: int) -> None:
    target = root / _relative(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(target)


def _object_data(obj: Mapping[str, Any], kind: str) -> dict[str, bytes]:
    """Secret data is base64; a ConfigMap has data (text) and binaryData (base64)."""
    out: dict[str, bytes] = {}
    if kind == "secret":
        for key, value in (obj.get("data") or {}).items():
            out[key] = base64.b64decode(value)
        return out
    for key, value in (obj.get("data") or {}).items():
        out[key] = str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        out[key] = base64.b64decode(value)
    return out


class PodVolumes:
    """Materialises the volumes of one pod under ``root`` and answers a container's mounts."""

    def __init__(
        self,
        pod: Mapping[str, Any],
        root: Path,
        lookup: Lookup,
        request_token: TokenRequester,
    ) -> None:
        self.pod = pod
        self.root = root
        self.lookup = lookup
        self.request_token = request_token
        self.paths: dict[str, str] = {}

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    def prepare(self) -> dict[str, str]:
        """Set up every volume of the pod; raises VolumeError if one cannot be (yet)."""
        volumes = (self.pod.get("spec") or {}).get("volumes") or []
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)  # tokens and secrets: only root (the shim and its pods) reads them
        paths: dict[str, str] = {}
        for volume in volumes:
            name = volume["name"]
            paths[name] = self._prepare_one(name, volume)
        self.paths = paths
        return paths

    def _fresh_dir(self, name: str, mode: int = 0o755) -> Path:
        path = self.root / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        path.chmod(mode)
        return path

    def _prepare_one(self, name: str, volume: Mapping[str, Any]) -> str:
        if "emptyDir" in volume:
            path = self.root / name
            if not path.exists():  # an emptyDir lives as long as the pod: never reset it
                path.mkdir(parents=True)
                path.chmod(EMPTY_DIR_MODE)
            return str(path)
        if "hostPath" in volume:
            host = volume["hostPath"]["path"]
            kind = volume["hostPath"].get("type") or ""
            if kind in ("DirectoryOrCreate",):
                Path(host).mkdir(parents=True, exist_ok=True)
            if not os.path.exists(host):
                raise VolumeError(f'volume "{name}": hostPath {host} does not exist')
            return str(host)
        if "configMap" in volume:
            src = volume["configMap"]
            path = self._fresh_dir(name)
            self._keyed(path, "configmap", src, src.get("defaultMode", DEFAULT_MODE))
            return str(path)
        if "secret" in volume:
            src = dict(volume["secret"])
            src["name"] = src.get("secretName", "")
            path = self._fresh_dir(name)
            self._keyed(path, "secret", src, src.get("defaultMode", DEFAULT_MODE))
            return str(path)
        if "downwardAPI" in volume:
            src = volume["downwardAPI"]
            path = self._fresh_dir(name)
            self._downward(path, src, src.get("defaultMode", DEFAULT_MODE))
            return str(path)
        if "projected" in volume:
            projected = volume["projected"]
            mode = projected.get("defaultMode", DEFAULT_MODE)
            path = self._fresh_dir(name)
            for source in projected.get("sources") or []:
                self._projected(path, source, mode)
            return str(path)
        kinds = sorted(k for k in volume if k != "name")
        raise VolumeError(f'volume "{name}": type {kinds} is not supported by the kubelet shim')

    def _keyed(self, path: Path, kind: str, src: Mapping[str, Any], mode: int) -> None:
        """configMap / secret (volume or projected source): all keys, or the listed items."""
        obj = self.lookup(kind, self.namespace, src.get("name", ""))
        optional = bool(src.get("optional"))
        if obj is None:
            if optional:
                return
            raise VolumeError(f'{kind} "{src.get("name")}" not found')
        data = _object_data(obj, kind)
        items = src.get("items")
        if not items:
            for key, value in data.items():
                _write(path, key, value, mode)
            return
        for item in items:
            key = item["key"]
            if key not in data:
                if optional:
                    continue
                raise VolumeError(f'{kind} "{src.get("name")}": no key {key!r}')
            _write(path, item["path"], data[key], item.get("mode", mode))

    def _downward(self, path: Path, src: Mapping[str, Any], mode: int) -> None:
        for item in src.get("items") or []:
            ref = item.get("fieldRef")
            if ref is None:
                raise VolumeError(
                    f"downwardAPI item {item.get('path')!r}: only fieldRef is supported by the shim"
                )
            try:
                value = field_path(self.pod, ref["fieldPath"])
            except EnvConfigError as exc:
                raise VolumeError(str(exc)) from None
            _write(path, item["path"], value.encode(), item.get("mode", mode))

    def _projected(self, path: Path, source: Mapping[str, Any], mode: int) -> None:
        if "serviceAccountToken" in source:
            self._token(path, source["serviceAccountToken"], mode)
        elif "configMap" in source:
            self._keyed(path, "configmap", source["configMap"], mode)
        elif "secret" in source:
            self._keyed(path, "secret", source["secret"], mode)
        elif "downwardAPI" in source:
            self._downward(path, source["downwardAPI"], mode)
        else:
            kinds = sorted(source)
            raise VolumeError(f"projected source {kinds} is not supported by the kubelet shim")

    def _token(self, path: Path, src: Mapping[str, Any], mode: int) -> None:
        """A token bound to this pod, from the TokenRequest API, as the kubelet asks for it."""
        meta = self.pod["metadata"]
        account = (self.pod.get("spec") or {}).get("serviceAccountName") or "default"
        spec: dict[str, Any] = {
            "expirationSeconds": int(src.get("expirationSeconds") or 3600),
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if src.get("audience"):  # none: the API server's own audiences
            spec["audiences"] = [src["audience"]]
        try:
            token = self.request_token(self.namespace, account, {"spec": spec})
        except Exception as exc:
            raise VolumeError(
                f"token for service account {self.namespace}/{account}: {exc}"
            ) from None
        _write(path, src.get("path") or "token", token.encode(), mode)

    def mounts(self, container: Mapping[str, Any]) -> list[Mount]:
        """The container's volumeMounts as bind mounts (subPath included)."""
        out: list[Mount] = []
        for vm in container.get("volumeMounts") or []:
            name = vm["name"]
            if name not in self.paths:
                raise VolumeError(f'volumeMount "{name}": no such volume in the pod')
            source = self.paths[name]
            sub = vm.get("subPath") or ""
            if sub:
                source = str(Path(source) / _relative(sub))
                if not os.path.exists(source):  # the kubelet creates a missing subPath dir
                    Path(source).mkdir(parents=True)
            out.append(Mount(source, vm["mountPath"], bool(vm.get("readOnly"))))
        return out

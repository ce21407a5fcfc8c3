"""Build a container's process environment and argv the way the kubelet does.

Why: the operator's pods receive their configuration through ``env`` (plain
values, ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``) and ``envFrom``;
running them as local processes is only faithful if those are resolved like a
kubelet would, including ``$(VAR)`` expansion in env values, command and args.
Works on raw pod dicts (the API's JSON) so it does not depend on the Python
client's model classes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

Pod = Mapping[str, Any]
# (kind, namespace, name) -> object dict, or None when it does not exist.
Lookup = Callable[[str, str, str], "dict[str, Any] | None"]


class EnvConfigError(Exception):
    """A non-optional env source is missing (kubelet: CreateContainerConfigError)."""


_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)|\$\$")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known vars are replaced, ``$$`` escapes ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _VAR_REF.sub(sub, value)


def field_path(pod: Pod, path: str) -> str:
    meta = pod.get("metadata", {})
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
        "status.hostIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
        "status.podIP": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
    }
    if path not in simple:
        raise EnvConfigError(f"unsupported fieldRef fieldPath {path!r}")
    return str(simple[path])


def _resource_field(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    return str(value) if value is not None else "0"


def _data(obj: Mapping[str, Any], kind: str) -> dict[str, str]:
    if kind == "secret":
        return {
            k: base64.b64decode(v).decode(errors="replace")
            for k, v in (obj.get("data") or {}).items()
        }
    data = dict(obj.get("data") or {})
    data.update(
        {
            k: base64.b64decode(v).decode(errors="replace")
            for k, v in (obj.get("binaryData") or {}).items()
        }
    )
    return data


def _key_ref(lookup: Lookup, namespace: str, kind: str, ref: Mapping[str, Any]) -> str | None:
    obj = lookup(kind, namespace, ref["name"])
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise EnvConfigError(f'{kind} "{ref["name"]}" not found')
    data = _data(obj, kind)
    if ref["key"] not in data:
        if optional:
            return None
        raise EnvConfigError(f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}")
    return data[ref["key"]]


def container_env(
    pod: Pod, container: Mapping[str, Any], base: Mapping[str, str], lookup: Lookup
) -> dict[str, str]:
    """The environment a kubelet would give ``container``, on top of ``base``."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("secret", "secretRef"), ("configmap", "configMapRef")):
            ref = source.get(key)
            if not ref:
                continue
            obj = lookup(kind, namespace, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    continue
                raise EnvConfigError(f'{kind} "{ref["name"]}" not found')
            for k, v in _data(obj, kind).items():
                env[prefix + k] = v
    declared: dict[str, str] = {}
    for var in container.get("env") or []:
        name = var["name"]
        source = var.get("valueFrom")
        if source is None:
            # Expansion sees only vars declared earlier in `env`, plus service vars (base).
            value: str | None = expand(var.get("value", ""), {**base, **declared})
        elif "fieldRef" in source:
            value = field_path(pod, source["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in source:
            value = _key_ref(lookup, namespace, "secret", source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            value = _key_ref(lookup, namespace, "configmap", source["configMapKeyRef"])
        elif "resourceFieldRef" in source:
            value = _resource_field(container, source["resourceFieldRef"])
        else:
            raise EnvConfigError(f"unsupported valueFrom for env {name}: {sorted(source)}")
        if value is not None:
            env[name] = value
            declared[name] = value
    return env


def container_argv(
    container: Mapping[str, Any], env: Mapping[str, str], entrypoints: Mapping[str, list[str]]
) -> list[str]:
    """command + args with $(VAR) expansion; ``entrypoints`` stands in for image ENTRYPOINTs."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if not command:
        image = container.get("image", "")
        command = list(entrypoints.get(image) or entrypoints.get(image.split(":")[0]) or [])
    if not command:
        raise EnvConfigError(
            f"container {container.get('name')!r} has no command and image "
            f"{container.get('image')!r} has no entrypoint registered with the kubelet shim"
        )
    return [expand(a, env) for a in command + args]

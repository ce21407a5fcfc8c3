"""Set up one container's filesystem view, then exec its command (stdlib only).

Run by the kubelet shim inside a fresh private mount namespace
(``unshare --mount --propagation private``), as root::

    python3 -I -S podmounts.py '<json>' command [args...]

with ``<json>`` = ``{"mounts": [{"source", "target", "readOnly"}], "readOnlyRoot": bool,
"keep": [host paths that must stay visible, e.g. the virtualenv]}``.
Every mount source is opened first (``O_PATH``) and bound from ``/proc/self/fd/N``, so a
mount over /tmp cannot hide the per-pod directories that live under /tmp on the host.
Targets are mounted parents first; a missing target is created (a directory, or an empty
file for a file), as a container runtime does. ``readOnly`` mounts and, with
``readOnlyRoot``, the root filesystem are remounted read-only: only in this namespace.
The process keeps its pid through both execs (unshare, then this), so the shim's
signals and exit code are the command's own. Exit 128 (a runtime's StartError) if the
command cannot be started.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source is not None else None
    if _libc.mount(src, target.encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target} (flags {flags:#x}): {os.strerror(err)}")


def _kept_flags(path: str) -> int:
    """A read-only bind remount must repeat nosuid/nodev/noexec, or the kernel refuses it."""
    f = os.statvfs(path).f_flag
    return (
        (MS_NOSUID if f & os.ST_NOSUID else 0)
        | (MS_NODEV if f & os.ST_NODEV else 0)
        | (MS_NOEXEC if f & os.ST_NOEXEC else 0)
    )


def _read_only(path: str) -> None:
    _mount(None, path, MS_REMOUNT | MS_BIND | MS_RDONLY | _kept_flags(path))


def _under(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip("/") + "/")


def setup(spec: dict[str, object]) -> None:
    mounts = list(spec.get("mounts") or [])  # type: ignore[call-overload]
    opened = []
    for m in mounts:
        fd = os.open(m["source"], os.O_PATH | os.O_CLOEXEC)
        opened.append((m, fd))
    # Host paths the process itself needs (the virtualenv, the checkout). A clone under /tmp
    # would vanish under a pod's /tmp emptyDir: open them now, bind them back afterwards.
    keep = [
        (os.path.normpath(k), os.open(k, os.O_PATH | os.O_CLOEXEC))
        for k in spec.get("keep") or []  # type: ignore[attr-defined]
        if os.path.isdir(k)
    ]
    opened.sort(key=lambda pair: len(os.path.normpath(pair[0]["target"]).split("/")))
    for m, fd in opened:
        source = f"/proc/self/fd/{fd}"
        target = os.path.normpath(m["target"])
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                with open(target, "a"):
                    pass
        _mount(source, target, MS_BIND | MS_REC)
        if m.get("readOnly"):
            _read_only(target)
        os.close(fd)
    targets = [os.path.normpath(m["target"]) for m in mounts]
    for path, fd in keep:
        if any(_under(path, t) and path != t for t in targets):
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, MS_BIND | MS_REC)
        os.close(fd)
    if spec.get("readOnlyRoot"):
        _read_only("/")


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: podmounts.py SPEC_JSON COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        setup(json.loads(argv[1]))
    except OSError as exc:
        print(f"kubelet-shim: cannot set up the container's mounts: {exc}", file=sys.stderr)
        return 128
    command = argv[2:]
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"kubelet-shim: failed to start {command!r}: {exc}", file=sys.stderr)
    return 128


if __name__ == "__main__":
    sys.exit(main(sys.argv))

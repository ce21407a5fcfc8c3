"""A real S3 server for the e2e tier and the cluster benchmark: versitygw, POSIX backend.

Why: moto's server mode is a Python emulation; our users run MinIO, Ceph RGW, SeaweedFS or
AWS S3. versitygw (github.com/versity/versitygw) is a production S3 gateway, built from the
Go module proxy by ``controlplane/build.sh`` and cached beside the control-plane binaries.
Each ``S3Server`` has its own data directory (one directory per bucket, objects as files,
metadata in extended attributes), its own root access key, a fixed port (so ``stop()`` then
``start()`` is an outage the clients ride out, and the objects survive it), and is stopped
by pid. ``bind`` is where it listens (``0.0.0.0`` in the real node's namespace, so pods reach
it through the bridge at ``host``); ``virtual_domain`` turns on virtual-host-style addressing
(``<bucket>.<domain>``) next to path style.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .binaries import Binaries, ensure_binaries
from .processes import die_with_parent, stop_pid, wait_until

HEALTH = "/_loocv/health"
ROOT_ACCESS, ROOT_SECRET = "e2e", "e2e-secret"
# One line of the access log (AWS's server access log format): owner, bucket, [time],
# remote ip, requester (the access key), request id, operation, key, request-URI, status.
_LOG_LINE = re.compile(r"^\S+ \S+ \[[^\]]*\] \S+ (?P<key>\S+) \S+ (?P<op>\S+) \S+ \S+ (?P<st>\d+) ")
# versitygw's operation names, as the request kinds the benchmark reports (moto's labels).
_KINDS = {
    "s3_ListObjectsV2": "LIST",
    "s3_ListObjects": "LIST",
    "s3_GetObject": "GET",
    "s3_HeadObject": "HEAD",
    "s3_HeadBucket": "HEAD",
    "s3_PutObject": "PUT",
    "s3_CreateBucket": "PUT",
    "s3_DeleteObjects": "POST",
    "s3_DeleteObject": "DELETE",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def request_counts(log_text: str) -> dict[str, Counter[str]]:
    """Requests per access key, as ``{"KIND status": n}`` (``"GET 404"``), from the log."""
    out: dict[str, Counter[str]] = {}
    for line in log_text.splitlines():
        found = _LOG_LINE.match(line)
        if found is None:
            continue
        kind = _KINDS.get(found["op"], found["op"].removeprefix("s3_"))
        out.setdefault(found["key"], Counter())[f"{kind} {found['st']}"] += 1
    return out


@dataclass
class S3Server:
    """versitygw on a fixed port with its own root key; buckets are directories of ``data``."""

    workdir: Path
    bind: str = "127.0.0.1"
    host: str = "127.0.0.1"  # the address clients (and pods) use
    port: int = 0
    access_key: str = ROOT_ACCESS
    secret_key: str = ROOT_SECRET
    region: str = "us-east-1"
    virtual_domain: str | None = None
    users: dict[str, str] = field(default_factory=dict)  # more access keys (role admin)
    access_log: bool = False  # every request, by access key (the benchmark counts them)
    binaries: Binaries | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.port = self.port or free_port(self.bind if self.bind != "0.0.0.0" else "")
        self.data = self.workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "versitygw.log"
        self.access_log_path = self.workdir / "access.log"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def credentials(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def argv(self, binary: Path) -> list[str]:
        args = [
            str(binary),
            "--port", f"{self.bind}:{self.port}",
            "--region", self.region,
            "--health", HEALTH,
            "--quiet",
        ]  # fmt: skip
        if self.virtual_domain:
            args += ["--virtual-domain", self.virtual_domain]
        if self.access_log:
            args += ["--access-log", str(self.access_log_path)]
        if self.users:
            iam = self.workdir / "iam"
            iam.mkdir(exist_ok=True)
            accounts = {
                k: {"access": k, "secret": s, "role": "admin"} for k, s in self.users.items()
            }
            (iam / "users.json").write_text(json.dumps({"accessAccounts": accounts}))
            args += ["--iam-dir", str(iam)]
        return [*args, "posix", str(self.data)]

    def start(self, timeout: float = 30.0) -> S3Server:
        binary = (self.binaries or ensure_binaries(s3_only=True)).versitygw
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "ROOT_ACCESS_KEY_ID": self.access_key,
               "ROOT_SECRET_ACCESS_KEY": self.secret_key}  # fmt: skip
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                die_with_parent(self.argv(binary)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_until(self._healthy, timeout, interval=0.1, what=f"versitygw on {self.endpoint}")
        return self

    def _healthy(self) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            raise RuntimeError(f"versitygw exited {self.popen.returncode}: {self.log_tail()}")
        url = f"http://127.0.0.1:{self.port}{HEALTH}"
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200

    def stop(self) -> None:
        if self.popen is not None:
            stop_pid(self.popen, grace=5)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def requests(self) -> dict[str, Counter[str]]:
        """What the access log holds so far, per access key (``access_log=True``)."""
        try:
            return request_counts(self.access_log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return {}

    def client(
        self, addressing_style: str = "path", access_key: str | None = None, **config: Any
    ) -> Any:
        import boto3
        from botocore.config import Config

        key = access_key or self.access_key
        s3_config: Any = {"addressing_style": addressing_style}
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=key,
            aws_secret_access_key=self.secret_key if key == self.access_key else self.users[key],
            config=Config(s3=s3_config, **config),
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

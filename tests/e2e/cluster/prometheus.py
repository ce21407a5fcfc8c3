"""A real Prometheus (Debian's `prometheus` binary) on loopback, scraping one target.

Self-contained: give it the target's host:port and the rule files to load; it gets its own
config and TSDB directory, scrapes every second under job="loocv-operator" (the job the
chart's ServiceMonitor produces and its alerts select), evaluates rules every second, and is
stopped by pid (processes.ProcessSet). `query_range` and `alerts` read its HTTP API.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .processes import ManagedProcess, ProcessSet, wait_until

JOB = "loocv-operator"


def binary() -> str | None:
    return shutil.which("prometheus")


@dataclass
class Prometheus:
    url: str
    process: ManagedProcess
    processes: ProcessSet

    def _get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as answer:
            body = json.loads(answer.read())
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/api/v1/query", query=expr)["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[Any]:
        data = self._get(
            "/api/v1/query_range",
            query=expr,
            start=f"{start:.3f}",
            end=f"{end:.3f}",
            step=f"{step:g}",
        )
        result: list[Any] = data["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self._get("/api/v1/alerts")["alerts"]
        return alerts

    def rules(self) -> list[dict[str, Any]]:
        return [r for g in self._get("/api/v1/rules")["groups"] for r in g["rules"]]

    def targets_up(self) -> bool:
        active = self._get("/api/v1/targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def stop(self) -> None:
        self.processes.stop_all()


def start_prometheus(
    workdir: Path, port: int, target: str, rule_files: list[Path] | None = None
) -> Prometheus:
    """Start prometheus on 127.0.0.1:port scraping http://target/metrics."""
    found = binary()
    if found is None:
        raise RuntimeError("prometheus is missing: apt-get install prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(p) for p in rule_files or []],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    processes = ProcessSet(workdir / "logs")
    process = processes.start(
        "prometheus",
        [
            found,
            f"--config.file={path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, processes)

    def ready() -> bool:
        if not process.alive():
            raise RuntimeError(f"prometheus exited:\n{process.tail()}")
        with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as answer:
            return bool(answer.status == 200)

    try:
        wait_until(ready, 60, what="prometheus ready")
    except Exception:
        processes.stop_all()
        raise
    time.sleep(0.1)
    return prometheus

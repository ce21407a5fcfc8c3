"""The run plan (plan.json): everything a trainer needs to run its batch, and nothing else.

The planner (``loocv plan`` in a pod, or the local executor: planning.py) writes it when
the run starts; every trainer pod reads
it from the store, so a Job carries only the plan's address and its batch number. With
``foldsPerJob: auto`` the operator writes it once more, when the probe batch has been timed
(batching.py): the new batches are appended and the old ones keep their numbers; and again
after an OOM kill (kube/oom.py: the run's raised memory, or a split batch's second half
appended, and each step in ``oom``). The plan pins the
spec and the data by digest, so a trainer never computes folds for data the plan was not
made for. This module reads and writes plan.json only (the operator does): making a plan
needs the data and the model, and lives in planning.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from . import __version__
from .batching import MODE_EXPLICIT, Batching, consecutive, unbatched
from .errors import InvalidInput
from .folds import Fold
from .oomlog import OomLog
from .segments import LAYOUT_VERSION
from .spec import LOOCVRunSpec, parse_spec
from .store import RunLocation

PLAN_VERSION = 1


@dataclass(frozen=True)
class Plan:
    location: RunLocation
    spec: LOOCVRunSpec
    spec_digest: str
    dataset_digest: str
    n_samples: int
    task: str
    classes: list[Any] | None
    folds: list[Fold]
    batches: list[list[int]]
    created: float = field(default_factory=time.time)
    batching: Batching = field(default_factory=lambda: Batching(MODE_EXPLICIT))
    oom: OomLog = field(default_factory=OomLog)  # OOM remediation (kube/oom.py), if any

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    @property
    def pending(self) -> list[int]:
        """Folds in no batch yet: they wait for the probe batch to size them."""
        return unbatched(self.n_folds, self.batches)

    def sized(self, decision: Batching) -> Plan:
        """The plan with the waiting folds cut into batches of ``decision.folds_per_job``.
        Existing batches keep their numbers, so Jobs already created stay valid."""
        size = decision.folds_per_job or 1
        return replace(
            self, batches=self.batches + consecutive(self.pending, size), batching=decision
        )

    def to_json(self) -> bytes:
        data = {
            "version": PLAN_VERSION,
            "layout": LAYOUT_VERSION,
            "run": {
                "namespace": self.location.namespace,
                "name": self.location.name,
                "uid": self.location.uid,
            },
            "spec": self.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            "specDigest": self.spec_digest,
            "datasetDigest": self.dataset_digest,
            "nSamples": self.n_samples,
            "task": self.task,
            "classes": self.classes,
            "folds": [list(f.test) for f in self.folds],
            "batches": self.batches,
            "batching": self.batching.to_json(),
            "created": self.created,
        }
        if self.oom:
            data["oom"] = self.oom.to_json()
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str, source: str = "plan.json") -> Plan:
        try:
            data = json.loads(raw)
            if data.get("version") != PLAN_VERSION:
                raise InvalidInput(source, f"unsupported plan version {data.get('version')!r}")
            layout = data.get("layout", 1)
            if layout != LAYOUT_VERSION:
                raise InvalidInput(
                    source,
                    f"this run is stored in layout {layout} (1: one object per fold), and this "
                    f"loocv {__version__} reads layout {LAYOUT_VERSION} (segments) only; rerun "
                    "it (a new version stores it under a new key) or read it with the "
                    "version that wrote it",
                )
            run = data["run"]
            return cls(
                location=RunLocation(run["namespace"], run["name"], run["uid"]),
                spec=parse_spec(data["spec"]),
                spec_digest=data["specDigest"],
                dataset_digest=data["datasetDigest"],
                n_samples=int(data["nSamples"]),
                task=data["task"],
                classes=data["classes"],
                folds=[Fold(i, tuple(t)) for i, t in enumerate(data["folds"])],
                batches=[list(b) for b in data["batches"]],
                created=float(data.get("created", 0.0)),
                batching=Batching.from_json(data.get("batching") or {"mode": MODE_EXPLICIT}),
                oom=OomLog.from_json(data.get("oom")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(source, f"not a valid plan: {exc}") from None

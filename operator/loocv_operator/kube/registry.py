"""The runs the operator tracks, and the phase of every run it has seen (for the gauges)."""

from __future__ import annotations

import threading

from .runstate import TrackedRun


class Runs:
    def __init__(self) -> None:
        self._runs: dict[str, TrackedRun] = {}
        self._phases: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, run: TrackedRun) -> None:
        with self._lock:
            self._runs[run.ref.uid] = run

    def get(self, uid: str) -> TrackedRun | None:
        with self._lock:
            return self._runs.get(uid)

    def uids(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def drop(self, uid: str, phase: str | None) -> None:
        """No longer tracked; its last phase kept (None: forgotten, the run is deleted)."""
        with self._lock:
            self._runs.pop(uid, None)
            if phase is None:
                self._phases.pop(uid, None)
            else:
                self._phases[uid] = phase

    def set_phase(self, uid: str, phase: str) -> None:
        with self._lock:
            self._phases[uid] = phase

    def phase_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for phase in self._phases.values():
                counts[phase] = counts.get(phase, 0) + 1
        return counts

    def due(self, now: float, poll: float, interval: float) -> list[str]:
        """Every poll interval while something waits (a Job slot, the planner, the report),
        else every status interval."""
        with self._lock:
            runs = list(self._runs.values())
        return [
            r.ref.uid for r in runs if now - r.clocks.reconcile >= (poll if r.waiting else interval)
        ]

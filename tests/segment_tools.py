"""Test helpers for a run's stored segments: find the one holding a fold, take a fold out of
it (as if never written), or truncate it (as a torn object would be)."""

from __future__ import annotations

import json
from pathlib import Path

from loocv_operator.segments import segments_prefix
from loocv_operator.store import RunLocation


def segment_files(root: Path, location: RunLocation) -> list[Path]:
    return sorted((root / segments_prefix(location)).glob("*.json"))


def segment_holding(root: Path, location: RunLocation, index: int) -> Path:
    for path in segment_files(root, location):
        if index in json.loads(path.read_text())["indices"]:
            return path
    raise LookupError(f"no segment holds fold {index}")


def drop_fold(root: Path, location: RunLocation, index: int) -> None:
    """Rewrite the segment without that fold: the fold is missing, the others stay."""
    path = segment_holding(root, location, index)
    data = json.loads(path.read_text())
    data["folds"] = [f for f in data["folds"] if f["index"] != index]
    data["indices"] = [f["index"] for f in data["folds"]]
    path.write_text(json.dumps(data))


def truncate_segment(root: Path, location: RunLocation, index: int) -> list[int]:
    """Cut the segment holding ``index`` short; returns the folds it held (now unreadable)."""
    path = segment_holding(root, location, index)
    held: list[int] = json.loads(path.read_text())["indices"]
    path.write_bytes(path.read_bytes()[:40])
    return held


def stored_fold_count(root: Path) -> int:
    """Folds in every readable segment below ``root`` (any run)."""
    total = 0
    for path in root.rglob("segments/*.json"):
        try:
            total += len(json.loads(path.read_text())["indices"])
        except ValueError:
            continue
    return total

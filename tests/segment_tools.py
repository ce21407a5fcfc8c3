"""Test helpers for a run's stored segments: find the one holding a fold, take a fold out of
it (as if never written), or truncate it (as a torn object would be)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loocv_operator.segments import decode, encode, indices_of, segments_prefix
from loocv_operator.store import RunLocation


def segment_files(root: Path, location: RunLocation) -> list[Path]:
    return sorted((root / segments_prefix(location)).glob("*.json"))


def header_of(path: Path) -> dict[str, Any]:
    """The segment's first line (its header: run, batch, attempt, indices, summary)."""
    header: dict[str, Any] = json.loads(path.read_bytes().split(b"\n", 1)[0])
    return header


def segment_holding(root: Path, location: RunLocation, index: int) -> Path:
    for path in segment_files(root, location):
        if index in indices_of(header_of(path)["indices"]):
            return path
    raise LookupError(f"no segment holds fold {index}")


def drop_fold(root: Path, location: RunLocation, index: int) -> None:
    """Rewrite the segment without that fold: the fold is missing, the others stay. The
    rewritten segment has no summary (readers summarise its rows)."""
    path = segment_holding(root, location, index)
    header = header_of(path)
    segment = decode(path.name, path.read_bytes())
    kept = [f for f in segment.folds if f.index != index]
    raw = encode(
        location, header["batch"], header["attempt"], header["seq"], header["writer"], kept
    )
    path.write_bytes(raw)


def truncate_segment(root: Path, location: RunLocation, index: int) -> list[int]:
    """Cut the segment holding ``index`` short; returns the folds it held (now unreadable)."""
    path = segment_holding(root, location, index)
    held = indices_of(header_of(path)["indices"])
    path.write_bytes(path.read_bytes()[:40])
    return held


def stored_fold_count(root: Path) -> int:
    """Folds in every readable segment below ``root`` (any run)."""
    total = 0
    for path in root.rglob("segments/*.json"):
        try:
            total += len(indices_of(header_of(path)["indices"]))
        except ValueError:
            continue
    return total

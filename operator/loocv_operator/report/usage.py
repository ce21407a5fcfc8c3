"""The report's Usage section: what the run used (usage.Usage) and, with prices, its cost."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cells import e, section, table, td

if TYPE_CHECKING:
    from ..usage import Usage


def usage_section(usage: Usage | None) -> str:
    if usage is None:
        return ""
    rows = [[td(e(label)), td(e(text))] for label, text in usage.rows()]
    how = (
        "on a cluster, resources are what the pods requested times how long they ran (what "
        "the scheduler reserved, and what a budget bounds); locally, the CPU time of this "
        "process and its workers. Fold compute is the fit + predict time inside them; the "
        "fast path's saving is estimated from a few folds also fitted by brute force."
    )
    return section("usage", "Usage and cost", how, table(["", "used"], rows))

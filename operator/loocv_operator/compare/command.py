"""``loocv compare BASELINE CANDIDATE``: read both runs, pair them, print, write the files."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import EXIT_OK, InvalidInput
from ..store import open_store, retry_notices
from .paired import compare_runs
from .report import comparison_files, summary_text
from .runs import RunArtifacts, load_run


def _read(uri: str, endpoint: str | None) -> RunArtifacts:
    if not uri.startswith("s3://") and not Path(uri).is_dir():
        raise InvalidInput(uri, "no such directory; give a finished run's directory")
    return load_run(uri, endpoint)


def compare_command(baseline: str, candidate: str, out: str, endpoint: str | None) -> int:
    """Exit 0 with the comparison printed and written; 2 (InvalidInput) when the runs cannot
    be compared, naming what differs."""
    with retry_notices(lambda message: print(message, file=sys.stderr, flush=True)):
        comparison = compare_runs(_read(baseline, endpoint), _read(candidate, endpoint))
        store = open_store(out, endpoint)
        written = []
        for name, data in comparison_files(comparison).items():
            store.put(name, data)
            written.append(store.uri(name))
    print(summary_text(comparison))
    print("\nwritten:\n" + "\n".join(f"  {uri}" for uri in written))
    return EXIT_OK

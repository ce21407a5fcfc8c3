# ruff: noqa: E501  (markdown table rows)
"""The operator's cost of mid-run metrics (issue 12): the results part of its full passes
over a 10,000-fold run, with and without merged summaries.

``python -m bench.midrun [--baseline REF]`` writes a run's segments the way trainers do (100
folds each, three classes, probabilities) into a local store, then times, in a fresh process
per repeat (so each peak RSS is its own), what a full pass does with the store: refresh the
tally from the segments that appeared since the last pass (5 per pass, 20 passes) and build
the status from it, then once more cold (an operator restart reading all of them). Variants,
interleaved:

* ``REF`` (default ``main``, extracted with ``git archive``): the tally from every segment's
  rows (ResultsLedger), counts only in the status — the operator before mid-run metrics;
* this tree, counts only: the tally from the headers (SummaryLedger), no metrics;
* this tree: the same, and the status's partial metrics and worst samples.

Not measured here: listing Jobs and pods, which a pass does whatever the variant. The
section is spliced into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## 8. Mid-run metrics in the operator's passes (issue 12)"

WORKER = r"""
import json, sys, time, statistics, inspect
from datetime import UTC, datetime
root, n, passes, variant = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
import loocv_operator
import loocv_operator.kube.service  # the operator's whole import set
from loocv_operator.kube.status import RunView, build_status
from loocv_operator.kube.tally import StoredResults
from loocv_operator.kube.wire import FoldCounts, JobCounts
from loocv_operator.store import LocalStore, RunLocation
imported = rss("VmRSS:")
location = RunLocation("bench", "midrun", "uid")

class Arriving(LocalStore):
    visible = 0
    def list(self, prefix):
        return sorted(super().list(prefix))[: self.visible]

def results_of(store):
    if "frame" in inspect.signature(StoredResults).parameters:
        from loocv_operator.columns import SummaryFrame
        return StoredResults(store, location, SummaryFrame.of("classification", [0, 1, 2], n))
    return StoredResults(store, location, n)

def summary_of(tally):
    if variant == "metrics":
        return tally.summary()
    if not tally.stored:
        return None
    return {"folds": {"notRun": len(tally.not_run)}, "failureTypes": dict(tally.failure_types), "paths": dict(tally.paths)}

def one_pass(results, previous):
    results.refresh()
    tally = results.tally
    failed = tally.failed if isinstance(tally.failed, int) else len(tally.failed)
    view = RunView(
        generation=1,
        folds=FoldCounts(total=n, done=tally.computed, succeeded=tally.computed - failed, failed=failed),
        jobs=JobCounts(total=2, batches=100, active=2),
        summary=summary_of(tally),
        results_uri="s3://bench/",
    )
    return build_status(previous, view, datetime.now(UTC))

store = Arriving(root)
segments = len(LocalStore(root).list(location.prefix + "segments/"))
results, status, times = results_of(store), None, []
for p in range(1, passes + 1):
    store.visible = round(segments * p / passes)
    started = time.perf_counter()
    status = one_pass(results, status)
    times.append(time.perf_counter() - started)
started = time.perf_counter()
cold = one_pass(results_of(store), None)  # a restart: every segment at once
cold_seconds = time.perf_counter() - started
assert cold["folds"]["done"] == n, cold["folds"]
print(json.dumps({
    "pass_median": statistics.median(times), "pass_max": max(times), "cold": cold_seconds,
    "imported_mib": imported, "peak_mib": rss("VmHWM:"),
    "metrics": (status or {}).get("metrics", {}).get("message"),
    "module": loocv_operator.__file__,
}))
"""


def write_segments(root: Path, n: int, per_segment: int) -> None:
    import numpy as np

    from loocv_operator.columns import SummaryFrame
    from loocv_operator.results import FoldResult, SampleResult
    from loocv_operator.segments import SegmentWriter
    from loocv_operator.store import LocalStore, RunLocation

    rng = np.random.RandomState(0)
    proba = rng.dirichlet([1, 1, 1], size=n)
    truth = rng.randint(0, 3, size=n)
    frame = SummaryFrame.of("classification", [0, 1, 2], n)
    store, location = LocalStore(root), RunLocation("bench", "midrun", "uid")
    for batch, first in enumerate(range(0, n, per_segment)):
        with SegmentWriter(store, location, batch, max_folds=per_segment, frame=frame) as writer:
            for i in range(first, min(n, first + per_segment)):
                p = proba[i].tolist()
                loss = float(-np.log(max(proba[i, truth[i]], 1e-15)))
                sample = SampleResult(i, f"s{i}", int(truth[i]), int(proba[i].argmax()), p, loss)
                writer.add(FoldResult(i, [sample], 0.009, 0.001))


def baseline_tree(ref: str, into: Path) -> Path:
    raw = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "operator"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(raw)) as archive:
        archive.extractall(into, filter="data")
    return into / "operator"


def measure(python_path: Path, root: Path, n: int, passes: int, variant: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(python_path), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(root), str(n), str(passes), variant],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if not str(result["module"]).startswith(str(python_path)):
        raise SystemExit(f"{variant}: imported {result['module']}, not {python_path}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.midrun", description=__doc__)
    parser.add_argument("--folds", type=int, default=10_000)
    parser.add_argument("--segment-folds", type=int, default=100)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", default="main", help="git ref of the operator before")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    from bench.run import cpu_model, fmt_s, loadavg
    from bench.startup import splice

    work = Path(tempfile.mkdtemp(prefix="loocv-bench-midrun-"))
    write_segments(work / "store", args.folds, args.segment_folds)
    here = ROOT / "operator"
    variants = {
        f"`{args.baseline}`: rows (ResultsLedger), counts only": (
            baseline_tree(args.baseline, work / "baseline"),
            "counts",
        ),
        "this branch: headers (SummaryLedger), counts only": (here, "counts"),
        "this branch: headers, partial metrics + worst samples": (here, "metrics"),
    }
    load_before = loadavg()
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
    for _ in range(args.repeats):
        for label, (path, variant) in variants.items():
            runs[label].append(measure(path, work / "store", args.folds, args.passes, variant))
            print(label, runs[label][-1], file=sys.stderr)

    def med(label: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[label])

    segments = -(-args.folds // args.segment_folds)
    lines = [
        HEADING,
        "",
        f"`python -m bench.midrun --repeats {args.repeats}` on "
        f"{__import__('time').strftime('%Y-%m-%d %H:%M UTC', __import__('time').gmtime())}; machine: "
        f"{cpu_model()}, {os.cpu_count()} cores (shared), load {load_before} before, {loadavg()} after. "
        f"A {args.folds:,}-fold run (3 classes, probabilities) stored as {segments} segments of "
        f"{args.segment_folds} folds in a local store; {args.passes} full passes, each finding "
        f"{segments // args.passes} new segments, refresh the tally and build the status; then a cold pass "
        "(an operator restart reads every segment). Each repeat is a fresh process (its own peak RSS: "
        "VmHWM, after importing the whole operator); medians of the repeats, interleaved. Only the "
        "results part of a pass is timed (not the Job and pod lists, the same in every variant). "
        "The first row is the operator before mid-run metrics; the last two differ only by the "
        "partial metrics (the merged summary to the status's metrics and worst samples).",
        "",
        "| variant | pass, median | pass, slowest | cold pass (restart) | RSS after imports | peak RSS | status metrics |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in variants:
        message = runs[label][-1]["metrics"] or "—"
        lines.append(
            f"| {label} | {fmt_s(med(label, 'pass_median'))} | {fmt_s(med(label, 'pass_max'))} | "
            f"{fmt_s(med(label, 'cold'))} | {med(label, 'imported_mib'):.1f} MiB | "
            f"{med(label, 'peak_mib'):.1f} MiB | {message} |"
        )
    splice(lines, args.out, HEADING)
    print("\n".join(lines))
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

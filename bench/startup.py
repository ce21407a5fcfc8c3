"""Part 6: what a user waits for. The whole `loocv run` of the breast-cancer example against
a plain Python script doing the same `cross_val_predict(n_jobs=2)` in its own process, and
`loocv report` of that run, each a fresh process timed from the outside (imports, data,
folds, report: everything). Runs are interleaved and the medians quoted.

`python -m bench.startup [--repeats N]` measures only this part and rewrites its section of
docs/benchmarks.md (the rest of the document is left as it was); `make bench` runs it with
the other parts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
EXAMPLE = ROOT / "examples" / "breast-cancer-logreg.yaml"
LOOCV = Path(sys.executable).with_name("loocv")
HEADING = "## 6. Start-up: the whole `loocv run` and `loocv report`"
TARGET_RUN, TARGET_REPORT = 0.6, 0.5

# The same model, data and folds as the example, as a user would write it without us.
PLAIN = """
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=42))
predicted = cross_val_predict(model, X, y, cv=LeaveOneOut(), n_jobs=2)
print(f"accuracy {(predicted == y).mean():.4f}")
"""


def _wall(command: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def measure(repeats: int) -> dict[str, list[float]]:
    """Seconds of each command per round; rounds interleave the commands."""
    work = Path(tempfile.mkdtemp(prefix="loocv-bench-startup-"))
    script = work / "plain.py"
    script.write_text(PLAIN)
    times: dict[str, list[float]] = {"plain": [], "run": [], "report": [], "version": []}
    env_python = sys.executable
    try:
        for r in range(repeats):
            out = work / f"run-{r}"  # a fresh store: every fold computed, nothing resumed
            steps: dict[str, Callable[[], float]] = {
                "plain": lambda: _wall([env_python, str(script)]),
                "run": lambda out=out: _wall(
                    [str(LOOCV), "run", str(EXAMPLE), "--local", "--out", str(out), "--no-progress"]
                ),
                "report": lambda out=out: _wall([str(LOOCV), "report", str(_run_dir(out))]),
                "version": lambda: _wall([str(LOOCV), "--version"]),
            }
            order = list(steps) if r % 2 == 0 else ["run", "report", "plain", "version"]
            for name in order:
                times[name].append(steps[name]())
            shutil.rmtree(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return times


def _run_dir(out: Path) -> Path:
    (plan,) = out.glob("*/*/*/plan.json")
    return plan.parent


def section(repeats: int) -> list[str]:
    load_before = os.getloadavg()[0]
    times = measure(repeats)
    load_after = os.getloadavg()[0]
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["run"] / med["plain"]
    per_round = [r / p for r, p in zip(times["run"], times["plain"], strict=True)]

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    def cell(name: str) -> str:
        values = ", ".join(f"{t:.2f}" for t in times[name])
        return f"**{med[name]:.2f} s** ({values})"

    return [
        HEADING,
        "",
        f"`python -m bench.startup --repeats {repeats}` on {when}; {repeats} interleaved rounds "
        "(the order alternates), each command a fresh process timed from outside; 1-min load "
        f"average {load_before:.2f} before, {load_after:.2f} after (2 shared cores). "
        "`plain script` is the example's model in a Python script calling "
        "`cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(C=1.0, "
        "max_iter=1000)), X, y, cv=LeaveOneOut(), n_jobs=2)`; `loocv run` is `loocv run "
        "examples/breast-cancer-logreg.yaml --local --out <fresh dir> --no-progress` (plan, 569 "
        "folds on 2 workers written in segments, aggregation, gate, report.json, predictions.csv, "
        "report.html); `loocv report` rebuilds the report of that run from its 569 stored folds.",
        "",
        "| command | median (each round) | target |",
        "|---|---|---|",
        f"| plain script, `cross_val_predict(n_jobs=2)` | {cell('plain')} | |",
        f"| `loocv run` of the example | {cell('run')} | ≤ {TARGET_RUN}x the plain script |",
        f"| **ratio** of the medians, `loocv run` / plain script | **{ratio:.2f}x** | "
        f"≤ {TARGET_RUN} |",
        f"| ratio within each round (median) | {statistics.median(per_round):.2f}x "
        f"({', '.join(f'{x:.2f}' for x in per_round)}) | ≤ {TARGET_RUN} |",
        f"| `loocv report` of that run | {cell('report')} | ≤ {TARGET_REPORT} s |",
        f"| `loocv --version` (the CLI's floor) | {cell('version')} | |",
        "",
        "`loocv report` imports no scikit-learn: plan.py and folds.py import it only to plan a "
        "run, and the summary's metrics are numpy (stats.py, equal to sklearn.metrics bit for "
        "bit); what is left is Python, numpy and pydantic (the manifest model). `loocv run` "
        "imports only the fast-path module its final step can match (fastpaths/__init__.py), "
        "and no sklearn.metrics.",
    ]


def splice(lines: list[str], doc: Path = DOC, heading: str = HEADING) -> None:
    """Replace (or append) a part's section (by its heading) in the benchmarks document."""
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    block = "\n".join(lines) + "\n"
    if heading in text:
        head, rest = text.split(heading, 1)
        tail = rest.split("\n## ", 1)
        text = head + block + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    lines = section(args.repeats)
    splice(lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""SIGTERM in `loocv train`: stop after the fold in flight, keep what is computed, exit 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loocv_operator.ledger import load_results
from loocv_operator.store import LocalStore, RunLocation

SCRIPT = r"""
import sys
from loocv_operator.datasets import load_dataset
from loocv_operator.estimators import DEFAULT_ALLOWLIST, build_estimator
from loocv_operator.planning import make_plan
from loocv_operator.spec import parse_spec
from loocv_operator.store import LocalStore, RunLocation

spec = parse_spec({
    "dataset": {"builtin": "breast_cancer"},
    "model": {"estimator": "sklearn.ensemble.RandomForestClassifier",
              "params": {"n_estimators": 30}},
    "execution": {"foldsPerJob": 569, "fastPath": "off"},
})
estimator = build_estimator(spec.model, DEFAULT_ALLOWLIST, spec.execution.seed)
plan = make_plan(RunLocation("ns", "run", "uid"), spec, load_dataset(spec.dataset, spec.storage),
                 estimator, executor="cluster")
LocalStore(sys.argv[1]).put(plan.location.plan, plan.to_json())
"""


def test_sigterm_stops_the_batch_promptly_and_keeps_every_computed_fold(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], check=True)
    location = RunLocation("ns", "run", "uid")
    loocv = Path(sys.executable).parent / "loocv"
    proc = subprocess.Popen(
        [str(loocv), "train", "--plan", str(tmp_path / location.plan), "--batch", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOOCV_THREADS": "1"},
    )
    store = LocalStore(tmp_path)
    deadline = time.monotonic() + 120
    while not load_results(store, location) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "stopped by a signal" in stderr
    stored = load_results(store, location)
    assert 0 < len(stored) < 569
    assert f"wrote {len(stored)} folds" in stderr  # every computed fold is in the store

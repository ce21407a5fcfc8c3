from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loocv_operator.cli import main
from tests.segment_tools import stored_fold_count

MakeDoc = Callable[..., dict[str, Any]]
WriteDoc = Callable[[dict[str, Any]], Path]


def run_dir(out: Path) -> Path:
    (plan,) = out.glob("*/*/*/plan.json")
    return plan.parent


def test_run_local_writes_report_and_passes_gate(
    tmp_path: Path, run_doc: MakeDoc, manifest_file: WriteDoc, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest_file(run_doc(gate={"accuracy": {"min": 0.9}, "failedFolds": {"max": 0}}))
    out = tmp_path / "out"
    assert main(["run", str(path), "--local", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "PASSED" in printed and "95% CI" in printed
    directory = run_dir(out)
    assert {p.name for p in directory.iterdir()} >= {
        "plan.json",
        "segments",
        "report.json",
        "predictions.csv",
        "report.html",
    }
    report = json.loads((directory / "report.json").read_text())
    assert report["summary"]["folds"]["done"] == 150


def test_gate_failure_exits_3(
    run_doc: MakeDoc, manifest_file: WriteDoc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest_file(run_doc(gate={"accuracy": {"min": 0.999}}))
    assert main(["run", str(path), "--local", "--out", str(tmp_path), "--no-progress"]) == 3
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": {"estimator": "os.path.Thing"}}, "spec.model.estimator"),
        (
            {"model": {"estimator": "sklearn.svm.SVC", "params": {"gamma_": 1}}},
            "spec.model.params.gamma_",
        ),
        ({"strategy": {"subset": {"indices": [150]}}}, "spec.strategy.subset.indices[0]"),
        ({"gate": {"rmse": {"max": 1.0}}}, "spec.gate.rmse"),
        ({"execution": {"foldsPerJob": 0}}, "spec.execution.foldsPerJob"),
    ],
)
def test_invalid_input_exits_2_naming_the_field(
    change: dict[str, Any],
    field: str,
    run_doc: MakeDoc,
    manifest_file: WriteDoc,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = manifest_file(run_doc(**change))
    assert main(["run", str(path), "--local", "--out", str(tmp_path / "o")]) == 2
    assert field in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").rglob("segments/*"))


def test_run_needs_local_or_cluster(
    run_doc: MakeDoc, manifest_file: WriteDoc, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(manifest_file(run_doc()))]) == 2
    err = capsys.readouterr().err
    assert "--local (run here) or --cluster" in err


def test_validate(
    run_doc: MakeDoc, manifest_file: WriteDoc, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(manifest_file(run_doc()))]) == 0
    assert "ok — classification, 150 samples, 150 folds" in capsys.readouterr().out
    bad = run_doc(execution={"retries": -2, "seeed": 1})
    bad["spec"]["model"]["estimator"] = 42
    assert main(["validate", str(manifest_file(bad))]) == 2
    err = capsys.readouterr().err
    for field in ("spec.execution.retries", "spec.execution.seeed", "spec.model.estimator"):
        assert field in err


def test_report_rebuilds_from_stored_folds(
    tmp_path: Path, run_doc: MakeDoc, manifest_file: WriteDoc, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    main(["run", str(manifest_file(run_doc())), "--local", "--out", str(out), "--no-progress"])
    directory = run_dir(out)
    first = json.loads((directory / "report.json").read_text())
    for name in ("report.json", "predictions.csv", "report.html"):
        (directory / name).unlink()
    capsys.readouterr()
    assert main(["report", str(directory)]) == 0
    again = json.loads((directory / "report.json").read_text())
    assert again["summary"] == first["summary"]
    assert (directory / "predictions.csv").read_text().count("\n") == 151
    assert main(["report", str(tmp_path)]) == 2


def test_ctrl_c_keeps_folds_and_rerun_resumes(
    tmp_path: Path, manifest_file: WriteDoc, run_doc: MakeDoc
) -> None:
    path = manifest_file(
        run_doc(
            dataset={"builtin": "breast_cancer"},
            model={
                "estimator": "sklearn.ensemble.RandomForestClassifier",
                "params": {"n_estimators": 30},
            },
        )
    )
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "loocv_operator.cli",
        "run",
        str(path),
        "--local",
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-progress",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while stored_fold_count(out) < 20:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    stored = stored_fold_count(out)
    assert 20 <= stored < 569
    assert f"interrupted: {stored}/569 folds are stored" in err  # the folds in flight too
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ}
    )
    assert finished.returncode == 0, finished.stderr
    assert f"resumed: {stored} folds were already stored" in finished.stderr
    report = json.loads((run_dir(out) / "report.json").read_text())
    assert report["summary"]["folds"]["done"] == 569


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from loocv_operator import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"loocv {__version__}"

"""``loocv compare``: two runs of the same samples, read from their artifacts only, paired
sample by sample; runs of different samples refused with exit 2, naming what differs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loocv_operator.cli import main
from loocv_operator.compare.paired import compare_runs
from loocv_operator.compare.report import comparison_json
from loocv_operator.compare.runs import load_run
from loocv_operator.compare.stats import mcnemar_exact
from loocv_operator.store import open_store


def write_run(
    root: Path | str,
    name: str,
    truth: list[int],
    pred: list[int | None],
    *,
    digest: str = "d" * 64,
    ids: list[str] | None = None,
    proba: list[float] | None = None,
    hashed: bool = False,
    missing: tuple[int, ...] = (),
) -> str:
    """A finished run's report.json and predictions.csv as report.py writes them (binary,
    classes 0 and 1); ``None`` in ``pred`` is a failed fold, ``missing`` rows have no row."""
    uri = f"{root}/default/{name}/uid-{name}"
    store = open_store(uri)
    report = {
        "schemaVersion": 1,
        "run": {"namespace": "default", "name": name, "uid": f"uid-{name}"},
        "spec": {"privacy": {"hashSampleIds": hashed}},
        "datasetDigest": digest,
        "nSamples": len(truth),
        "task": "classification",
        "classes": [0, 1],
        "summary": {"samples": {"total": len(truth)}},
        "generatedAt": "2026-12-01T00:00:00Z",
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "row",
            "id",
            "fold",
            "y_true",
            "y_pred",
            "correct",
            "proba_0",
            "proba_1",
            "loss",
            "fit_seconds",
            "status",
            "error_type",
            "error_message",
        ]
    )
    for row, (t, p) in enumerate(zip(truth, pred, strict=True)):
        if row in missing:
            continue
        sid = ids[row] if ids else str(row)
        if p is None:
            writer.writerow(
                [row, sid, row, t, "", "", "", "", "", 0.1, "failed", "ValueError", "x"]
            )
            continue
        p1 = proba[row] if proba else (0.9 if p == 1 else 0.1)
        writer.writerow(
            [row, sid, row, t, p, int(p == t), repr(1 - p1), repr(p1), 0.1, 0.1, "ok", "", ""]
        )
    store.put("predictions.csv", out.getvalue().encode())
    store.put("report.json", json.dumps(report).encode())
    return uri


def flips(
    truth: list[int], right_a: list[bool], right_b: list[bool]
) -> tuple[list[int], list[int]]:
    pa = [t if r else 1 - t for t, r in zip(truth, right_a, strict=True)]
    pb = [t if r else 1 - t for t, r in zip(truth, right_b, strict=True)]
    return pa, pb


def test_counts_p_values_recall_and_flipped_samples(tmp_path: Path) -> None:
    truth = [0] * 10 + [1] * 10
    right_a = [True] * 20
    right_b = [True] * 20
    for r in (1, 12, 13):  # right -> wrong
        right_b[r] = False
    right_a[5] = False  # wrong -> right
    right_a[7] = right_b[7] = False  # wrong in both: concordant, not counted
    pa, pb = flips(truth, right_a, right_b)
    a = load_run(write_run(tmp_path, "base", truth, pa))
    b = load_run(write_run(tmp_path, "cand", truth, pb))
    c = compare_runs(a, b)
    assert c.mcnemar == mcnemar_exact(3, 1)
    assert [f.row for f in c.regressions] == [1, 12, 13]
    assert [f.row for f in c.improvements] == [5]
    assert c.accuracy_baseline == pytest.approx(18 / 20)
    assert c.accuracy_difference == pytest.approx(-2 / 20)
    recall = {k.label: k for k in c.per_class}
    assert recall["0"].change == pytest.approx(0.0)  # row 1 lost, row 5 gained
    assert recall["1"].change == pytest.approx(-0.2)
    assert c.paired == 20 and c.excluded.total == 0 and not c.notes


def test_log_loss_and_brier_differences_are_paired(tmp_path: Path) -> None:
    truth = [0, 1] * 20
    a = load_run(
        write_run(tmp_path, "a", truth, truth, proba=[0.2 if t == 0 else 0.8 for t in truth])
    )
    b = load_run(
        write_run(tmp_path, "b", truth, truth, proba=[0.1 if t == 0 else 0.9 for t in truth])
    )
    c = compare_runs(a, b)
    logloss, brier = c.metrics
    assert c.metric_names == ["logLoss", "brier"]
    assert logloss.difference == pytest.approx(-np.log(0.9) + np.log(0.8))
    assert brier.baseline == pytest.approx(0.04) and brier.candidate == pytest.approx(0.01)
    assert logloss.low == pytest.approx(logloss.high)  # the same change on every sample


def test_failed_and_missing_folds_are_excluded_and_said(tmp_path: Path) -> None:
    truth = [0, 1] * 10
    pred_a: list[int | None] = list(truth)
    pred_a[3] = None
    a = load_run(write_run(tmp_path, "a", truth, pred_a))
    b = load_run(write_run(tmp_path, "b", truth, list(truth), missing=(4, 5)))
    c = compare_runs(a, b)
    assert c.paired == 17
    assert (c.excluded.failed_baseline, c.excluded.missing_candidate, c.excluded.total) == (1, 2, 3)
    assert any("3 samples left out" in n and "covers 17" in n for n in c.notes)
    excluded = comparison_json(c)["excluded"]
    assert excluded == {
        "total": 3,
        "failedInBaseline": 1,
        "failedInCandidate": 0,
        "missingFromBaseline": 0,
        "missingFromCandidate": 2,
    }


def test_cli_writes_json_and_escaped_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = [0, 1] * 5
    ids = [f"<script>alert({i})</script>" for i in range(10)]
    pb = list(truth)
    pb[2] = 1
    a = write_run(tmp_path, "a", truth, list(truth), ids=ids)
    b = write_run(tmp_path, "b", truth, pb, ids=ids)
    out = tmp_path / "out"
    assert main(["compare", a, b, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "b=1 right->wrong, c=0 wrong->right" in printed
    data = json.loads((out / "compare.json").read_text())
    assert data["mcnemar"]["b"] == 1 and data["mcnemar"]["pCandidateWorse"] == 0.5
    assert data["flipped"]["rightToWrong"][0]["id"] == ids[2]
    page = (out / "compare.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(2)" in page
    assert "http" not in page  # self-contained: nothing fetched


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"digest": "e" * 64}, ["datasetDigest", "different data"]),
        ({"ids": [f"x{i}" for i in range(10)]}, ["sample_ids", "10 of 10 samples differ"]),
        ({"hashed": True}, ["hashSampleIds", "only"]),
    ],
)
def test_runs_of_different_samples_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], words: list[str]
) -> None:
    truth = [0, 1] * 5
    a = write_run(tmp_path, "a", truth, list(truth))
    b = write_run(tmp_path, "b", truth, list(truth), **change)
    assert main(["compare", a, b, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert "Traceback" not in err


def test_not_a_run_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(tmp_path / "empty")]) == 2
    assert "no report.json here" in capsys.readouterr().err


def test_compare_reads_runs_from_s3(s3_bucket: str, tmp_path: Path) -> None:
    truth = [0, 1] * 5
    pb = list(truth)
    pb[0] = 1
    a = write_run(s3_bucket, "a", truth, list(truth))
    b = write_run(s3_bucket, "b", truth, pb)
    assert main(["compare", a, b, "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "compare.json").read_text())["mcnemar"]["b"] == 1


def test_regression_runs_compare_mae_and_rmse_with_paired_intervals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    out = tmp_path / "s"
    for name, estimator, params in (
        ("ols", "sklearn.linear_model.LinearRegression", {}),
        ("ridge", "sklearn.linear_model.Ridge", {"alpha": 10.0}),
    ):
        document = {
            "apiVersion": "loocv.dev/v1alpha1",
            "kind": "LOOCVRun",
            "metadata": {"name": name},
            "spec": {
                "dataset": {"builtin": "diabetes"},
                "model": {"estimator": estimator, "params": params},
            },
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document))
        assert main(["run", str(path), "--local", "--out", str(out), "--no-progress"]) == 0
    a = next((out / "default" / "ols").iterdir())
    b = next((out / "default" / "ridge").iterdir())
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "c")]) == 0
    data = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert data["mcnemar"] is None and data["pairedSamples"] == 442
    diffs = {d["metric"]: d for d in data["differences"]}
    ols = json.loads((a / "report.json").read_text())["summary"]["metrics"]
    ridge = json.loads((b / "report.json").read_text())["summary"]["metrics"]
    for key in ("mae", "rmse"):
        assert diffs[key]["baseline"] == pytest.approx(ols[key])
        assert diffs[key]["difference"] == pytest.approx(ridge[key] - ols[key])
        low, high = diffs[key]["ci95"]
        assert low <= diffs[key]["difference"] <= high
    assert diffs["rmse"]["difference"] > 0  # heavy shrinkage on unscaled features hurts


def test_missing_folds_in_a_report_are_said(tmp_path: Path) -> None:
    truth = [0, 1] * 5
    uri = write_run(tmp_path, "a", truth, list(truth), missing=(9,))
    store = open_store(uri)
    report = json.loads(store.get("report.json"))
    report["summary"]["folds"] = {"missing": 1}
    store.put("report.json", json.dumps(report).encode())
    c = compare_runs(load_run(uri), load_run(write_run(tmp_path, "b", truth, list(truth))))
    assert c.paired == 9
    assert any("the baseline has 1 folds without a result" in n for n in c.notes)

"""report.html in a real browser (headless Chromium, network closed): it renders from a
file with no console error, its script runs, every main section is there, and a
screenshot can be taken. Chromium comes from Debian's `chromium` package."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from loocv_operator.gate import evaluate_gate
from loocv_operator.metrics import summarize
from loocv_operator.report import report_html
from tests.browser import chromium
from tests.unit import test_report as _runs
from tests.unit import test_report_page as _page

CLASSIFICATION_SECTIONS = (
    "metrics",
    "per-class",
    "confusion",
    "calibration",
    "losses",
    "worst",
    "noise",
    "failures",
    "execution",
    "manifest",
)
iris_run = _runs.iris_run
diabetes_run = _runs.diabetes_run
bc = _page.bc


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    if chromium.binary() is None:
        pytest.fail("chromium is missing: apt-get install chromium")


def _write(tmp_path: Path, run: Any, name: str) -> Path:
    plan, results = run
    summary = summarize(plan, results)
    path = tmp_path / f"{name}.html"
    path.write_text(report_html(plan, summary, evaluate_gate(plan.spec.gate, summary), results))
    return path


def test_the_browser_test_sees_a_console_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><p>x</p><script>notDefined();</script>"
        '<script src="https://cdn.example.invalid/lib.js"></script>'
    )
    rendered = chromium.render(broken)
    assert any("notDefined" in m.text for m in rendered.console)


def test_binary_report_renders_without_console_errors(tmp_path: Path, bc: Any) -> None:
    rendered = chromium.render(_write(tmp_path, bc, "binary"))
    assert rendered.console == []
    for anchor in (*CLASSIFICATION_SECTIONS, "curves"):
        assert f'id="{anchor}"' in rendered.dom, anchor
    assert 'class="sort"' in rendered.dom  # the inline script ran and made headers sortable
    assert rendered.dom.count('<svg class="chart"') == 5  # ROC, PR, reliability x2, loss


def test_report_with_failures_and_a_hostile_id_renders_cleanly(
    tmp_path: Path, iris_run: Any
) -> None:
    rendered = chromium.render(_write(tmp_path, iris_run, "iris"))
    assert rendered.console == []
    for anchor in CLASSIFICATION_SECTIONS:
        assert f'id="{anchor}"' in rendered.dom, anchor
    assert 'class="banner"' in rendered.dom  # a failed and a missing fold
    assert "<script>alert" not in rendered.dom


def test_regression_report_renders(tmp_path: Path, diabetes_run: Any) -> None:
    rendered = chromium.render(_write(tmp_path, diabetes_run, "diabetes"))
    assert rendered.console == []
    for anchor in ("metrics", "predictions", "losses", "worst", "execution", "manifest"):
        assert f'id="{anchor}"' in rendered.dom, anchor


def test_screenshot(tmp_path: Path, bc: Any) -> None:
    shot = chromium.screenshot(_write(tmp_path, bc, "shot"), tmp_path / "shot.png", 900, 700)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (900, 700)

"""Every YAML block a user copies from the README, and every example, parses as written:
through PyYAML (what `loocv run` reads) and, for LOOCVRun documents, through the model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from loocv_operator.spec import KIND, parse_run

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.DOTALL | re.MULTILINE)


def yaml_blocks() -> list[tuple[str, str]]:
    blocks = []
    for doc in DOCS:
        text = doc.read_text()
        for i, match in enumerate(BLOCK.finditer(text)):
            line = text[: match.start()].count("\n") + 1
            blocks.append((f"{doc.name}:{line}#{i}", match.group(1)))
    return blocks


BLOCKS = yaml_blocks()


def test_the_readme_has_a_manifest_block() -> None:
    assert any(KIND in text for _, text in BLOCKS)


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_every_yaml_block_of_the_docs_parses(where: str, text: str) -> None:
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    assert documents, where
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == KIND:
            parse_run(document, where)  # raises ManifestError naming the field


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_parses(path: Path) -> None:
    (document,) = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    parse_run(document, str(path))

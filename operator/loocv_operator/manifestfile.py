"""Reading a manifest file: YAML with no duplicate keys and bounded sizes (a YAML alias bomb
is refused before it expands), then the typed model (spec.parse_run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput
from .spec import LOOCVRun, parse_run
from .specbase import KIND, MAX_MANIFEST_BYTES, MAX_MANIFEST_NODES


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loading that refuses a key given twice in one mapping: PyYAML keeps the last
    silently, so a second ``spec:`` would replace the first without a word (kubectl refuses
    such a file too)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, str | int | float | bool) and key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key!r} appears twice in one mapping (line {mark.line + 1}); "
                    "keep one",
                    mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(value: Any, limit: int) -> int:
    """How many values the document holds once YAML aliases are expanded (an alias is a
    shared reference after loading, but validating or hashing walks every copy: a
    "billion laughs" document of 1 kB would take hours). Memoised, so this walk is linear."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, children_done = stack.pop()
        if not isinstance(item, dict | list) or id(item) in sizes:
            continue
        children = list(item.values()) if isinstance(item, dict) else item
        if not children_done:
            stack.append((item, True))
            stack.extend((c, False) for c in children if isinstance(c, dict | list))
            continue
        total = 1 + sum(sizes.get(id(c), 1) for c in children)
        if total > limit:
            return total
        sizes[id(item)] = total
    return sizes.get(id(value), 1)


def load_manifest(path: str | Path) -> LOOCVRun:
    """Read one LOOCVRun from a YAML (or JSON) file."""
    return parse_run(load_document(path), str(path))


def load_document(path: str | Path) -> dict[str, Any]:
    """The one LOOCVRun document of a YAML (or JSON) file, as the mapping it holds (for a
    client that sends it on as written: ``metadata.generateName`` and all)."""
    source = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise InvalidInput(
                source, f"{size} bytes: a manifest is at most {MAX_MANIFEST_BYTES} bytes"
            )
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(source, "no such file") from None
    except IsADirectoryError:
        raise InvalidInput(source, "is a directory; give the manifest's YAML file") from None
    except UnicodeDecodeError:
        raise InvalidInput(source, "cannot read: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(source, f"cannot read: {exc.strerror or exc}") from None
    try:
        documents = [d for d in yaml.load_all(text, Loader=_UniqueKeyLoader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(source, f"not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise InvalidInput(source, "not a manifest: nested too deeply") from None
    for document in documents:
        if _expanded_size(document, MAX_MANIFEST_NODES) > MAX_MANIFEST_NODES:
            raise InvalidInput(
                source,
                f"more than {MAX_MANIFEST_NODES} values once YAML aliases are expanded; "
                "a manifest this large is refused (an alias bomb?)",
            )
    runs = [d for d in documents if isinstance(d, dict) and d.get("kind") == KIND]
    if len(runs) != 1:
        found = "no" if not runs else str(len(runs))
        kinds = sorted({str(d.get("kind")) for d in documents if isinstance(d, dict)} - {KIND})
        seen = f" (it holds kind {', '.join(kinds)})" if kinds and not runs else ""
        raise InvalidInput(source, f"expected exactly one LOOCVRun document, found {found}{seen}")
    found_run: dict[str, Any] = runs[0]
    return found_run

"""A manifest's problems in a user's words: every one at once, each with its field path
(``spec.gate.accuracy.min``), pydantic's internals and regular expressions left out."""

from __future__ import annotations

import re

from pydantic import ValidationError

from .errors import InvalidInput
from .specbase import DNS_LABEL, DNS_SUBDOMAIN, DOTTED_NAME


class ManifestError(InvalidInput):
    """Every problem of a manifest at once, each with its field path."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        where = problems[0][0] if len(problems) == 1 else source
        message = problems[0][1] if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(where, message)

    def __str__(self) -> str:
        return "\n".join(f"{where}: {message}" for where, message in self.problems)


def _field_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "literal[", "constrained-")) or part in (
            "int",
            "str",
        ):
            continue  # pydantic's union-branch names are noise to a user
        else:
            path += f".{part}" if path else str(part)
    return path


_PATTERN_WORDS = {
    DNS_SUBDOMAIN: "a lowercase DNS name: a-z, 0-9, '-' and '.', starting and ending "
    "with a letter or digit",
    DNS_LABEL: "a lowercase DNS label: a-z, 0-9 and '-', starting and ending with a letter "
    "or digit, at most 63 characters",
    DOTTED_NAME: "a dotted Python name such as sklearn.svm.SVC",
}


def _plain_message(message: str) -> str:
    """pydantic's words without its internals: no class names, patterns in words."""
    message = re.sub(r" or instance of \w+", "", message)
    for pattern, words in _PATTERN_WORDS.items():
        message = message.replace(f"String should match pattern '{pattern}'", f"must be {words}")
    return message


def problems_of(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Turn pydantic's errors into (field path, message) pairs, without duplicates."""
    seen: dict[str, str] = {}
    for item in error.errors(include_url=False):
        where = _field_path(prefix, item["loc"]) or prefix or "manifest"
        message = _plain_message(item["msg"].removeprefix("Value error, "))
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        if where in seen and message not in seen[where]:
            seen[where] += f"; or {message}"
        else:
            seen.setdefault(where, message)
    return list(seen.items())

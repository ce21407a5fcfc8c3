"""HTML building blocks of the report: escaping, number formatting, table cells, tables.

Every user-provided string (ids, labels, error messages, names) goes through ``e``: sample
ids come from user data and must never become markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

NA = '<span class="na">n/a</span>'


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A value for reading: floats to ``digits`` significant digits, None as n/a."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else e(value)
    if isinstance(value, int):
        return f"{value:,}"
    return e(value)


def pct(value: float | None, digits: int = 1) -> str:
    return NA if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f}%"


def label_text(value: Any) -> str:
    """A label or target value: numbers shortened (no 14-digit floats), text escaped."""
    if isinstance(value, float):
        return fmt(value)
    return e(value)


def td(html: str, title: str | None = None) -> str:
    extra = f' title="{e(title)}"' if title else ""
    return f"<td{extra}>{html}</td>"


def tdn(value: Any, html: str | None = None, digits: int = 4) -> str:
    """A right-aligned number; data-v carries the exact value the sort uses."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        sort = f' data-v="{value!r}"'
    else:
        sort = ' data-v="NaN"'
    return f'<td class="num"{sort}>{html if html is not None else fmt(value, digits)}</td>'


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    sortable: bool = False,
    css: str = "",
    numeric: Sequence[int] = (),
) -> str:
    """A table from escaped header texts and rows of ready <td> cells."""
    classes = " ".join(c for c in (css, "sortable" if sortable else "") if c)
    klass = f' class="{classes}"' if classes else ""
    head = "".join(
        f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>"
        for i, h in enumerate(header)
    )
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section(anchor: str, title: str, how: str, *body: str) -> str:
    """A titled block with a one-line 'how to read this'."""
    return (
        f'<section id="{anchor}"><h2>{e(title)}</h2><p class="how">How to read this: {e(how)}</p>'
        + "".join(body)
        + "</section>"
    )


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{e(caption)}</figcaption></figure>"


def interval(bounds: Any, digits: int = 4) -> str:
    if not bounds or len(bounds) != 2 or bounds[0] is None or bounds[1] is None:
        return NA
    return f"{fmt(float(bounds[0]), digits)} to {fmt(float(bounds[1]), digits)}"

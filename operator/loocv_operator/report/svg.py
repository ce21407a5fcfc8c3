"""Inline SVG charts: axes, lines, points, bars — a few hundred bytes each, no plotting
library. matplotlib alone took ~0.5 s to import and ~0.6 s to draw a report's figures; these
are strings, drawn in milliseconds, and scale crisply in the browser. Every text passed in
is escaped here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from numpy.typing import NDArray

Numbers = Sequence[float] | NDArray[Any]
BLUE, ORANGE, GREY, PURPLE, GREEN = "#2b6cb0", "#dd6b20", "#718096", "#6b46c1", "#2f855a"


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def tick_text(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.0e}"
    return f"{value:.4g}"


@dataclass
class Plot:
    """A plot area in data coordinates; x and y may be log10 (log y for counts)."""

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    width: int = 420
    height: int = 300
    log_y: bool = False
    margin: tuple[int, int, int, int] = (14, 16, 44, 56)  # top, right, bottom, left
    parts: list[str] = field(default_factory=list)

    def _fy(self, y: float) -> float:
        low, high = self.y_range
        if self.log_y:
            y, low, high = math.log10(max(y, 0.5)), math.log10(max(low, 0.5)), math.log10(high)
        top, _, bottom, _ = self.margin
        span = (high - low) or 1.0
        return top + (1 - (y - low) / span) * (self.height - top - bottom)

    def _fx(self, x: float) -> float:
        low, high = self.x_range
        _, right, _, left = self.margin
        span = (high - low) or 1.0
        return left + (x - low) / span * (self.width - left - right)

    def axes(
        self,
        x_label: str,
        y_label: str,
        x_ticks: Sequence[float] | None = None,
        y_ticks: Sequence[float] | None = None,
    ) -> Plot:
        top, right, bottom, left = self.margin
        x0, x1 = left, self.width - right
        y0, y1 = self.height - bottom, top
        xs = list(x_ticks) if x_ticks is not None else nice_ticks(*self.x_range)
        if y_ticks is not None:
            ys = list(y_ticks)
        elif self.log_y:
            ys = [10.0**k for k in range(0, int(math.log10(max(self.y_range[1], 1))) + 1)]
        else:
            ys = nice_ticks(*self.y_range)
        out = ['<g class="axes" font-size="11" fill="#4a5568">']
        for x in xs:
            px = _n(self._fx(x))
            out.append(f'<line x1="{px}" y1="{y0}" x2="{px}" y2="{y1}" stroke="#edf2f7"/>')
            out.append(f'<text x="{px}" y="{y0 + 15}" text-anchor="middle">{tick_text(x)}</text>')
        for y in ys:
            py = _n(self._fy(y))
            out.append(f'<line x1="{x0}" y1="{py}" x2="{x1}" y2="{py}" stroke="#edf2f7"/>')
            out.append(
                f'<text x="{x0 - 5}" y="{py}" dy="4" text-anchor="end">{tick_text(y)}</text>'
            )
        out.append(
            f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" '
            'stroke="#a0aec0"/>'
        )
        out.append(
            f'<text x="{(x0 + x1) / 2}" y="{self.height - 8}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
        )
        out.append(
            f'<text transform="translate(13,{(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">'
            f"{escape(y_label)}</text></g>"
        )
        self.parts.extend(out)
        return self

    def line(
        self,
        xs: Numbers,
        ys: Numbers,
        color: str = BLUE,
        dash: bool = False,
        width: float = 2.0,
        step: bool = False,
    ) -> Plot:
        points = []
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            if step and i:
                points.append(f"{_n(self._fx(x))},{_n(self._fy(ys[i - 1]))}")
            points.append(f"{_n(self._fx(x))},{_n(self._fy(y))}")
        if len(points) < 2:
            return self
        extra = ' stroke-dasharray="5 4"' if dash else ""
        self.parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
            f'stroke-width="{width}"{extra}/>'
        )
        return self

    def points(
        self,
        xs: Numbers,
        ys: Numbers,
        color: str = BLUE,
        radius: float = 2.2,
        titles: Sequence[str] | None = None,
    ) -> Plot:
        out = [f'<g fill="{color}" fill-opacity="0.55">']
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            circle = f'<circle cx="{_n(self._fx(x))}" cy="{_n(self._fy(y))}" r="{radius}"'
            if titles is not None:
                out.append(f"{circle}><title>{escape(titles[i])}</title></circle>")
            else:
                out.append(circle + "/>")
        out.append("</g>")
        self.parts.extend(out)
        return self

    def bars(
        self,
        lefts: Numbers,
        rights: Numbers,
        heights: Numbers,
        color: str = BLUE,
        labels: Sequence[str] | None = None,
        titles: Sequence[str] | None = None,
    ) -> Plot:
        base = self.y_range[0] if not self.log_y else max(self.y_range[0], 0.5)
        out = [f'<g fill="{color}">']
        for i, (a, b, h) in enumerate(zip(lefts, rights, heights, strict=True)):
            if not math.isfinite(h) or h <= (0 if self.log_y else base - 1):
                continue
            if self.log_y and h < 1:
                continue
            x0, x1 = self._fx(a), self._fx(b)
            y0, y1 = self._fy(base), self._fy(h)
            title = f"<title>{escape(titles[i])}</title>" if titles else ""
            out.append(
                f'<rect x="{_n(x0 + 0.5)}" y="{_n(y1)}" width="{_n(max(x1 - x0 - 1, 0.5))}" '
                f'height="{_n(max(y0 - y1, 0))}">{title}</rect>'
            )
            if labels is not None and labels[i]:
                out.append(
                    f'<text x="{_n((x0 + x1) / 2)}" y="{_n(y1 - 3)}" font-size="9" '
                    f'text-anchor="middle" fill="#2d3748">{escape(labels[i])}</text>'
                )
        out.append("</g>")
        self.parts.extend(out)
        return self

    def text(
        self, x: float, y: float, text: str, color: str = "#2d3748", anchor: str = "start"
    ) -> Plot:
        self.parts.append(
            f'<text x="{_n(self._fx(x))}" y="{_n(self._fy(y))}" font-size="11" fill="{color}" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )
        return self

    def svg(self, title: str, legend: Sequence[tuple[str, str]] = ()) -> str:
        """The chart as an inline <svg> with a title (for screen readers) and a legend."""
        items = []
        top, _, _, left = self.margin
        for k, (color, name) in enumerate(legend):
            y = top + 10 + 15 * k
            items.append(
                f'<rect x="{left + 8}" y="{y - 8}" width="10" height="10" fill="{color}"/>'
                f'<text x="{left + 22}" y="{y + 1}" font-size="11" fill="#2d3748">'
                f"{escape(name)}</text>"
            )
        return (
            f'<svg class="chart" role="img" viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}">'
            f"<title>{escape(title)}</title>{''.join(self.parts)}{''.join(items)}</svg>"
        )

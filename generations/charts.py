"""Small server-side SVG charts for the operations dashboard: no JavaScript, no dependencies.

Every function is pure: data in, an inline `<svg>` (a SafeString) out. Each chart has a
`<title>` and `<desc>` (named by `aria-labelledby`, so screen readers announce it), axis
labels, and a `<title>` per bar that browsers show as a tooltip. Text is escaped; colours
of text and axes follow the admin's light/dark theme through `currentColor`.

Data is a list of (label, value) pairs, or (label, [value per series]) for stacked bars.
A chart with no data, or only zeros, says "No data yet" instead of drawing empty axes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

EMPTY_TEXT = "No data yet"
DEFAULT_COLOUR = "#2563eb"

Number = int | float
Formatter = Callable[[Number], str]


@dataclass(frozen=True)
class Series:
    name: str
    colour: str


@dataclass(frozen=True)
class _Frame:
    """The chart's geometry in viewBox units: the plot area sits inside the margins."""

    width: int = 640
    height: int = 240
    left: int = 56
    right: int = 12
    top: int = 16
    bottom: int = 44

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        return self.top + self.plot_height


def plain_number(value: Number) -> str:
    """1 → "1", 2.5 → "2.5", 1234 → "1,234"."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> float:
    """The smallest "round" number (1, 2, 2.5 or 5 × 10^k) at or above `value`: the y axis's top."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-12):
            return float(candidate)
    return float(10 ** (exponent + 1))  # pragma: no cover - the loop always returns


def bar_chart(
    data: Sequence[tuple[str, Number]],
    *,
    title: str,
    desc: str = "",
    x_label: str = "",
    y_label: str = "",
    value_format: Formatter = plain_number,
    colour: str = DEFAULT_COLOUR,
    integer_axis: bool = False,
    chart_id: str = "",
) -> SafeString:
    """One bar per (label, value), heights proportional to the values."""
    return _render(
        [(label, [value]) for label, value in data],
        series=[Series(y_label or "value", colour)],
        title=title,
        desc=desc,
        x_label=x_label,
        y_label=y_label,
        value_format=value_format,
        integer_axis=integer_axis,
        gap=0.2,
        chart_id=chart_id,
        legend=False,
    )


def stacked_bar_chart(
    data: Sequence[tuple[str, Sequence[Number]]],
    *,
    series: Sequence[Series],
    title: str,
    desc: str = "",
    x_label: str = "",
    y_label: str = "",
    value_format: Formatter = plain_number,
    integer_axis: bool = False,
    chart_id: str = "",
) -> SafeString:
    """One column per label, its values stacked bottom-up in the order of `series`, with a legend."""
    for label, values in data:
        if len(values) != len(series):
            raise ValueError(f"{label!r} has {len(values)} values for {len(series)} series.")
    return _render(
        [(label, list(values)) for label, values in data],
        series=list(series),
        title=title,
        desc=desc,
        x_label=x_label,
        y_label=y_label,
        value_format=value_format,
        integer_axis=integer_axis,
        gap=0.2,
        chart_id=chart_id,
        legend=True,
    )


def histogram(
    bins: Sequence[tuple[str, Number]],
    *,
    title: str,
    desc: str = "",
    x_label: str = "",
    y_label: str = "Count",
    colour: str = "#7c3aed",
    chart_id: str = "",
) -> SafeString:
    """Counts per bin (label, count), in bin order, drawn as touching bars."""
    return _render(
        [(label, [count]) for label, count in bins],
        series=[Series(y_label, colour)],
        title=title,
        desc=desc,
        x_label=x_label,
        y_label=y_label,
        value_format=plain_number,
        integer_axis=True,
        gap=0.0,
        chart_id=chart_id,
        legend=False,
    )


def _render(
    rows: list[tuple[str, list[Number]]],
    *,
    series: list[Series],
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    value_format: Formatter,
    integer_axis: bool,
    gap: float,
    chart_id: str,
    legend: bool,
) -> SafeString:
    frame = _Frame()
    chart_id = escape(chart_id or _slug(title))
    totals = [sum(values) for _, values in rows]
    if any(value < 0 for _, values in rows for value in values):
        raise ValueError("Bar charts draw amounts; negative values are not supported.")
    empty = not rows or max(totals) <= 0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart{" chart-empty" if empty else ""}" role="img" '
        f'viewBox="0 0 {frame.width} {frame.height}" aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc or title)}</desc>'
    ]
    if empty:
        parts.append(
            f'<text class="chart-empty-text" x="{frame.width / 2:g}" y="{frame.height / 2:g}" '
            f'text-anchor="middle" fill="currentColor" opacity="0.7">{EMPTY_TEXT}</text></svg>'
        )
        return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped

    top = nice_ceiling(max(totals))
    if integer_axis:
        top = max(top, 1.0)
    parts.append(_y_axis(frame, top, y_label, value_format, integer_axis))

    slot = frame.plot_width / len(rows)
    bar_width = slot * (1 - gap)
    label_every = max(1, math.ceil(len(rows) / 10))
    for index, (label, values) in enumerate(rows):
        x = frame.left + index * slot + (slot - bar_width) / 2
        summary = _summary(label, values, series, value_format)
        # The hit area spans the whole column so the tooltip works on short (or zero) bars too.
        parts.append(
            f'<g class="bar-group"><title>{escape(summary)}</title>'
            f'<rect class="hit" x="{_n(frame.left + index * slot)}" y="{_n(frame.top)}" '
            f'width="{_n(slot)}" height="{_n(frame.plot_height)}" fill="transparent"/>'
        )
        stacked = 0.0
        for value, one in zip(values, series, strict=True):
            if value <= 0:
                continue
            height = value / top * frame.plot_height
            y = frame.baseline - (stacked + value) / top * frame.plot_height
            parts.append(
                f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(bar_width)}" height="{_n(height)}" '
                f'fill="{escape(one.colour)}" data-series="{escape(one.name)}" data-value="{escape(str(value))}"/>'
            )
            stacked += value
        parts.append("</g>")
        if index % label_every == 0:
            parts.append(
                f'<text class="x-tick" x="{_n(frame.left + (index + 0.5) * slot)}" y="{_n(frame.baseline + 14)}" '
                f'text-anchor="middle" font-size="10" fill="currentColor">{escape(label)}</text>'
            )
    parts.append(
        f'<line x1="{frame.left}" y1="{_n(frame.baseline)}" x2="{frame.width - frame.right}" '
        f'y2="{_n(frame.baseline)}" stroke="currentColor" stroke-opacity="0.6"/>'
    )
    if x_label:
        parts.append(
            f'<text class="axis-label" x="{_n(frame.left + frame.plot_width / 2)}" y="{frame.height - 6}" '
            f'text-anchor="middle" font-size="11" fill="currentColor">{escape(x_label)}</text>'
        )
    if legend:
        parts.append(_legend(frame, series))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped


def _y_axis(frame: _Frame, top: float, y_label: str, value_format: Formatter, integer_axis: bool) -> str:
    parts = []
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        value = top * fraction
        if integer_axis and not float(value).is_integer():
            continue
        y = frame.baseline - fraction * frame.plot_height
        parts.append(
            f'<line class="grid" x1="{frame.left}" y1="{_n(y)}" x2="{frame.width - frame.right}" y2="{_n(y)}" '
            f'stroke="currentColor" stroke-opacity="0.12"/>'
            f'<text class="y-tick" x="{frame.left - 6}" y="{_n(y + 3.5)}" text-anchor="end" font-size="10" '
            f'fill="currentColor">{escape(value_format(int(value) if integer_axis else value))}</text>'
        )
    if y_label:
        centre = frame.top + frame.plot_height / 2
        parts.append(
            f'<text class="axis-label" x="12" y="{_n(centre)}" transform="rotate(-90 12 {_n(centre)})" '
            f'text-anchor="middle" font-size="11" fill="currentColor">{escape(y_label)}</text>'
        )
    return "".join(parts)


def _legend(frame: _Frame, series: list[Series]) -> str:
    parts = ['<g class="legend">']
    x = frame.width - frame.right
    for one in reversed(series):
        text_width = 6.5 * len(one.name)
        x -= text_width + 18
        parts.append(
            f'<rect x="{_n(x)}" y="2" width="10" height="10" fill="{escape(one.colour)}"/>'
            f'<text x="{_n(x + 14)}" y="11" font-size="10" fill="currentColor">{escape(one.name)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _summary(label: str, values: list[Number], series: list[Series], value_format: Formatter) -> str:
    if len(series) == 1:
        return f"{label}: {value_format(values[0])}"
    pieces = ", ".join(f"{one.name} {value_format(value)}" for value, one in zip(values, series, strict=True))
    return f"{label}: {pieces}"


def _slug(text: str) -> str:
    return "chart-" + (re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "untitled")


def _n(value: float) -> str:
    """Coordinates with two decimals at most, so the markup stays small."""
    return f"{value:.2f}".rstrip("0").rstrip(".")

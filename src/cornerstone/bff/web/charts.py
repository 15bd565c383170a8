"""Charts drawn on the server as SVG: no script, nothing from another origin, and they read the
same in a screenshot as on screen. Each chart is an image with a title and a description for
assistive technology (``role="img"``); pages show the same figures in a table beside it.

Values are integers (minor units, or any count); ``fmt`` turns one into the label people read
(``lambda v: money(v, "USD")``). Colours come from the stylesheet's series classes ``s1``-``s5``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

_PALETTE = ("s1", "s2", "s3", "s4", "s5")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[int]


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is >= ``value`` (the top of the axis)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _frame(title: str, description: str, width: int, height: int, body: list[str], chart_id: str) -> Markup:
    head = (
        f'<svg class="chart" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every interpolated text is escaped above


@dataclass(frozen=True, slots=True)
class _Plot:
    """A chart's frame: its size, the plot area inside the margins, and the value at its top."""

    width: int
    height: int
    top: int
    left: int = 110
    plot_top: int = 16
    bottom: int = 56

    @property
    def plot_h(self) -> int:
        return self.height - self.plot_top - self.bottom

    @property
    def base(self) -> int:
        """The y of the x axis."""
        return self.plot_top + self.plot_h

    @property
    def label_y(self) -> int:
        """The y of the labels under the x axis."""
        return self.height - self.bottom + 18

    def bar(self, value: int) -> float:
        """The height of ``value`` (negative values stand at zero)."""
        return self.plot_h * max(value, 0) / self.top

    def axis(self) -> str:
        return f'<line class="axis" x1="{self.left}" y1="{self.base}" x2="{self.width - 10}" y2="{self.base}"/>'


def _plot(series: Sequence[Series], fmt: Callable[[int], str], width: int, height: int) -> tuple[_Plot, list[str]]:
    """The frame for ``series`` and its y axis: five grid lines with their values."""
    plot = _Plot(width, height, _nice_ceiling(max((max(s.values, default=0) for s in series), default=0)))
    parts = []
    for i in range(5):
        value = plot.top * i // 4
        y = plot.base - plot.plot_h * i / 4
        parts.append(f'<line class="grid" x1="{plot.left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{plot.left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    return plot, parts


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[int], str],
    *,
    chart_id: str = "chart",
    width: int = 720,
    height: int = 280,
) -> Markup:
    """Grouped vertical bars: one group per category, one bar per series."""
    plot, parts = _plot(series, fmt, width, height)
    left = plot.left
    group_w = (width - left - 20) / max(len(categories), 1)
    bar_w = min(48.0, group_w * 0.8 / max(len(series), 1))
    for c, category in enumerate(categories):
        x0 = left + c * group_w + (group_w - bar_w * len(series)) / 2
        for s, one in enumerate(series):
            value = one.values[c] if c < len(one.values) else 0
            h = plot.bar(value)
            y = plot.base - h
            parts.append(
                f'<rect class="{_PALETTE[s % 5]}" x="{x0 + s * bar_w:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}"><title>{escape(one.name)}, {escape(category)}: {escape(fmt(value))}</title></rect>'
            )
        label = category if len(category) <= 18 else category[:17] + "…"
        parts.append(
            f'<text x="{left + c * group_w + group_w / 2:.1f}" y="{plot.label_y}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(plot.axis())
    description = "; ".join(
        f"{category}: " + ", ".join(f"{s.name} {fmt(s.values[c] if c < len(s.values) else 0)}" for s in series)
        for c, category in enumerate(categories)
    )
    return _frame(title, description, width, height, parts, chart_id)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[int], str],
    *,
    chart_id: str = "chart",
    width: int = 720,
    height: int = 280,
) -> Markup:
    """Lines over evenly spaced points (dates as labels), one line per series, dots at each point."""
    plot, parts = _plot(series, fmt, width, height)
    left = plot.left
    count = max(len(labels), 1)
    step = (width - left - 30) / max(count - 1, 1)
    for s, one in enumerate(series):
        points = [(left + 10 + i * step, plot.base - plot.bar(v)) for i, v in enumerate(one.values)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline class="line {_PALETTE[s % 5]}" points="{path}"/>')
        for i, (x, y) in enumerate(points):
            parts.append(
                f'<circle class="{_PALETTE[s % 5]}" cx="{x:.1f}" cy="{y:.1f}" r="3.5"><title>{escape(one.name)}, '
                f"{escape(labels[i] if i < len(labels) else '')}: {escape(fmt(one.values[i]))}</title></circle>"
            )
    every = max(1, count // 8)
    for i, text in enumerate(labels):
        if i % every == 0 or i == count - 1:
            anchor = "end" if i == count - 1 and count > 1 else ("start" if i == 0 else "middle")
            parts.append(
                f'<text x="{left + 10 + i * step:.1f}" y="{plot.label_y}" text-anchor="{anchor}">{escape(text)}</text>'
            )
    parts.append(plot.axis())
    last = {s.name: fmt(s.values[-1]) for s in series if s.values}
    description = f"{len(labels)} points from {labels[0] if labels else '-'} to {labels[-1] if labels else '-'}; " + (
        "; ".join(f"latest {name} {value}" for name, value in last.items())
    )
    return _frame(title, description, width, height, parts, chart_id)


def legend(series: Sequence[Series]) -> Markup:
    """The series' names with their colours, as a list (charts' colours are never the only key)."""
    items = "".join(
        f'<li><span class="swatch {_PALETTE[i % 5]}" aria-hidden="true"></span>{escape(s.name)}</li>'
        for i, s in enumerate(series)
    )
    return Markup(f'<ul class="legend">{items}</ul>')  # noqa: S704 - names are escaped

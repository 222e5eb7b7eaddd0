"""Server-rendered SVG charts: no JavaScript, no library, no inline styles (the CSP forbids them).

Each chart is an `<svg role="img">` with a <title> and <desc> for screen readers; the page puts the
same figures in a table beside it, the fallback for anyone who cannot see the chart. The viewBox
scales to the width of the page, so the chart fits a phone; colours come from CSS classes in
static/dashboards.css.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 480
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 12, 26
FONT = 12


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def _ids() -> tuple[str, str]:
    token = secrets.token_hex(4)
    return f"chart-{token}-title", f"chart-{token}-desc"


def _nice_max(value: int) -> int:
    """The top of the value axis: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    desc: str,
    fmt: Callable[[int], str] = str,
) -> Markup:
    """Vertical bars, one group per label (a day), one bar per series side by side.

    Zero values are drawn as empty slots, so a day without data is visibly a zero, not a gap
    in the axis. `fmt` formats the axis values (numbers or money, for the reader's locale).
    """
    title_id, desc_id = _ids()
    top = _nice_max(max((v for s in series for v in s.values), default=0))
    ticks = [(fraction, fmt(int(top * fraction))) for fraction in (0, 0.5, 1)]
    # The value axis is as wide as its longest label (money labels are long), within reason.
    left = min(WIDTH // 3, max(LEFT, int(max(len(t) for _f, t in ticks) * FONT * 0.62) + 8))
    plot_w, plot_h = WIDTH - left - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    bar_w = max(0.5, slot * 0.8 / max(1, len(series)))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(desc)}</desc>',
    ]
    for fraction, tick in ticks:
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{left - 4}" y="{y + FONT / 3:.1f}" text-anchor="end" '
            f'font-size="{FONT}">{escape(tick)}</text>'
        )
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for n, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else 0
            h = plot_h * value / top
            parts.append(
                f'<rect class="s{n}" x="{x0 + n * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(label)}: '
                f"{escape(s.name)} {escape(fmt(value))}</title></rect>"
            )
    # Label about six ticks whatever the range: a year of days would be unreadable otherwise.
    every = max(1, round(len(labels) / 6))
    for i in range(0, len(labels), every):
        x = left + i * slot + slot / 2
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
            f'font-size="{FONT}">{escape(labels[i])}</text>'
        )
    if len(series) > 1:
        x = left
        for n, s in enumerate(series):
            parts.append(
                f'<rect class="s{n}" x="{x}" y="{TOP}" width="{FONT}" height="{FONT}"/>'
                f'<text class="axis" x="{x + FONT + 3}" y="{TOP + FONT - 1}" '
                f'font-size="{FONT}">{escape(s.name)}</text>'
            )
            x += FONT + 12 + len(s.name) * FONT * 0.6
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part went through escape()


def hbar_chart(
    items: Sequence[tuple[str, int]],
    *,
    title: str,
    desc: str,
    fmt: Callable[[int], str] = str,
) -> Markup:
    """Horizontal bars, one per item (a tier, a country), the value written at the bar's end."""
    title_id, desc_id = _ids()
    row_h, label_w = 22, 120
    height = TOP * 2 + row_h * max(1, len(items))
    plot_w = WIDTH - label_w - RIGHT - 60
    top = max((v for _, v in items), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(desc)}</desc>',
    ]
    for i, (label, value) in enumerate(items):
        y = TOP + i * row_h
        w = plot_w * value / top
        parts.append(
            f'<text class="axis" x="{label_w - 6}" y="{y + row_h * 0.65:.1f}" '
            f'text-anchor="end" font-size="{FONT}">{escape(label[:22])}</text>'
            f'<rect class="s0" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}"/>'
            f'<text class="axis" x="{label_w + w + 4:.1f}" y="{y + row_h * 0.65:.1f}" '
            f'font-size="{FONT}">{escape(fmt(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part went through escape()

"""Shared SVG helpers: the root element, escaped text, compact coordinates."""

from __future__ import annotations

from markupsafe import Markup

from sitegen.charts.axes import duration_step, stepped
from sitegen.units import format_duration_ns
from sitegen.visible import shown

# The widest a character of chart text gets: charts.css draws a scaled-down chart's text at
# 17 px (in the chart's own units) on a phone, and a monospace glyph is 0.6 em wide. Margins
# sized with it hold their labels at every width, so nothing is clipped at 320 px.
CHAR_W = 17 * 0.61


def text_width(content: str) -> float:
    """Return how wide a chart label can be drawn, at the largest font size in use."""
    return len(content) * CHAR_W


def num(value: float) -> str:
    """Return a coordinate with at most one decimal and no trailing zero (deterministic)."""
    return f"{value:.1f}".removesuffix(".0")


def text(x: float, y: float, content: object, cls: str = "", anchor: str = "") -> str:
    """Return an escaped <text> element."""
    return shown_text(x, y, shown(str(content)), cls, anchor)


def shown_text(x: float, y: float, content: str, cls: str = "", anchor: str = "") -> str:
    """Return a <text> element of `content` already made visible and escaped (shown)."""
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' text-anchor="{anchor}"' if anchor else ""
    return f'<text x="{num(x)}" y="{num(y)}"{attrs}>{content}</text>'


def title(content: object) -> str:
    """Return an escaped <title> element (hover text and accessible name)."""
    return f"<title>{shown(str(content))}</title>"


def document(width: int, height: int, label: str, body: list[str], cls: str = "chart") -> Markup:
    """Wrap body elements in an accessible root <svg role="img"> named by its <title>."""
    # No aria-label: the <title> child names the image, and keeping data text out of
    # attributes means no minifier can ever turn it back into markup-looking bytes.
    return Markup(
        f'<svg class="{cls}" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}">{title(label)}{"".join(body)}</svg>'
    )


def duration_axis(
    left: float, width: float, total_ns: int, top: int, bottom: int, count: int, edge: float
) -> list[str]:
    """Return grid lines and labels of a time axis from 0 to total_ns, labels above `top`;
    a label that would reach past the chart (0 to `edge`) at the largest font is left out,
    not clipped (a tick can fall on the axis's end, at the chart's edge)."""

    out = []
    # Stepped in seconds, so a long axis ticks at round minutes, not at 50 s and 1m 40s.
    step = duration_step(total_ns / 1e9, count) * 1e9
    for tick in (int(t) for t in stepped(0, total_ns, step) if t <= total_ns):
        x = left + tick / total_ns * width
        out.append(f'<path class="grid" d="M{num(x)} {top - 4}V{bottom}"/>')
        label = format_duration_ns(tick)
        half = text_width(label) / 2
        if x - half >= 0 and x + half <= edge:
            out.append(text(x, 12, label, "tick", "middle"))
    return out

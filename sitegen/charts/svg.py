"""Shared SVG helpers: the root element, escaped text, compact coordinates."""

from __future__ import annotations

from markupsafe import Markup, escape

from sitegen.charts.axes import nice_ticks
from sitegen.units import format_duration_ns
from sitegen.visible import visible


def num(value: float) -> str:
    """Return a coordinate with at most one decimal and no trailing zero (deterministic)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def text(x: float, y: float, content: object, cls: str = "", anchor: str = "") -> str:
    """Return an escaped <text> element."""
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' text-anchor="{anchor}"' if anchor else ""
    return f'<text x="{num(x)}" y="{num(y)}"{attrs}>{escape(visible(str(content)))}</text>'


def title(content: object) -> str:
    """Return an escaped <title> element (hover text and accessible name)."""
    return f"<title>{escape(visible(str(content)))}</title>"


def document(width: int, height: int, label: str, body: list[str], cls: str = "chart") -> Markup:
    """Wrap body elements in an accessible root <svg role="img"> named by its <title>."""
    # No aria-label: the <title> child names the image, and keeping data text out of
    # attributes means no minifier can ever turn it back into markup-looking bytes.
    return Markup(
        f'<svg class="{cls}" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}">{title(label)}{"".join(body)}</svg>'
    )


def duration_axis(
    left: float, width: float, total_ns: int, top: int, bottom: int, count: int
) -> list[str]:
    """Return grid lines and labels of a time axis from 0 to total_ns, labels above `top`."""

    out = []
    for tick in (int(t) for t in nice_ticks(0, total_ns, count) if t <= total_ns):
        x = left + tick / total_ns * width
        out.append(f'<path class="grid" d="M{num(x)} {top - 4}V{bottom}"/>')
        out.append(text(x, 12, format_duration_ns(tick), "tick", "middle"))
    return out

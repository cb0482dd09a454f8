"""Horizontal bar charts: a labelled bar and a formatted value per item."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from sitegen.charts.svg import document, num, text, title
from sitegen.units import format_value

ROW, LABEL, VALUE = 18, 170, 80


def hbars(
    items: Sequence[tuple[str, float]], unit: str, *, width: int = 480, classes: Sequence[str] = ()
) -> Markup:
    """Draw (label, value) items as horizontal bars scaled to the largest value; `classes`
    colour the bars by meaning (log levels) instead of by series."""
    height = ROW * max(1, len(items)) + 4
    top_value = max((v for _, v in items), default=0.0) or 1.0
    bar_w = width - LABEL - VALUE
    body = []
    for i, (label, value) in enumerate(items):
        y = i * ROW
        shown = label if len(label) <= 22 else label[:21] + "…"
        w = max(1.0, value / top_value * bar_w)
        cls = classes[i] if i < len(classes) else f"s{i % 8}"
        body.append(
            f'<g class="{cls}">{title(f"{label}: {format_value(value, unit)}")}'
            f"{text(0, y + 13, shown, 'lbl')}"
            f'<rect x="{LABEL}" y="{y + 3}" width="{num(w)}" height="{ROW - 6}"/>'
            f"{text(LABEL + w + 4, y + 13, format_value(value, unit), 'tick')}</g>"
        )
    return document(width, height, f"bar chart of {len(items)} items", body)

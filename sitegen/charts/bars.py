"""Horizontal bar charts: a labelled bar and a formatted value per item."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from sitegen.charts.svg import document, num, text, text_width, title
from sitegen.units import format_value

# A row holds its label at the largest font in use (17 units, on a phone) with room between
# rows: at 18 units, a phone's labels (12.8 px in rows of 13.5 px) touched those of the next.
ROW, BAR, GAP, TOP = 22, 12, 6, 6  # TOP: room above the first label at that font
LABEL_CHARS = 22  # a longer label is cut with "…"; the hover text and the table have it whole


def hbars(
    name: str,
    items: Sequence[tuple[str, float]],
    unit: str,
    *,
    width: int = 480,
    classes: Sequence[str] = (),
) -> Markup:
    """Draw (label, value) items as horizontal bars scaled to the largest value; the label and
    value columns are as wide as their longest text, so no text covers a bar or is clipped;
    `classes` colour the bars by meaning (log levels) instead of by series; `name` names
    the chart (its <title>), as a reader's screen reader says it."""
    height = TOP + ROW * max(1, len(items)) + 4
    top_value = max((v for _, v in items), default=0.0) or 1.0
    shown = [label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
             for label, _ in items]  # fmt: skip
    values = [format_value(value, unit) for _, value in items]
    left = max(map(text_width, shown), default=0) + GAP
    bar_w = width - left - max(map(text_width, values), default=0) - GAP
    body = []
    for i, (label, value) in enumerate(items):
        y = TOP + i * ROW
        w = max(1.0, value / top_value * bar_w)
        cls = classes[i] if i < len(classes) else f"s{i % 8}"
        body.append(
            f'<g class="{cls}">{title(f"{label}: {values[i]}")}'
            f"{text(0, y + ROW // 2 + 4, shown[i], 'lbl')}"
            f'<rect x="{num(left)}" y="{y + (ROW - BAR) // 2}" width="{num(w)}" height="{BAR}"/>'
            f"{text(left + w + 4, y + ROW // 2 + 4, values[i], 'tick')}</g>"
        )
    return document(width, height, name, body)

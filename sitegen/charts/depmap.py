"""The service dependency map: services in columns by call depth, edges labelled with calls."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from sitegen.charts.svg import document, num, text, title
from sitegen.tracestats import Edge

BOX_W, BOX_H, COL_GAP, ROW_GAP, PAD = 150, 26, 110, 22, 8
GLYPHS = "●■▲◆▼★✚✖"


def layers(services: list[str], edges: Sequence[Edge]) -> dict[str, int]:
    """Place each service one column right of its furthest caller (cycles cut off)."""
    layer = dict.fromkeys(services, 0)
    for _ in services:  # at most len(services) rounds: a call cycle cannot push forever
        moved = False
        for e in edges:
            if e.caller != e.callee and layer[e.callee] < layer[e.caller] + 1 < len(services):
                layer[e.callee] = layer[e.caller] + 1
                moved = True
        if not moved:
            break
    return layer


def depmap(services: Sequence[str], edges: Sequence[Edge]) -> Markup:
    """Draw services as boxes and calls as labelled arrows, deterministically."""
    names = sorted(set(services) | {e.caller for e in edges} | {e.callee for e in edges})
    if not names:
        return document(300, 40, "no services", [text(150, 24, "no traces yet", "", "middle")])
    layer = layers(names, edges)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(layer[name], []).append(name)
    where = {
        name: (PAD + col * (BOX_W + COL_GAP), PAD + row * (BOX_H + ROW_GAP))
        for col, members in columns.items()
        for row, name in enumerate(members)
    }
    width = PAD * 2 + (max(columns) + 1) * BOX_W + max(columns) * COL_GAP
    height = PAD * 2 + max(len(m) for m in columns.values()) * (BOX_H + ROW_GAP) - ROW_GAP
    marker = (
        '<marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path class="head" d="M0 0L8 4L0 8z"/></marker>'
    )
    body = [f"<defs>{marker}</defs>"]
    for e in edges:
        (x1, y1), (x2, y2) = where[e.caller], where[e.callee]
        a = (x1 + BOX_W, y1 + BOX_H / 2)
        b = (x2, y2 + BOX_H / 2) if x2 > x1 else (x2 + BOX_W / 2, y2 + (BOX_H if y2 < y1 else 0))
        share = f", {100 * e.errors / e.calls:.0f}% errors" if e.errors else ""
        label = f"{e.calls} calls{share}"
        cls = "edge err" if e.errors else "edge"
        body.append(
            f'<g class="{cls}">{title(f"{e.caller} → {e.callee}: {label}")}'
            f'<path d="M{num(a[0])} {num(a[1])}L{num(b[0])} {num(b[1])}" '
            'marker-end="url(#arrow)"/>'
            f"{text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 - 4, label, 'tick', 'middle')}</g>"
        )
    for i, name in enumerate(names):
        x, y = where[name]
        shown = name if len(name) <= 17 else name[:16] + "…"
        body.append(
            f'<g class="svc{i % 8} node">{title(name)}'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="3"/>'
            f"{text(x + 8, y + 17, f'{GLYPHS[i % len(GLYPHS)]} {shown}', 'lbl')}</g>"
        )
    return document(width, height, f"service map: {len(names)} services, {len(edges)} calls", body)

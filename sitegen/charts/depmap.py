"""The service dependency map: a layered drawing, deterministic for a given graph.

Services go in columns by call distance from the entry points; a few barycenter sweeps
order each column to uncross edges. Calls to the right are curves between the boxes' sides;
calls back or within a column are arcs below and beside the boxes. Labels (calls and error
rates) are nudged apart so none covers a box or another label.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from sitegen.charts.svg import document, num, text, title
from sitegen.traces.stats import Edge

BOX_W, BOX_H, COL_GAP, ROW_GAP, PAD = 150, 26, 130, 30, 8
LABEL_H, CHAR_W = 13, 6.7  # an 11 px monospace label: its height and the width of a character
GLYPHS = "●■▲◆▼★✚✖"
SWEEPS = 4


def layers(names: list[str], edges: Sequence[Edge]) -> dict[str, int]:
    """Place each service at its call distance from an entry point (a service nobody calls).

    Distances, not the longest path: a dense or cyclic graph stays a few columns wide, and
    the calls that point back or stay in a column are drawn as arcs. A cycle with no entry
    point starts from its busiest caller.
    """
    callees: dict[str, set[str]] = {n: set() for n in names}
    called = set()
    for e in edges:
        if e.caller != e.callee:
            callees[e.caller].add(e.callee)
            called.add(e.callee)
    calls = {n: sum(e.calls for e in edges if e.caller == n) for n in names}
    layer: dict[str, int] = {}
    frontier = [n for n in names if n not in called]
    while len(layer) < len(names):
        if not frontier:  # only cycles left: enter at the busiest caller
            rest = [n for n in names if n not in layer]
            frontier = [min(rest, key=lambda n: (-calls[n], n))]
        depth = 0
        for n in frontier:
            layer[n] = depth
        while frontier:
            depth += 1
            frontier = sorted({c for n in frontier for c in callees[n] if c not in layer})
            for n in frontier:
                layer[n] = depth
    return layer


def _order(columns: dict[int, list[str]], edges: Sequence[Edge]) -> None:
    """Reorder each column by the mean row of its neighbours (barycenter), in place."""
    links: dict[str, list[str]] = {}
    for e in edges:
        links.setdefault(e.caller, []).append(e.callee)
        links.setdefault(e.callee, []).append(e.caller)
    for sweep in range(SWEEPS):
        cols = sorted(columns) if sweep % 2 == 0 else sorted(columns, reverse=True)
        for col in cols:
            row = {n: i for members in columns.values() for i, n in enumerate(members)}
            here = set(columns[col])
            key = {}
            for name in columns[col]:
                near = [row[n] for n in links.get(name, ()) if n not in here]
                key[name] = (sum(near) / len(near) if near else row[name], name)
            columns[col].sort(key=key.__getitem__)


Point = tuple[float, float]


Curve = tuple[Point, Point, Point, Point]  # a cubic Bézier: start, two controls, end
# Where along its curve a label may sit, in order of preference: the middle first.
LABEL_AT = (0.5, 0.35, 0.65, 0.2, 0.8)


def _at(curve: Curve, t: float) -> Point:
    """Return the point of a cubic Bézier curve at parameter t."""
    w = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3)
    return (sum(k * p[0] for k, p in zip(w, curve, strict=True)),
            sum(k * p[1] for k, p in zip(w, curve, strict=True)))  # fmt: skip


def _edge(caller: Point, callee: Point) -> Curve:
    """Return the curve of a call between boxes whose top-left corners are given."""
    (x1, y1), (x2, y2) = caller, callee
    if x2 > x1:  # to the right: from the caller's right side to the callee's left side
        a, b = (x1 + BOX_W, y1 + BOX_H / 2), (x2, y2 + BOX_H / 2)
        dx = (b[0] - a[0]) / 2
        return a, (a[0] + dx, a[1]), (b[0] - dx, b[1]), b
    if x2 < x1:  # back: an arc below, from the caller's left side to the callee's right side
        a, b = (x1, y1 + BOX_H * 0.75), (x2 + BOX_W, y2 + BOX_H * 0.75)
        drop = ROW_GAP * 0.9
        return a, (a[0] - 40, a[1] + drop), (b[0] + 40, b[1] + drop), b
    # The same column: a loop out to the right, between the two boxes' right sides.
    a, b = (x1 + BOX_W, y1 + BOX_H * 0.7), (x2 + BOX_W, y2 + BOX_H * 0.3)
    bulge = 30 + abs(y2 - y1) / 4
    return a, (a[0] + bulge, a[1]), (b[0] + bulge, b[1]), b


Box = tuple[float, float, float, float]  # centre x, centre y, width, height


def _clear(box: Box, taken: list[Box]) -> bool:
    x, y, w, h = box
    return all(abs(x - tx) * 2 >= w + tw or abs(y - ty) * 2 >= h + th for tx, ty, tw, th in taken)


def _place(curve: Curve, width: float, taken: list[Box], bottom: float) -> Point:
    """Return where a label of `width` goes: on or near its curve, inside the chart, covering
    nothing placed before it (boxes, labels); past every free spot, in a row below the map."""
    for step in range(12):
        for t in LABEL_AT:
            x, y = _at(curve, t)
            baseline = y - 3 + (step + 1) // 2 * LABEL_H * (1 if step % 2 else -1)
            box = (x, baseline - 4, width, LABEL_H)
            if LABEL_H <= baseline <= bottom and _clear(box, taken):
                taken.append(box)
                return x, baseline
    x = _at(curve, 0.5)[0]
    baseline = max(bottom, *(ty + 4 for tx, ty, tw, th in taken)) + LABEL_H
    taken.append((x, baseline - 4, width, LABEL_H))
    return x, baseline


def _share(part: int, whole: int) -> str:
    """Return part/whole as a percentage that never rounds a few errors down to 0%."""
    percent = 100 * part / whole
    return "<1%" if percent < 1 else f"{percent:.0f}%"


def depmap(services: Sequence[str], edges: Sequence[Edge]) -> Markup:
    """Draw services as boxes and calls as labelled curves, deterministically."""
    names = sorted(set(services) | {e.caller for e in edges} | {e.callee for e in edges})
    if not names:
        return document(300, 40, "no services", [text(150, 24, "no traces yet", "", "middle")])
    layer = layers(names, edges)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(layer[name], []).append(name)
    _order(columns, edges)
    where = {
        name: (PAD + col * (BOX_W + COL_GAP), PAD + LABEL_H + row * (BOX_H + ROW_GAP))
        for col, members in columns.items()
        for row, name in enumerate(members)
    }
    tallest = max(len(m) for m in columns.values())
    width = PAD * 2 + (max(columns) + 1) * BOX_W + max(columns) * COL_GAP
    height = PAD * 2 + LABEL_H * 2 + tallest * (BOX_H + ROW_GAP)  # room for arcs below
    marker = (
        '<marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path class="head" d="M0 0L8 4L0 8z"/></marker>'
    )
    body: list[str] = [f"<defs>{marker}</defs>"]
    labels: list[str] = []
    curves: list[Point] = []
    taken: list[Box] = [
        (x + BOX_W / 2, y + BOX_H / 2, BOX_W + 4, BOX_H + 2) for x, y in where.values()
    ]
    for e in sorted(edges, key=lambda e: (layer[e.caller], e.caller, e.callee)):
        curve = _edge(where[e.caller], where[e.callee])
        curves.extend(curve)
        d = "M{} {}C{} {} {} {} {} {}".format(*(num(v) for p in curve for v in p))
        share = f", {_share(e.errors, e.calls)} errors" if e.errors else ""
        label = f"{e.calls} calls{share}"
        cls = "edge err" if e.errors else "edge"
        body.append(
            f'<g class="{cls}">{title(f"{e.caller} → {e.callee}: {label}")}'
            f'<path d="{d}" marker-end="url(#arrow)"/></g>'
        )
        x, y = _place(curve, len(label) * CHAR_W + 6, taken, height - 3)
        # Labels last, above every curve; the halo class keeps them readable across lines.
        labels.append(text(x, y, label, "tick halo" + (" err" if e.errors else ""), "middle"))
    for i, name in enumerate(names):
        x, y = where[name]
        shown = name if len(name) <= 17 else name[:16] + "…"
        body.append(
            f'<g class="svc{i % 8} node">{title(name)}'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="3"/>'
            f"{text(x + 8, y + 17, f'{GLYPHS[i % len(GLYPHS)]} {shown}', 'lbl')}</g>"
        )
    body += labels
    # Loops within the last column and the labels placed on them may reach past the boxes.
    reach = max([tx + tw / 2 for tx, _, tw, _ in taken] + [x for x, _ in curves])
    width = max(width, round(reach + PAD))
    height = max(height, round(max(ty for _, ty, _, _ in taken) + LABEL_H))
    return document(width, height, f"service map: {len(names)} services, {len(edges)} calls", body)

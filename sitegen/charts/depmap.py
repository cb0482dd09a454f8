"""The service dependency map: a layered drawing, deterministic for a given graph.

Services go in columns by call distance from the entry points; a few barycenter sweeps
order each column to uncross edges. Calls to the right are curves between the boxes' sides;
calls back or within a column are arcs below and beside the boxes, each a little wider than
the one before so they don't lie on each other. Every call is numbered as in the calls table
under the map; its label ("3: 12 calls, 5% errors") sits on its curve, nudged so it covers
no box and no other label, or, where the map is dense or leaves no room, its number alone.
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
ARC_STEP = 9  # how much wider each further arc from one column is drawn
NUDGES = 4  # how far (in label heights, either way) a full label may move off its curve
DENSE = 12  # past this many calls a map labels each call by its number alone


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


def _edge(caller: Point, callee: Point, spread: int = 0) -> Curve:
    """Return the curve of a call between boxes whose top-left corners are given; `spread`
    counts the arcs drawn before this one from the same column, each drawn wider."""
    (x1, y1), (x2, y2) = caller, callee
    if x2 > x1:  # to the right: from the caller's right side to the callee's left side
        a, b = (x1 + BOX_W, y1 + BOX_H / 2), (x2, y2 + BOX_H / 2)
        dx = (b[0] - a[0]) / 2
        return a, (a[0] + dx, a[1]), (b[0] - dx, b[1]), b
    if x2 < x1:  # back: an arc below, from the caller's left side to the callee's right side
        a, b = (x1, y1 + BOX_H * 0.75), (x2 + BOX_W, y2 + BOX_H * 0.75)
        drop = ROW_GAP * 0.9 + ARC_STEP * spread
        return a, (a[0] - 40, a[1] + drop), (b[0] + 40, b[1] + drop), b
    # The same column: a loop out to the right, between the two boxes' right sides.
    a, b = (x1 + BOX_W, y1 + BOX_H * 0.7), (x2 + BOX_W, y2 + BOX_H * 0.3)
    bulge = 30 + abs(y2 - y1) / 4 + ARC_STEP * spread
    return a, (a[0] + bulge, a[1]), (b[0] + bulge, b[1]), b


Box = tuple[float, float, float, float]  # centre x, centre y, width, height


def _clear(box: Box, taken: list[Box]) -> bool:
    x, y, w, h = box
    return all(abs(x - tx) * 2 >= w + tw or abs(y - ty) * 2 >= h + th for tx, ty, tw, th in taken)


def _place(curve: Curve, texts: Sequence[str], taken: list[Box], area: Box) -> tuple[str, Point]:
    """Return which of `texts` (the preferred first) goes where: on or next to its curve,
    inside `area` (x0, y0, x1, y1), covering nothing placed before it (boxes, labels).

    A text that fits nowhere gives way to the next, shorter one; the last (a call's number)
    may move further from its curve, and takes the least crowded spot if none is free.
    """
    x0, y0, x1, y1 = area
    for k, content in enumerate(texts):
        last = k == len(texts) - 1
        width = len(content) * CHAR_W + 6
        for step in range(2 * (NUDGES * 3 if last else NUDGES) + 1):
            for t in LABEL_AT:
                x, y = _at(curve, t)
                baseline = y - 3 + (step + 1) // 2 * LABEL_H * (1 if step % 2 else -1)
                box = (x, baseline - 4, width, LABEL_H)
                inside = x0 <= x - width / 2 and x + width / 2 <= x1
                if inside and y0 + LABEL_H <= baseline <= y1 and _clear(box, taken):
                    taken.append(box)
                    return content, (x, baseline)
    x, y = _at(curve, 0.5)
    taken.append((x, y - 7, len(texts[-1]) * CHAR_W + 6, LABEL_H))
    return texts[-1], (x, y - 3)


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
    number = {(e.caller, e.callee): n for n, e in enumerate(edges, 1)}  # as the calls table
    arcs: dict[int, int] = {}  # arcs drawn so far from each column
    placed: list[tuple[Edge, Curve]] = []
    for e in sorted(edges, key=lambda e: (layer[e.caller], e.caller, e.callee)):
        col = layer[e.caller]
        arc = layer[e.callee] <= col
        curve = _edge(where[e.caller], where[e.callee], arcs.get(col, 0) if arc else 0)
        arcs[col] = arcs.get(col, 0) + arc
        curves.extend(_at(curve, k / 16) for k in range(17))  # where the curve reaches
        placed.append((e, curve))
        d = "M{} {}C{} {} {} {} {} {}".format(*(num(v) for p in curve for v in p))
        share = f", {_share(e.errors, e.calls)} errors" if e.errors else ""
        n = number[(e.caller, e.callee)]
        cls = "edge err" if e.errors else "edge"
        body.append(
            f'<g class="{cls}">{title(f"{n}: {e.caller} → {e.callee}: {e.calls} calls{share}")}'
            f'<path d="{d}" marker-end="url(#arrow)"/></g>'
        )
    # Labels once every curve is known (the map's extent with them); busiest calls first.
    right = max([width] + [x + PAD for x, _ in curves])
    bottom = max([height] + [y + LABEL_H for _, y in curves])
    for e, curve in sorted(placed, key=lambda p: (-p[0].calls, number[(p[0].caller, p[0].callee)])):
        n = number[(e.caller, e.callee)]
        share = f", {_share(e.errors, e.calls)} errors" if e.errors else ""
        texts = (str(n),) if len(edges) > DENSE else (f"{n}: {e.calls} calls{share}", str(n))
        label, (x, y) = _place(curve, texts, taken, (0, 0, right, bottom))
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
    # Arcs beside the last column and below the last row reach past the boxes.
    width, height = round(right), round(bottom)
    return document(width, height, f"service map: {len(names)} services, {len(edges)} calls", body)

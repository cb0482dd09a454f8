"""Trace waterfalls: one row per span in tree order, bars on a shared time axis."""

from __future__ import annotations

from markupsafe import Markup

from sitegen.charts.svg import document, duration_axis, num, text, title
from sitegen.model import Span, Trace
from sitegen.units import format_duration_ns

ROW, LABEL, TOP, RIGHT = 18, 300, 22, 80
GLYPHS = "●■▲◆▼★✚✖"
MAX_ROWS = 500  # past this the page would weigh megabytes; the rest is counted, not drawn


def tree_order(trace: Trace) -> list[tuple[Span, int]]:
    """Return (span, depth) depth-first from the root(s), children by start time."""
    ids = {s.span_id for s in trace.spans}
    children: dict[str | None, list[Span]] = {}
    for span in trace.spans:
        parent = span.parent_id if span.parent_id in ids else None  # orphans become roots
        children.setdefault(parent, []).append(span)
    out: list[tuple[Span, int]] = []
    stack = [(s, 0) for s in reversed(sorted(children.get(None, []), key=lambda s: s.start_ns))]
    while stack:
        span, depth = stack.pop()
        out.append((span, depth))
        kids = sorted(children.get(span.span_id, []), key=lambda s: s.start_ns)
        stack.extend((k, depth + 1) for k in reversed(kids))
    return out


def waterfall(trace: Trace, *, width: int = 960, critical: frozenset[str] = frozenset()) -> Markup:
    """Draw a trace as a Jaeger-style waterfall; spans in `critical` are marked with »."""
    rows = tree_order(trace)
    hidden = max(0, len(rows) - MAX_ROWS)
    rows = rows[:MAX_ROWS]
    services = sorted({s.service for s in trace.spans})
    start, total = trace.start_ns, max(1, trace.duration_ns)
    bar_w = width - LABEL - RIGHT
    height = TOP + ROW * (len(rows) + (1 if hidden else 0)) + 4

    def x(ns: int) -> float:
        return LABEL + (ns - start) / total * bar_w

    body = duration_axis(LABEL, bar_w, total, TOP, height, 5)
    for i, (span, depth) in enumerate(rows):
        top = TOP + i * ROW
        svc = services.index(span.service)
        err = span.status == "error"
        on_path = span.span_id in critical
        cls = f"svc{svc % 8}" + (" err" if err else "") + (" crit" if on_path else "")
        glyph = GLYPHS[svc % len(GLYPHS)]
        name = span.name if len(span.name) <= 34 - depth else span.name[: 33 - depth] + "…"
        label = f"{'! ' if err else ''}{'» ' if on_path else ''}{glyph} {name}"
        dur = format_duration_ns(span.duration_ns)
        hover = f"{span.name} · {span.service} · {dur} · {span.status}"
        hover += " · on the critical path" if on_path else ""
        bx, bw = x(span.start_ns), max(1.0, span.duration_ns / total * bar_w)
        body.append(
            f'<g class="{cls}">{title(hover)}'
            f"{text(4 + min(depth, 12) * 8, top + 13, label, 'lbl')}"
            f'<rect x="{num(bx)}" y="{top + 3}" width="{num(bw)}" height="{ROW - 6}"/>'
            f"{text(min(bx + bw + 4, width - RIGHT + 4), top + 13, dur, 'tick')}</g>"
        )
    if hidden:
        body.append(text(4, TOP + len(rows) * ROW + 13, f"… {hidden} more spans not drawn", "tick"))
    return document(width, height, f"waterfall of trace {trace.trace_id}", body)

"""Trace waterfalls: one row per span (or per group of alike spans), bars on a time axis."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from markupsafe import Markup

from sitegen.charts.svg import document, duration_axis, num, text, title
from sitegen.model import Trace
from sitegen.traces.tree import Row, Rows, span_rows
from sitegen.units import format_duration_ns

ROW, LABEL, TOP, RIGHT = 18, 300, 22, 96
GLYPHS = "●■▲◆▼★✚✖"
MAX_SEGMENTS = 40  # a group's bar shows when its spans ran, up to this many separate runs
MAX_EVENTS = 20  # event marks drawn on one span's bar


def _segments(row: Row, x: Callable[[int], float]) -> list[tuple[float, float]]:
    """Return the pixel runs in which a row's spans ran, overlapping ones merged."""
    runs: list[list[float]] = []
    for s in sorted(row.spans, key=lambda s: s.start_ns):
        a, b = x(s.start_ns), max(x(s.end_ns), x(s.start_ns) + 1)
        if runs and a <= runs[-1][1] + 1:
            runs[-1][1] = max(runs[-1][1], b)
        else:
            runs.append([a, b])
    if len(runs) > MAX_SEGMENTS:  # too many to tell apart: the group's whole extent
        return [(runs[0][0], max(r[1] for r in runs))]
    return [(a, b) for a, b in runs]


def _describe(row: Row, glyph: str, on_path: bool) -> tuple[str, str, str]:
    """Return a row's label, its duration text and its hover text."""
    span, n = row.span, len(row.spans)
    mark = ("! " if row.errors else "") + ("» " if on_path else "") + glyph
    if n == 1:
        dur = format_duration_ns(span.duration_ns)
        hover = f"{span.name} · {span.service} · {dur} · {span.status}"
        return f"{mark} {span.name}", dur, hover
    durations = sorted(s.duration_ns for s in row.spans)
    median = format_duration_ns(int(statistics.median(durations)))
    errors = f"{row.errors} error" + ("" if row.errors == 1 else "s")
    hover = (
        f"{n} spans of {span.name} · {span.service} · median {median} · "
        f"max {format_duration_ns(durations[-1])} · {errors}"
    )
    return f"{mark} ×{n} {span.name}", f"×{n} ~{median}", hover


def waterfall(
    trace: Trace,
    *,
    width: int = 960,
    critical: frozenset[str] = frozenset(),
    rows: Rows | None = None,
) -> Markup:
    """Draw a trace as a Jaeger-style waterfall; rows on the critical path are marked with »."""
    shown = rows or span_rows(trace, keep=critical)
    services = sorted({s.service for s in trace.spans})
    start, total = trace.start_ns, max(1, trace.duration_ns)
    bar_w = width - LABEL - RIGHT
    height = TOP + ROW * (len(shown.rows) + (1 if shown.hidden else 0)) + 4

    def x(ns: int) -> float:
        return LABEL + (ns - start) / total * bar_w

    body = duration_axis(LABEL, bar_w, total, TOP, height, 5)
    for i, row in enumerate(shown.rows):
        top, span = TOP + i * ROW, row.span
        svc = services.index(span.service)
        on_path = any(s.span_id in critical for s in row.spans)
        group = len(row.spans) > 1
        cls = f"svc{svc % 8}" + (" err" if row.errors else "") + (" crit" if on_path else "")
        cls += " grp" if group else ""
        label, dur, hover = _describe(row, GLYPHS[svc % len(GLYPHS)], on_path)
        depth = min(row.depth, 12)
        limit = 38 - depth
        label = label if len(label) <= limit else label[: limit - 1] + "…"
        hover += " · on the critical path" if on_path else ""
        bars = "".join(
            f'<rect x="{num(a)}" y="{top + 3}" width="{num(b - a)}" height="{ROW - 6}"/>'
            for a, b in _segments(row, x)
        )
        marks = "".join(
            f'<path class="ev" d="M{num(x(e.ts_ns))} {top + 1}v{ROW - 2}">{title(e.name)}</path>'
            for e in (span.events[:MAX_EVENTS] if not group else ())
        )
        end = max(x(row.end_ns), x(row.start_ns) + 1)
        body.append(
            f'<g class="{cls}">{title(hover)}'
            f"{text(4 + depth * 8, top + 13, label, 'lbl')}"
            f"{bars}{marks}{text(min(end + 4, width - RIGHT + 4), top + 13, dur, 'tick')}</g>"
        )
    if shown.hidden:
        note = f"… {shown.hidden} more spans not drawn"
        body.append(text(4, TOP + len(shown.rows) * ROW + 13, note, "tick"))
    return document(width, height, f"waterfall of trace {trace.trace_id}", body)

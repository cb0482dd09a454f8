"""Trace waterfalls: one row per span (or per group of alike spans), bars on a time axis."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable

from markupsafe import Markup

from sitegen.charts.svg import document, duration_axis, num, shown_text, text
from sitegen.model import Trace
from sitegen.traces.stats import Section
from sitegen.traces.tree import Row, Rows, span_rows
from sitegen.units import counted, format_duration_ns
from sitegen.visible import shown_each

ROW, TOP, RIGHT = 18, 22, 96
# The name column is as wide as its longest label, within these bounds: short names leave
# the bars most of the width (on a phone, most of what is in view); long ones are cut.
MIN_LABEL, MAX_LABEL = 120, 240
CHAR_W, INDENT = 6.7, 8  # an 11 px monospace character; indent per tree level
GLYPHS = "●■▲◆▼★✚✖"
MAX_SEGMENTS = 40  # a group's bar shows when its spans ran, up to this many separate runs
MAX_EVENTS = 20  # event marks drawn on one span's bar


def _segments(
    times: Iterable[tuple[int, int]], x: Callable[[int], float]
) -> list[tuple[float, float]]:
    """Return the pixel runs of (start, end) times, overlapping or touching ones merged."""
    runs: list[list[float]] = []
    for start, end in sorted(times):
        a, b = x(start), max(x(end), x(start) + 1)
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
    path = " · on the critical path" if on_path else ""
    if n == 1:
        dur = format_duration_ns(span.duration_ns)
        hover = f"{span.name} · {span.service} · {dur} · {span.status}{path}"
        return f"{mark} {span.name}", dur, hover
    durations = sorted(s.duration_ns for s in row.spans)
    median = format_duration_ns(int(statistics.median(durations)))
    hover = (
        f"{n} spans of {span.name} · {span.service} · median {median} · "
        f"max {format_duration_ns(durations[-1])} · {counted(row.errors, 'error')}{path}"
    )
    return f"{mark} ×{n} {span.name}", f"×{n} ~{median}", hover


def service_key(trace: Trace) -> tuple[tuple[str, str, str], ...]:
    """Return (css class, glyph, service) of each service of a trace, as the waterfall shows it."""
    services = sorted({s.service for s in trace.spans})
    return tuple((f"svc{i % 8}", GLYPHS[i % len(GLYPHS)], svc) for i, svc in enumerate(services))


def _fit(label: str, depth: int) -> str:
    """Return a label cut to what the widest name column holds at its depth."""
    limit = int((MAX_LABEL - 8 - depth * INDENT) / CHAR_W)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def waterfall(
    trace: Trace,
    *,
    width: int = 960,
    critical: frozenset[str] = frozenset(),
    rows: Rows | None = None,
    sections: Iterable[Section] = (),
) -> Markup:
    """Draw a trace as a Jaeger-style waterfall; rows on the critical path are marked with »,
    and the `sections` of it (critical_sections) drawn as a line through their bars."""
    shown = rows or span_rows(trace, keep=critical)
    waits: dict[str, list[Section]] = {}
    for section in sections:
        waits.setdefault(section.span_id, []).append(section)
    key = {svc: (cls, glyph) for cls, glyph, svc in service_key(trace)}
    start, total = trace.start_ns, max(1, trace.duration_ns)
    drawn = []  # each row, whether it is on the critical path, its depth, its label's length
    texts: list[str] = []  # each row's hover text, label and duration, then its events' names
    for row in shown.rows:
        on_path = any(s.span_id in critical for s in row.spans)
        label, dur, hover = _describe(row, key[row.span.service][1], on_path)
        depth = min(row.depth, 12)
        label = _fit(label, depth)
        drawn.append((row, on_path, depth, len(label)))
        texts += (hover, label, dur)
        if len(row.spans) == 1:
            texts += (e.name for e in row.span.events[:MAX_EVENTS])
    widest = max((4 + d * INDENT + chars * CHAR_W for _, _, d, chars in drawn), default=0)
    left = min(MAX_LABEL, max(MIN_LABEL, round(widest + 8)))
    bar_w = width - left - RIGHT
    height = TOP + ROW * (len(shown.rows) + (1 if shown.hidden else 0)) + 4

    def x(ns: int) -> float:
        return left + (ns - start) / total * bar_w

    body = duration_axis(left, bar_w, total, TOP, height, 5, width)
    shown_texts = shown_each(texts)
    for i, (row, on_path, depth, _) in enumerate(drawn):
        top, span = TOP + i * ROW, row.span
        hover, label, dur = next(shown_texts), next(shown_texts), next(shown_texts)
        group = len(row.spans) > 1
        cls = key[span.service][0] + (" err" if row.errors else "") + (" crit" if on_path else "")
        if group:
            cls += " grp"
            runs = _segments(((s.start_ns, s.end_ns) for s in row.spans), x)
            end = max(x(row.end_ns), x(row.start_ns) + 1)
        else:  # one span, one run (what _segments makes of it, for less)
            a = x(span.start_ns)
            end = max(x(span.end_ns), a + 1)
            runs = [(a, end)]
        bars = "".join(
            f'<rect x="{num(a)}" y="{top + 3}" width="{num(b - a)}" height="{ROW - 6}"/>'
            for a, b in runs
        )
        # The stretches the trace's end waited on, as a line through the bar (as Jaeger).
        waited = [(w.start_ns, w.end_ns) for s in row.spans for w in waits.get(s.span_id, ())]
        if waited:
            bars += "".join(
                f'<path class="cp" d="M{num(a)} {top + ROW // 2}H{num(b)}"/>'
                for a, b in _segments(waited, x)
            )
        if not group and span.events:
            bars += "".join(
                f'<path class="ev" d="M{num(x(e.ts_ns))} {top + 1}v{ROW - 2}">'
                f"<title>{next(shown_texts)}</title></path>"
                for e in span.events[:MAX_EVENTS]
            )
        body.append(
            f'<g class="{cls}"><title>{hover}</title>'
            f"{shown_text(4 + depth * INDENT, top + 13, label, 'lbl')}"
            f"{bars}{shown_text(min(end + 4, width - RIGHT + 4), top + 13, dur, 'tick')}</g>"
        )
    if shown.hidden:
        note = f"… {shown.hidden} more spans not drawn"
        body.append(text(4, TOP + len(shown.rows) * ROW + 13, note, "tick"))
    return document(width, height, f"waterfall of trace {trace.trace_id}", body)

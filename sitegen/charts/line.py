"""Time-series charts: lines or stacked areas, with axes, gaps, thresholds and hover titles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from itertools import pairwise

from markupsafe import Markup

from sitegen.charts.axes import time_ticks, unit_ticks
from sitegen.charts.downsample import Point, downsample
from sitegen.charts.svg import document, num, text, title
from sitegen.model import Series
from sitegen.units import format_value

LEFT, RIGHT, TOP, BOTTOM = 64, 10, 8, 22
CHART_COLUMNS = 640 - LEFT - RIGHT  # plot width of a default chart: one point per column
GAP_FACTOR = 2.5  # a step this many times the usual one is missing data, not a slow sample


def gap_limit(points: Sequence[Point], column_seconds: float = 0.0) -> float:
    """Return the longest step between samples that is not missing data.

    Measured on the raw points (downsampled ones are unevenly spaced by design), and never
    less than two chart columns: a shorter gap would not show at that width anyway.
    """
    steps = [b[0] - a[0] for a, b in pairwise(points) if b[0] > a[0]]
    usual = GAP_FACTOR * statistics.median(steps) if steps else math.inf
    return max(usual, 2 * column_seconds)


def segments(points: Sequence[Point], limit: float | None = None) -> list[list[Point]]:
    """Split points into runs with no NaN/Inf and no step longer than `limit` (by default,
    gap_limit of the points themselves)."""
    limit = gap_limit(points) if limit is None else limit
    runs: list[list[Point]] = []
    run: list[Point] = []
    for point in points:
        if not math.isfinite(point[1]):
            if run:
                runs.append(run)
            run = []
            continue
        if run and point[0] - run[-1][0] > limit:
            runs.append(run)
            run = []
        run.append(point)
    if run:
        runs.append(run)
    return runs


def _joined(numbers: list[int]) -> str:
    """Join integers as SVG path numbers: a minus sign separates as well as a space."""
    out = []
    for i, n in enumerate(numbers):
        out.append(f"{n}" if i == 0 or n < 0 else f" {n}")
    return "".join(out)


def _columns(px: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Keep two points per pixel column, its lowest and highest in the order they came.

    A line through a column's points covers the span between its extremes; drawn at
    pixel size, the other points add bytes and nothing visible.
    """
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(px):
        j = i
        while j + 1 < len(px) and px[j + 1][0] == px[i][0]:
            j += 1
        column = px[i : j + 1]
        lo, hi = min(column, key=lambda p: p[1]), max(column, key=lambda p: p[1])
        pair = (lo, hi) if column.index(lo) <= column.index(hi) else (hi, lo)
        out.extend(pair if lo != hi else (lo,))
        i = j + 1
    return out


def path(runs: list[list[tuple[float, float]]]) -> str:
    """Return compact path data: integer pixels, relative moves, two points per column.

    A lone point becomes a one-pixel dash so it stays visible.
    """
    parts = []
    for run in runs:
        px = _columns([(round(x), round(y)) for x, y in run])
        (x0, y0), deltas = px[0], []
        for x, y in px[1:]:
            if (x, y) != (x0, y0):  # points that land on the same pixel draw nothing new
                deltas += [x - x0, y - y0]
                x0, y0 = x, y
        parts.append(f"M{_joined(list(px[0]))}")
        parts.append(f"l{_joined(deltas)}" if deltas else "h1")
    return "".join(parts)


def _stack(series: Sequence[Series]) -> list[list[Point]]:
    """Return cumulative points of stacked series on the union of their timestamps."""
    stamps = sorted({ts for s in series for ts, _ in s.points})
    total = dict.fromkeys(stamps, 0.0)
    out = []
    for s in series:
        values = dict(s.points)
        for ts in stamps:
            v = values.get(ts, 0.0)
            total[ts] += v if math.isfinite(v) else 0.0
        out.append([(ts, total[ts]) for ts in stamps])
    return out


def line_chart(
    label: str,
    series: Sequence[Series],
    unit: str,
    *,
    t0: float,
    t1: float,
    width: int = 640,
    height: int = 220,
    stacked: bool = False,
    thresholds: Sequence[float] = (),
) -> Markup:
    """Draw series over t0..t1 as an accessible SVG line (or stacked area) chart."""
    pw, ph = width - LEFT - RIGHT, height - TOP - BOTTOM
    body = [f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>']
    columns = max(1, pw)
    curves = _stack(series) if stacked else [list(s.points) for s in series]
    column_seconds = (t1 - t0) / columns
    limits = [gap_limit(c, column_seconds) for c in curves]
    curves = [downsample(c, columns, t0, t1) for c in curves]
    finite = [v for c in curves for _, v in c if math.isfinite(v)] + list(thresholds)
    if not finite:
        body.append(text(LEFT + pw / 2, TOP + ph / 2, "no data", "nodata", "middle"))
        return document(width, height, label, body)
    ticks = unit_ticks(min(0.0, min(finite)), max(finite), unit, 4)
    lo, hi = ticks[0], ticks[-1]
    span_t = max(t1 - t0, 1e-9)

    def x(ts: float) -> float:
        return LEFT + (min(max(ts, t0), t1) - t0) / span_t * pw

    def y(v: float) -> float:
        return TOP + ph - (v - lo) / (hi - lo) * ph

    for tick in ticks:
        body.append(f'<path class="grid" d="M{LEFT} {num(y(tick))}h{pw}"/>')
        body.append(text(LEFT - 4, y(tick) + 4, format_value(tick, unit), "tick", "end"))
    for ts, tick_label in time_ticks(t0, t1, max(2, pw // 110)):
        body.append(f'<path class="grid" d="M{num(x(ts))} {TOP}v{ph}"/>')
        body.append(text(x(ts), height - 6, tick_label, "tick", "middle"))
    for value in thresholds:
        body.append(f'<path class="thr" d="M{LEFT} {num(y(value))}h{pw}"/>')
    below: list[Point] | None = None
    for i, (s, curve, limit) in enumerate(zip(series, curves, limits, strict=True)):
        runs = [[(x(ts), y(v)) for ts, v in run] for run in segments(curve, limit)]
        hover = title(f"{s.name()}: {format_value(s.last, unit)}")
        band = ""
        if stacked and curve:
            base = below or [(ts, 0.0) for ts, _ in curve]
            edge = [(x(ts), y(v)) for ts, v in curve] + [(x(ts), y(v)) for ts, v in base[::-1]]
            band = f'<path class="band" d="{path([edge])}Z"/>'
            below = curve
        body.append(f'<g class="s{i % 8}">{hover}{band}<path d="{path(runs)}"/></g>')
    return document(width, height, label, body)

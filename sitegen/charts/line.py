"""Time-series charts: lines or stacked areas, with axes, gaps, thresholds and hover titles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from itertools import groupby, pairwise
from operator import itemgetter

from markupsafe import Markup

from sitegen.charts.axes import time_ticks, unit_ticks
from sitegen.charts.downsample import Point, downsample
from sitegen.charts.svg import CHAR_W, document, num, text, text_width, title
from sitegen.model import Series, known_step
from sitegen.units import format_value

# TOP leaves room above the highest tick label at the largest font in use (17 px).
LEFT, RIGHT, TOP, BOTTOM = 64, 10, 14, 22
CHART_COLUMNS = 640 - LEFT - RIGHT  # plot width of a default chart: one point per column
GAP_FACTOR = 2.5  # a step this many times the usual one is missing data, not a slow sample
# Values past this are drawn at it (the table keeps the true value): the axis arithmetic of
# two values near the float limit (1.7e308 - -1e308) would overflow to infinity.
DRAWN_LIMIT = 1e300
# History that starts this far into the range is "so far": the axis fits it, points get dots.
FIT_SHARE = 0.05
FIT_MARGIN = 0.1  # a fitted axis starts this share of the history's span before its first sample
FIT_MIN_SECONDS = 1.0  # the narrowest a fitted time axis gets (one sample has no span)


def left_margin(labels: Sequence[str]) -> int:
    """Return a plot's left edge that leaves room for its widest (right-aligned) y label."""
    return max(24, math.ceil(max(map(text_width, labels), default=0) + 8))


def time_axis(t0: float, t1: float, left: float, pw: float, height: int) -> list[str]:
    """Return the grid lines and labels of a time axis; a label that would reach past the
    chart's edges at the largest font is left out, not clipped."""
    out, span = [], max(t1 - t0, 1e-9)
    for ts, label in time_ticks(t0, t1, max(2, int(pw) // 110)):
        x = left + (ts - t0) / span * pw
        half = text_width(label) / 2
        out.append(f'<path class="grid" d="M{num(x)} {TOP}v{height - TOP - BOTTOM}"/>')
        if x - half >= 0 and x + half <= left + pw + RIGHT:
            out.append(text(x, height - 6, label, "tick", "middle"))
    return out


def drawable(points: Sequence[Point]) -> list[Point]:
    """Return the points with values past DRAWN_LIMIT drawn at it; NaN stays a hole."""
    return [(ts, max(-DRAWN_LIMIT, min(DRAWN_LIMIT, v)) if math.isfinite(v) else v)
            for ts, v in points]  # fmt: skip


def dots(runs: list[list[tuple[float, float]]]) -> str:
    """Return path data for a round dot on each point (zero-length lines with round caps)."""
    return "".join(f"M{round(x)} {round(y)}h0" for run in runs for x, y in run)


def gap_limit(points: Sequence[Point], column_seconds: float = 0.0, step: float = 0.0) -> float:
    """Return the longest step between samples that is not missing data.

    GAP_FACTOR times the usual step: the median step measured on the raw points (downsampled
    ones are unevenly spaced by design), never less than the sampling step where the source
    knows it (`step` > 0); never less than two chart columns, as a shorter gap would not show
    at that width anyway.
    """
    steps = [b[0] - a[0] for a, b in pairwise(points) if b[0] > a[0]]
    # The lower median: of two steps, 30 s and a 25-minute gap, the usual one is 30 s. One
    # step alone can't be judged: two samples are joined unless the step is known. The
    # measured step still wins when longer, so samples taken less often than the configured
    # interval (a `sitegen render` from cron) are drawn as the line they are.
    measured = statistics.median_low(steps) if len(steps) > 1 else 0.0
    usual = max(measured, step) or (steps[0] if steps else math.inf)
    return max(GAP_FACTOR * usual, 2 * column_seconds)


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
    return " ".join(map(str, numbers)).replace(" -", "-")


def _columns(px: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Keep two points per pixel column, its lowest and highest in the order they came.

    A line through a column's points covers the span between its extremes; drawn at
    pixel size, the other points add bytes and nothing visible.
    """
    out: list[tuple[int, int]] = []
    for _, group in groupby(px, key=itemgetter(0)):
        column = list(group)
        if len(column) == 1:  # most columns: no choice to make
            out.append(column[0])
            continue
        lo, hi = min(column, key=itemgetter(1)), max(column, key=itemgetter(1))
        pair = (lo, hi) if column.index(lo) <= column.index(hi) else (hi, lo)
        out.extend(pair if lo != hi else (lo,))
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
    """Draw series over t0..t1 as an accessible SVG line (or stacked area) chart.

    While history is shorter than the range, the time axis fits the data, each point gets a
    dot and a note says how many samples there are so far.
    """
    raw = [drawable(s.points) for s in series]
    curves = (
        _stack([Series(s.labels, tuple(p)) for s, p in zip(series, raw, strict=True)])
        if stacked
        else raw
    )
    stamps = [ts for c in curves for ts, _ in c]
    samples = max(map(len, raw), default=0)
    fitted = bool(stamps) and min(stamps) > t0 + FIT_SHARE * (t1 - t0)
    if fitted:
        first = min(stamps)
        t0 = first - max(FIT_MARGIN * (t1 - first), FIT_MIN_SECONDS)
    finite = [v for c in curves for _, v in c if math.isfinite(v)] + list(thresholds)
    ticks = unit_ticks(min(0.0, min(finite)), max(finite), unit, 4) if finite else [0.0, 1.0]
    tick_labels = [format_value(t, unit) for t in ticks]
    left = left_margin(tick_labels)
    pw, ph = width - left - RIGHT, height - TOP - BOTTOM
    body = [f'<rect class="frame" x="{left}" y="{TOP}" width="{pw}" height="{ph}"/>']
    if not finite:
        body.append(text(left + pw / 2, TOP + ph / 2, "no data", "nodata", "middle"))
        return document(width, height, label, body)
    columns = max(1, pw)
    column_seconds = (t1 - t0) / columns
    # Stacked curves are on the union of every series' stamps: one step for them all.
    steps = [known_step(series)] * len(series) if stacked else [s.step for s in series]
    limits = [gap_limit(c, column_seconds, step) for c, step in zip(curves, steps, strict=True)]
    curves = [downsample(c, columns, t0, t1) for c in curves]
    lo, hi = ticks[0], ticks[-1]
    span_t = max(t1 - t0, 1e-9)

    def x(ts: float) -> float:
        return left + (min(max(ts, t0), t1) - t0) / span_t * pw

    def y(v: float) -> float:
        return TOP + ph - (v - lo) / (hi - lo) * ph

    for tick, tick_label in zip(ticks, tick_labels, strict=True):
        body.append(f'<path class="grid" d="M{left} {num(y(tick))}h{pw}"/>')
        body.append(text(left - 4, y(tick) + 4, tick_label, "tick", "end"))
    body += time_axis(t0, t1, left, pw, height)
    for value in thresholds:
        body.append(f'<path class="thr" d="M{left} {num(y(value))}h{pw}"/>')
    below: list[Point] | None = None
    for i, (s, curve, limit) in enumerate(zip(series, curves, limits, strict=True)):
        runs = [[(x(ts), y(v)) for ts, v in run] for run in segments(curve, limit)]
        hover = title(f"{s.name()}: {format_value(s.last, unit)}")
        shapes = [f'<path d="{path(runs)}"/>'] if runs else []
        if stacked and curve:
            base = below or [(ts, 0.0) for ts, _ in curve]
            shapes.insert(0, f'<path class="band" d="{_bands(curve, base, limit, x, y)}"/>')
            below = curve
        # A lone sample between gaps, or any sample while history is short, gets a dot.
        marked = runs if fitted else [r for r in runs if len(r) == 1]
        if marked:
            shapes.append(f'<path class="dot" d="{dots(marked)}"/>')
        body.append(f'<g class="s{i % 8}">{hover}{"".join(shapes)}</g>')
    if fitted:
        note = f"{samples} sample{'s' if samples != 1 else ''} so far"
        body.append(text(left + 4, TOP + CHAR_W + 2, note, "tick halo"))
    return document(width, height, label, body)


def _bands(curve: list[Point], base: list[Point], limit: float, x, y) -> str:
    """Return the area between a stacked curve and the one below it, one closed shape per
    run of the curve: a band stops at a gap in the data as its line does."""
    shapes = []
    for run in segments(curve, limit):
        a, b = run[0][0], run[-1][0]
        under = [p for p in base if a <= p[0] <= b and math.isfinite(p[1])] or [(a, 0.0), (b, 0.0)]
        edge = [(x(ts), y(v)) for ts, v in run] + [(x(ts), y(v)) for ts, v in under[::-1]]
        shapes.append(f"{path([edge])}Z")
    return "".join(shapes)

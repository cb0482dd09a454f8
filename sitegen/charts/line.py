"""Time-series charts: lines or stacked areas, with axes, gaps, thresholds and hover titles."""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from functools import partial
from itertools import chain, compress, pairwise
from operator import add, eq, lt, sub

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


def drawable(points: Sequence[Point]) -> Sequence[Point]:
    """Return the points with values past DRAWN_LIMIT drawn at it; NaN stays a hole."""
    values = [v for _, v in points]
    # A finite sum means every value is finite: most series are drawn as they are, uncopied.
    if not values or (
        math.isfinite(sum(values)) and min(values) >= -DRAWN_LIMIT and max(values) <= DRAWN_LIMIT
    ):
        return points
    return [(ts, max(-DRAWN_LIMIT, min(DRAWN_LIMIT, v)) if math.isfinite(v) else v)
            for ts, v in points]  # fmt: skip


def finite_values(values: Sequence[float]) -> Sequence[float]:
    """Return the finite values: all of them, uncopied, in the usual case."""
    return values if math.isfinite(sum(values)) else [v for v in values if math.isfinite(v)]


Pixels = tuple[list[int], list[int]]  # the x and the y pixel of each point of a run


def pixels(
    values: Sequence[float], origin: float, first: float, span: float, size: int
) -> list[int]:
    """Return the pixel of each value on an axis that draws `first` at `origin` and `span`
    over `size` pixels (a negative size: up the page, as a y axis does)."""
    return [round(origin + (v - first) / span * size) for v in values]


def pixel_runs(
    xs: list[int], values: Sequence[float], runs: list[slice], *y_axis: float
) -> list[Pixels]:
    """Return the pixels of each run of points, given their x pixels and the y axis
    (`pixels` arguments after the values)."""
    return [(xs[run], pixels(values[run], *y_axis)) for run in runs]


def dots(runs: list[Pixels]) -> str:
    """Return path data for a round dot on each point (zero-length lines with round caps)."""
    return "".join(
        f"M{'h0M'.join(map(' '.join, zip(_numerals(xs), _numerals(ys), strict=True)))}h0"
        for xs, ys in runs
    )


def gap_limit(points: Sequence[Point], column_seconds: float = 0.0, step: float = 0.0) -> float:
    """Return gap_limit_of the points' times."""
    return gap_limit_of([ts for ts, _ in points], column_seconds, step)


def gap_limit_of(stamps: Sequence[float], column_seconds: float = 0.0, step: float = 0.0) -> float:
    """Return the longest step between samples (at these times) that is not missing data.

    GAP_FACTOR times the usual step: the median step measured on the raw points (downsampled
    ones are unevenly spaced by design), never less than the sampling step where the source
    knows it (`step` > 0); never less than two chart columns, as a shorter gap would not show
    at that width anyway.
    """
    steps = list(filter(partial(lt, 0.0), map(sub, stamps[1:], stamps)))
    # The lower median: of two steps, 30 s and a 25-minute gap, the usual one is 30 s. One
    # step alone can't be judged: two samples are joined unless the step is known. The
    # measured step still wins when longer, so samples taken less often than the configured
    # interval (a `sitegen render` from cron) are drawn as the line they are.
    measured = statistics.median_low(steps) if len(steps) > 1 else 0.0
    usual = max(measured, step) or (steps[0] if steps else math.inf)
    return max(GAP_FACTOR * usual, 2 * column_seconds)


def run_slices(stamps: Sequence[float], values: Sequence[float], limit: float) -> list[slice]:
    """Return the runs of points with no NaN/Inf and no step longer than `limit`."""
    n = len(values)
    if n and math.isfinite(sum(values)):  # no holes: only a long step splits the line
        steps = list(map(sub, stamps[1:], stamps))
        if not steps or max(steps) <= limit:  # the usual case: one run
            return [slice(0, n)]
        cuts = [i for i, step in enumerate(steps, 1) if step > limit]
        return [slice(a, b) for a, b in pairwise([0, *cuts, n])]
    runs, start = [], None
    for i, v in enumerate(values):
        if not math.isfinite(v):
            if start is not None:
                runs.append(slice(start, i))
            start = None
        elif start is None:
            start = i
        elif stamps[i] - stamps[i - 1] > limit:
            runs.append(slice(start, i))
            start = i
    if start is not None:
        runs.append(slice(start, n))
    return runs


# The decimal text of every pixel move a chart up to 4,096 pixels wide can make: a list
# lookup costs a third of str(), and path data is most of a chart's bytes. A negative
# index counts from the end, where the negative numbers are.
_NUMERALS_UP_TO = 4096
_NUMERALS = [str(n) for n in range(_NUMERALS_UP_TO)] + [str(n) for n in range(-_NUMERALS_UP_TO, 0)]


def _numerals(numbers: list[int]) -> Iterator[str]:
    """Return the decimal text of each integer, from the table where they all are in it."""
    if numbers and min(numbers) >= -_NUMERALS_UP_TO and max(numbers) < _NUMERALS_UP_TO:
        return map(_NUMERALS.__getitem__, numbers)
    return map(str, numbers)  # a move longer than the table: a chart wider than any page


def _joined(numbers: list[int]) -> str:
    """Join integers as SVG path numbers: a minus sign separates as well as a space."""
    return " ".join(_numerals(numbers)).replace(" -", "-")


def _columns(xs: list[int], ys: list[int], same: list[int]) -> Pixels:
    """Keep two points per pixel column, its lowest and highest in the order they came
    (`same`: the indices of the points in the column of the point before them).

    A line through a column's points covers the span between its extremes; drawn at
    pixel size, the other points add bytes and nothing visible.
    """
    kept_x: list[int] = []
    kept_y: list[int] = []
    done, i = 0, 0
    while i < len(same):  # one column of several points at a time
        start, stop = same[i] - 1, same[i] + 1
        i += 1
        while i < len(same) and same[i] == stop:
            stop, i = stop + 1, i + 1
        column = ys[start:stop]
        lo, hi = min(column), max(column)
        if lo == hi:
            kept = [lo]
        elif column.index(lo) <= column.index(hi):
            kept = [lo, hi]
        else:
            kept = [hi, lo]
        kept_x += xs[done:start] + [xs[start]] * len(kept)
        kept_y += ys[done:start] + kept
        done = stop
    return kept_x + xs[done:], kept_y + ys[done:]


def path(runs: list[Pixels]) -> str:
    """Return compact path data: integer pixels, relative moves, two points per column.

    A lone point becomes a one-pixel dash so it stays visible.
    """
    parts = []
    for xs, ys in runs:
        same = list(compress(range(1, len(xs)), map(eq, xs[1:], xs)))
        if same:  # most runs have no two points in one column
            xs, ys = _columns(xs, ys, same)
        # Neighbours now differ in x, or in y within a column: every move draws something.
        deltas = [0] * (2 * len(xs) - 2)
        deltas[::2] = map(sub, xs[1:], xs)
        deltas[1::2] = map(sub, ys[1:], ys)
        parts.append(f"M{xs[0]} {ys[0]}".replace(" -", "-"))
        parts.append(f"l{_joined(deltas)}" if deltas else "h1")
    return "".join(parts)


def _stack(curves: Sequence[Sequence[Point]]) -> list[list[Point]]:
    """Return cumulative points of stacked curves on the union of their timestamps."""
    stamps = sorted({ts for c in curves for ts, _ in c})
    totals = [0.0] * len(stamps)
    out = []
    for curve in curves:
        if [ts for ts, _ in curve] == stamps:  # the usual case: a sample at every stamp
            values = [v for _, v in curve]
        else:
            at = dict(curve)
            values = [at.get(ts, 0.0) for ts in stamps]
        if not math.isfinite(sum(values)):  # a hole adds nothing
            values = [v if math.isfinite(v) else 0.0 for v in values]
        totals = list(map(add, totals, values))
        out.append(list(zip(stamps, totals, strict=True)))
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
    dot and a note says how many points there are so far (a point of history read in
    buckets is the mean of several samples: it does not count them).
    """
    raw = [drawable(s.points) for s in series]
    curves = _stack(raw) if stacked else raw
    stamps = [[ts for ts, _ in c] for c in curves]
    values = [[v for _, v in c] for c in curves]
    points = max(map(len, raw), default=0)
    first = min((min(ts) for ts in stamps if ts), default=None)
    fitted = first is not None and first > t0 + FIT_SHARE * (t1 - t0)
    if fitted:
        t0 = first - max(FIT_MARGIN * (t1 - first), FIT_MIN_SECONDS)
    # Each curve's extremes, then the lowest and highest of those and the thresholds: the
    # values a min and max over all of them at once would pick.
    finite = [f for f in map(finite_values, values) if f]
    lows, highs = [min(f) for f in finite] + [*thresholds], [max(f) for f in finite] + [*thresholds]
    ticks = unit_ticks(min(0.0, min(lows)), max(highs), unit, 4) if lows else [0.0, 1.0]
    tick_labels = [format_value(t, unit) for t in ticks]
    left = left_margin(tick_labels)
    pw, ph = width - left - RIGHT, height - TOP - BOTTOM
    body = [f'<rect class="frame" x="{left}" y="{TOP}" width="{pw}" height="{ph}"/>']
    if not lows:
        body.append(text(left + pw / 2, TOP + ph / 2, "no data", "nodata", "middle"))
        return document(width, height, label, body)
    columns = max(1, pw)
    column_seconds = (t1 - t0) / columns
    # Stacked curves are on the union of every series' stamps: one step for them all.
    steps = [known_step(series)] * len(series) if stacked else [s.step for s in series]
    lo, hi = ticks[0], ticks[-1]
    span_t = max(t1 - t0, 1e-9)
    y_axis = (TOP + ph, lo, hi - lo, -ph)
    zero = pixels([0.0], *y_axis)[0]

    def y(v: float) -> float:
        return TOP + ph - (v - lo) / (hi - lo) * ph

    for tick, tick_label in zip(ticks, tick_labels, strict=True):
        body.append(f'<path class="grid" d="M{left} {num(y(tick))}h{pw}"/>')
        body.append(text(left - 4, y(tick) + 4, tick_label, "tick", "end"))
    body += time_axis(t0, t1, left, pw, height)
    for value in thresholds:
        body.append(f'<path class="thr" d="M{left} {num(y(value))}h{pw}"/>')
    below: tuple[list[float], list[int], list[int]] | None = None
    seen: tuple[list[float], list[int]] = ([], [])  # series of one source share their times
    limit = 0.0
    for i, (s, curve, step) in enumerate(zip(series, curves, steps, strict=True)):
        # The series of one source mostly share their times, so their gap limit too.
        if not (i and stamps[i] == stamps[i - 1] and step == steps[i - 1]):
            limit = gap_limit_of(stamps[i], column_seconds, step)
        drawn = downsample(curve, columns, t0, t1)
        if drawn is curve:
            ts, vs = stamps[i], values[i]
        else:
            ts, vs = [t for t, _ in drawn], [v for _, v in drawn]
        if ts != seen[0]:
            # Times outside the axis are drawn at its ends; most series need no clamping.
            inside = not ts or (t0 <= min(ts) and max(ts) <= t1)
            xs = pixels(ts if inside else [min(max(t, t0), t1) for t in ts], left, t0, span_t, pw)
            seen = ts, xs
        xs = seen[1]
        slices = run_slices(ts, vs, limit)
        runs = pixel_runs(xs, vs, slices, *y_axis)
        hover = title(f"{s.name()}: {format_value(s.last, unit)}")
        shapes = [f'<path d="{path(runs)}"/>'] if runs else []
        if stacked and drawn:
            below = below or (ts, xs, [zero] * len(ts))
            band = _bands(ts, slices, runs, below, zero)
            shapes.insert(0, f'<path class="band" d="{band}"/>')
            below = _drawn_points(ts, slices, runs)
        # A lone sample between gaps, or any sample while history is short, gets a dot.
        marked = runs if fitted else [r for r in runs if len(r[0]) == 1]
        if marked:
            shapes.append(f'<path class="dot" d="{dots(marked)}"/>')
        body.append(f'<g class="s{i % 8}">{hover}{"".join(shapes)}</g>')
    if fitted:
        note = f"{points} point{'s' if points != 1 else ''} so far"
        body.append(text(left + 4, TOP + CHAR_W + 2, note, "tick halo"))
    return document(width, height, label, body)


def _drawn_points(
    stamps: list[float], slices: list[slice], runs: list[Pixels]
) -> tuple[list[float], list[int], list[int]]:
    """Return the times and pixels of a curve's drawn points: the edge the next band of a
    stack closes on."""
    kept = [stamps[run] for run in slices]
    return (list(chain.from_iterable(kept)),
            list(chain.from_iterable(xs for xs, _ in runs)),
            list(chain.from_iterable(ys for _, ys in runs)))  # fmt: skip


def _bands(
    stamps: list[float],
    slices: list[slice],
    runs: list[Pixels],
    below: tuple[list[float], list[int], list[int]],
    zero: int,
) -> str:
    """Return the area between a stacked curve and the one below it, one closed shape per
    run of the curve: a band stops at a gap in the data as its line does."""
    shapes = []
    under_ts, under_xs, under_ys = below
    for run, (xs, ys) in zip(slices, runs, strict=True):
        a = bisect_left(under_ts, stamps[run.start])
        b = bisect_right(under_ts, stamps[run.stop - 1])
        if a < b:
            edge = xs + under_xs[a:b][::-1], ys + under_ys[a:b][::-1]
        else:  # nothing drawn below this run: close it on the zero line
            edge = [*xs, xs[-1], xs[0]], [*ys, zero, zero]
        shapes.append(f"{path([edge])}Z")
    return "".join(shapes)

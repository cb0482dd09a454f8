"""Heatmaps of histograms: one row per bucket, one column per time slice, shade by count."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from sitegen.charts.line import BOTTOM, RIGHT, TOP, gap_limit, left_margin, time_axis
from sitegen.charts.svg import document, text, title
from sitegen.model import Point, Series, known_step
from sitegen.units import format_value

CELL = 8  # pixels per time slice: coarser than a line chart's column, still ~70 slices
LEVELS = 8  # shades; the table under the chart has the numbers


@dataclass(frozen=True)
class Bucket:
    """One histogram bucket: observations in (lo, hi] per second, over time."""

    lo: float
    hi: float
    points: tuple[Point, ...]
    step: float = 0.0  # seconds between samples where the source knows it; 0 = unknown

    @property
    def mean(self) -> float:
        """Return the mean rate over the points (0 without points)."""
        return sum(v for _, v in self.points) / len(self.points) if self.points else 0.0

    @property
    def peak(self) -> float:
        """Return the largest rate over the points (0 without points)."""
        return max((v for _, v in self.points), default=0.0)


def _bound(series: Series) -> float:
    le = dict(series.labels).get("le", "+Inf")
    try:
        return float(le)
    except ValueError:
        return math.inf


def buckets(series: Sequence[Series]) -> list[Bucket]:
    """Turn cumulative `le` bucket series (Prometheus histograms) into per-bucket rates.

    Each bucket's rate is its cumulative rate minus the one below it at the same time;
    a negative difference (counter resets, scrape skew) counts as zero, NaN as missing.
    """
    ordered = sorted(series, key=_bound)
    out, below, lo, step = [], {}, 0.0, known_step(series)
    for s in ordered:
        cumulative = {ts: v for ts, v in s.points if math.isfinite(v)}
        points = tuple(
            (ts, max(0.0, v - below.get(ts, 0.0))) for ts, v in sorted(cumulative.items())
        )
        hi = _bound(s)
        out.append(Bucket(lo, hi, points, step))
        below, lo = cumulative, hi
    return out


def _slices(b: Bucket, t0: float, t1: float, slices: int) -> list[float]:
    """Return the mean value per time slice; a slice with no sample holds the value before
    it, unless that sample is further back than a gap in the data (as a line would break)."""
    span = max(t1 - t0, 1e-9)
    sums, samples = [0.0] * slices, [0] * slices
    for ts, v in b.points:
        if t0 <= ts <= t1:
            col = min(slices - 1, int((ts - t0) / span * slices))
            sums[col] += v
            samples[col] += 1
    values = [s / n if n else 0.0 for s, n in zip(sums, samples, strict=True)]
    limit, last = gap_limit(b.points, step=b.step), None  # the slice of the last sample seen
    for col in range(slices):
        if samples[col]:
            last = col
        elif last is not None and (col - last) * span / slices <= limit:
            values[col] = values[last]
    return values


def _level(value: float, top: float) -> int:
    # Square-root scale: the few busy buckets don't wash every quiet one out to nothing.
    return 0 if value <= 0 or top <= 0 else max(1, math.ceil(LEVELS * math.sqrt(value / top)))


def _bucket_name(b: Bucket, unit: str) -> str:
    if math.isinf(b.hi):
        return f"> {format_value(b.lo, unit)}"
    return f"≤ {format_value(b.hi, unit)}"


def heatmap(
    label: str,
    rows: Sequence[Bucket],
    unit: str,
    *,
    t0: float,
    t1: float,
    width: int = 640,
    height: int = 220,
    counts: str = "observations/s",
) -> Markup:
    """Draw a histogram's buckets (see buckets()) as a heatmap; equal shades in a row merge
    into one rect. `counts` says what the shades count (the hover text names it)."""
    names = [_bucket_name(b, unit) for b in rows]
    left = left_margin(names)
    pw, ph = width - left - RIGHT, height - TOP - BOTTOM
    body = [f'<rect class="frame" x="{left}" y="{TOP}" width="{pw}" height="{ph}"/>']
    slices = max(1, pw // CELL)
    grid = [_slices(b, t0, t1, slices) for b in rows]
    top = max((v for row in grid for v in row), default=0.0)
    if not rows or top <= 0:
        body.append(text(left + pw / 2, TOP + ph / 2, "no data", "nodata", "middle"))
        return document(width, height, label, body)
    row_h = ph / len(rows)
    every = math.ceil(12 / row_h)  # a label per row only where 12 px of text fit
    for i, name in enumerate(names):
        if i % every == 0 or i == len(rows) - 1:
            y = TOP + ph - (i + 0.5) * row_h + 4
            body.append(text(left - 4, y, name, "tick", "end"))
    body += time_axis(t0, t1, left, pw, height)
    # One path per shade: a rectangle per run of equal shade along a row.
    shapes: dict[int, list[str]] = {}
    col_w = pw / slices
    for i, row in enumerate(grid):
        y0 = round(TOP + ph - (i + 1) * row_h)
        h = round(TOP + ph - i * row_h) - y0
        col = 0
        while col < slices:
            level = _level(row[col], top)
            end = col + 1
            while end < slices and _level(row[end], top) == level:
                end += 1
            if level:
                x0, x1 = round(left + col * col_w), round(left + end * col_w)
                shapes.setdefault(level, []).append(f"M{x0} {y0}h{x1 - x0}v{h}h{x0 - x1}z")
            col = end
    for level in sorted(shapes):
        lo = top * ((level - 1) / LEVELS) ** 2
        hi = top * (level / LEVELS) ** 2
        hover = f"{format_value(lo, '')} to {format_value(hi, '')} {counts}"
        body.append(f'<g class="h{level}">{title(hover)}<path d="{"".join(shapes[level])}"/></g>')
    return document(width, height, label, body, cls="chart heat")

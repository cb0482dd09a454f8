"""Sparklines: a small line with no axes, for key figures."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from sitegen.charts.downsample import Point, downsample
from sitegen.charts.line import (
    dots,
    drawable,
    finite_values,
    gap_limit,
    path,
    pixel_runs,
    pixels,
    run_slices,
)
from sitegen.charts.svg import document

SPARSE = 6  # pixels per sample below which samples are dotted, not only joined
# Pixel columns per downsampling bucket: M4 keeps at most four points of a bucket, so a
# sparkline draws at most half a point per column, like the charts read from history, and
# an hour of one-second samples costs what a minute does.
BUCKET_COLUMNS = 8


def sparkline(
    points: Sequence[Point],
    *,
    width: int = 120,
    height: int = 28,
    title: str = "",
    step: float = 0.0,
) -> Markup:
    """Draw points as a sparkline scaled to their own range; `step`: the sampling step, where
    known, so even the only two samples of a history show a gap between them."""
    body: list[str] = []
    if points:
        t0, t1 = points[0][0], points[-1][0]
        buckets = max(1, width // BUCKET_COLUMNS)
        # Kept points of neighbouring buckets may be two buckets apart: no gap in the data.
        limit = gap_limit(points, (t1 - t0) / buckets, step)
        pts = downsample(drawable(points), buckets, t0, t1)
        stamps, values = [ts for ts, _ in pts], [v for _, v in pts]
        finite = finite_values(values)
        if finite:
            lo, hi = min(finite), max(finite)
            span_v, span_t = (hi - lo) or 1.0, (t1 - t0) or 1.0
            pad = 2
            xs = pixels(stamps, pad, t0, span_t, width - 2 * pad)
            y_axis = (height - pad, lo, span_v, -(height - 2 * pad))
            runs = pixel_runs(xs, values, run_slices(stamps, values, limit), *y_axis)
            body.append(f'<path d="{path(runs)}"/>')
            if len(pts) * SPARSE <= width:  # a short history: each sample gets a dot
                body.append(f'<path class="dot" d="{dots(runs)}"/>')
    return document(width, height, title or "sparkline", body, cls="spark")

"""Reduce a series to about one point per pixel column, keeping spikes (M4 aggregation)."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]


def downsample(points: Sequence[Point], columns: int, t0: float, t1: float) -> Sequence[Point]:
    """Keep the first, min, max and last point of each column; non-finite points are kept.

    NaN and Inf points stay, so the chart still breaks its line where the data has holes.
    Points too few to reduce are returned as they are, not copied.
    """
    if len(points) <= 4 * columns or t1 <= t0:
        return points
    width = (t1 - t0) / columns
    out: list[Point] = []
    bucket: list[Point] = []
    current = None

    def flush() -> None:
        finite = [p for p in bucket if math.isfinite(p[1])]
        keep = {bucket[0], bucket[-1]}
        if finite:
            keep.add(min(finite, key=lambda p: p[1]))
            keep.add(max(finite, key=lambda p: p[1]))
        hole = next((p for p in bucket if not math.isfinite(p[1])), None)
        if hole is not None:  # one hole per column is enough to break the line there
            keep.add(hole)
        out.extend(sorted(keep, key=lambda p: p[0]))

    for point in points:
        column = min(columns - 1, max(-1, math.floor((point[0] - t0) / width)))
        if column != current and bucket:
            flush()
            bucket = []
        current = column
        bucket.append(point)
    if bucket:
        flush()
    return out

"""Reduce a series to about one point per pixel column, keeping spikes (M4 aggregation)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import compress, pairwise
from operator import itemgetter, ne

Point = tuple[float, float]
_value = itemgetter(1)


def downsample(points: Sequence[Point], columns: int, t0: float, t1: float) -> Sequence[Point]:
    """Keep the first, min, max and last point of each column; non-finite points are kept.

    NaN and Inf points stay, so the chart still breaks its line where the data has holes.
    Points too few to reduce are returned as they are, not copied.
    """
    if len(points) <= 4 * columns or t1 <= t0:
        return points
    width = (t1 - t0) / columns
    cells = [math.floor((ts - t0) / width) for ts, _ in points]
    if min(cells) < -1 or max(cells) > columns - 1:  # points past the axis join its end columns
        cells = [min(columns - 1, max(-1, cell)) for cell in cells]
    # Each bucket is a run of points in one column: where the column changes, one starts.
    starts = [0, *compress(range(1, len(cells)), map(ne, cells[1:], cells)), len(cells)]
    out: list[Point] = []
    for a, b in pairwise(starts):
        out.extend(_kept(points[a:b]))
    return out


def _kept(bucket: Sequence[Point]) -> list[Point]:
    """Return a column's first, lowest, highest and last point and its first hole, in time
    order."""
    keep = {bucket[0], bucket[-1]}
    values = list(map(_value, bucket))
    if math.isfinite(sum(values)):  # the usual case, no hole: no point to filter out
        keep.add(bucket[values.index(min(values))])
        keep.add(bucket[values.index(max(values))])
    else:
        finite = [p for p in bucket if math.isfinite(p[1])]
        if finite:
            keep.add(min(finite, key=_value))
            keep.add(max(finite, key=_value))
        hole = next((p for p in bucket if not math.isfinite(p[1])), None)
        if hole is not None:  # one hole per column is enough to break the line there
            keep.add(hole)
    return sorted(keep, key=itemgetter(0))

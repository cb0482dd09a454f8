"""Tick values for axes: "nice" numbers (1-2-5 steps) and round UTC times."""

from __future__ import annotations

import math
import time

# Time steps a human reads easily, in seconds.
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400, 172800, 604800)  # fmt: skip


def nice_step(span: float, count: int) -> float:
    """Return a 1, 2 or 5 times a power of ten step giving about `count` intervals."""
    raw = span / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Return evenly spaced round tick values covering lo..hi (the ends included)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step) * step
    last = math.ceil(hi / step) * step
    n = round((last - first) / step)
    # Rounding keeps 0.30000000000000004 out of labels and makes the bytes deterministic.
    return [round(first + i * step, 12) for i in range(n + 1)]


def unit_ticks(lo: float, hi: float, unit: str, count: int = 5) -> list[float]:
    """Return nice ticks for a unit: byte values step by round KiB/MiB/GiB, not by 10s."""
    if unit in ("bytes", "bytes/s") and hi >= 1024:
        scale = 1024 ** min(4, int(math.log(hi, 1024)))
        return [t * scale for t in nice_ticks(lo / scale, hi / scale, count)]
    return nice_ticks(lo, hi, count)


def time_ticks(t0: float, t1: float, count: int = 5) -> list[tuple[float, str]]:
    """Return (timestamp, UTC label) ticks at round times between t0 and t1."""
    span = max(1.0, t1 - t0)
    step = next((s for s in _TIME_STEPS if span / s <= count), _TIME_STEPS[-1])
    fmt = "%m-%d %H:%M" if span > 86400 else ("%H:%M:%S" if step < 60 else "%H:%M")
    first = math.ceil(t0 / step) * step
    ticks = []
    t = first
    while t <= t1:
        ticks.append((t, time.strftime(fmt, time.gmtime(t))))
        t += step
    return ticks

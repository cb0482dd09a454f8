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


# Units that count whole things: their axes never tick at 0.5 of a line or a call.
COUNT_UNITS = frozenset({"count", "lines", "calls", "spans", "traces", "errors", "requests"})


def nice_ticks(lo: float, hi: float, count: int = 5, least: float = 0.0) -> list[float]:
    """Return evenly spaced round tick values covering lo..hi (the ends included), at least
    `least` apart."""
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    return stepped(lo, hi, max(least, nice_step(hi - lo, count)))


def stepped(lo: float, hi: float, step: float) -> list[float]:
    """Return the multiples of `step` from the one at or below lo to the one at or above hi."""
    first = math.floor(lo / step) * step
    last = math.ceil(hi / step) * step
    n = round((last - first) / step)
    # Rounding keeps 0.30000000000000004 out of labels and makes the bytes deterministic.
    return [round(first + i * step, 12) for i in range(n + 1)]


def duration_step(span: float, count: int) -> float:
    """Return a step a reader counts in for `span` seconds: 1-2-5 below ten seconds, then
    10 s, 15 s, 30 s, 1 min, 2 min, 5 min, ... 1 h, 2 h, 3 h, 6 h, ... (never 50 s or 1m 40s)."""
    raw = span / max(1, count)
    if raw < 7.5:
        return nice_step(span, count)
    week = _TIME_STEPS[-1]
    if raw > week:
        # Whole weeks, 1-2-5 of them: a week a tick made a million ticks of a 20-year span,
        # and a value of 1e20 seconds (bad input) never finished its axis.
        return week * nice_step(span / week, count)
    return next(s for s in _TIME_STEPS if s >= raw and s >= 10)


def unit_ticks(lo: float, hi: float, unit: str, count: int = 5) -> list[float]:
    """Return nice ticks for a unit: byte values step by round KiB/MiB/GiB, not by 10s;
    durations by round seconds, minutes and hours; counts by whole numbers."""
    if unit in ("bytes", "bytes/s") and hi >= 1024:
        scale = 1024 ** min(4, int(math.log(hi, 1024)))
        return [t * scale for t in nice_ticks(lo / scale, hi / scale, count)]
    if unit == "seconds" and math.isfinite(hi - lo) and hi - lo >= 7.5 * count:
        return stepped(lo, hi, duration_step(hi - lo, count))
    return nice_ticks(lo, hi, count, 1.0 if unit in COUNT_UNITS else 0.0)


def time_ticks(t0: float, t1: float, count: int = 5) -> list[tuple[float, str]]:
    """Return (timestamp, UTC label) ticks at round times between t0 and t1."""
    span = max(1.0, t1 - t0)
    # Past `count` weeks, whole weeks 1-2-5 of them, as duration_step: a week a tick put 13
    # overlapping labels on the axis of a 90-day range.
    step = next((s for s in _TIME_STEPS if span / s <= count), None) or duration_step(span, count)
    fmt = "%m-%d %H:%M" if span > 86400 else ("%H:%M:%S" if step < 60 else "%H:%M")
    first = math.ceil(t0 / step) * step
    ticks = []
    t = first
    while t <= t1:
        ticks.append((t, time.strftime(fmt, time.gmtime(t))))
        t += step
    return ticks

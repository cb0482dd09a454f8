"""What many log lines say together: the levels, the tail to show, the errors that recur."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

from sitegen.model import LogRecord, Panel, Series, known_step

LEVELS = ("debug", "info", "warning", "error", "critical")
METRIC = "log_lines"  # lines per level per cycle, in the history; every log source adds to it
# Numbers, hex ids and UUIDs differ between otherwise identical messages.
_VARIABLE = re.compile(r"\b(?:[0-9a-f-]{36}|[0-9a-f]{8,}|\d+(?:\.\d+)?)\b", re.I)


def top_errors(logs: tuple[LogRecord, ...], limit: int = 5) -> list[tuple[str, int]]:
    """Return the most frequent error messages, numbers and ids folded so alike lines group."""
    counts = Counter(
        _VARIABLE.sub("#", r.message)[:160] for r in logs if r.level in ("error", "critical")
    )
    return counts.most_common(limit)


def level_rows(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Return (level, lines) for every level, and for "no level" (counted under "-") when it
    has lines."""
    rows = [(level, counts.get(level, 0)) for level in LEVELS]
    # Named in words, not "-": a screen reader at its usual punctuation level says nothing
    # for a lone dash, and read the badges' "critical 1 - 2" as "critical 1 2".
    return rows + ([("no level", counts["-"])] if counts.get("-") else [])


def level_class(level: str | None) -> str:
    """Return the CSS class of a level: its name, "none" for a line naming none."""
    return level if level in LEVELS else "none"


def order_key(ts: float, now: float) -> float:
    """Return where a line goes in its cycle's batch: its time, but never after now.

    A line claiming the year 2100 would otherwise stay below every later line for ever;
    one claiming 1970 sorts first in its own batch, and lines of earlier cycles stay above it.
    """
    return min(ts, now)


def tail(
    kept: Sequence[LogRecord], new: Iterable[LogRecord], limit: int, now: float
) -> tuple[LogRecord, ...]:
    """Return the newest `limit` lines: those shown before, then this cycle's in time order."""
    batch = sorted(new, key=lambda r: order_key(r.order, now))
    return tuple([*kept, *batch][-limit:])


def level_samples(
    counts: Counter[str], now: float, source: str = ""
) -> list[tuple[str, tuple[tuple[str, str], ...], float, float]]:
    """Return one history sample per level: the lines this cycle brought (0 included)."""
    extra = (("source", source),) if source else ()
    return [(METRIC, (("level", lv), *extra), now, float(counts[lv])) for lv in LEVELS]


def by_level(panel: Panel) -> Panel:
    """Return the panel with one series per level, summed over the sources that logged.

    Every log source stores its counts at the cycle's time, so points of one cycle share
    a timestamp and add up exactly. A level only one source logged keeps that series's
    points as they are: the very points the history holds from cycle to cycle, which the
    chart's data twin encodes once (summed anew, all of a chart's points were new each cycle).
    """
    parts: dict[str, list[Series]] = {}
    for s in panel.series:
        parts.setdefault(dict(s.labels).get("level", ""), []).append(s)
    step = known_step(panel.series)  # the sums keep the stamps, so the step, of their parts
    series = tuple(
        Series((("level", lv),), _summed(parts[lv]), step=step)
        for lv in (*LEVELS, *sorted(set(parts) - set(LEVELS)))
        if lv in parts
    )
    return replace(panel, series=series)


def _summed(series: list[Series]) -> tuple[tuple[float, float], ...]:
    """Return the points of several series added up at each time, in time order."""
    if len(series) == 1:
        return series[0].points
    sums: dict[float, float] = {}
    for s in series:
        for ts, value in s.points:
            sums[ts] = sums.get(ts, 0.0) + value
    return tuple(sorted(sums.items()))

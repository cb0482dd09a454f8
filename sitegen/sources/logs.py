"""Logs: sitegen's own JSON log plus the files of [logs] paths, followed, parsed, redacted.

Each cycle reads what every file gained (at most TAIL_BYTES per file: see sitegen.tail),
parses every new line to count its level, and turns only the newest `tail_lines` into
records: those alone are redacted and kept, so neither memory nor time grows with a flood.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import Counter
from pathlib import Path

from sitegen.files import TAIL_BYTES, expand
from sitegen.logs.parse import MAX_LINE, FileParser, FileState, Line, to_record
from sitegen.logs.stats import METRIC, by_level, level_samples, order_key, tail
from sitegen.model import LogRecord
from sitegen.sources.base import MetricDef, Part, SourceContext, history_part
from sitegen.statefiles import atomic_write_bytes, quarantine
from sitegen.tail import Tailer
from sitegen.telemetry import LOG_FILE, rotated
from sitegen.units import counted, format_value

NAME = "logs"
TAIL_STATE = "tail/logs.json"
FILE_STATE = "tail/logs-files.json"  # per file: detected format, private key in progress
LEVEL_PANEL = MetricDef("Log lines by level", METRIC, "lines", "area")
_SHOWN_NAMES = 3  # unreadable files named on the page; the rest are counted


def stop_time(deadline: float) -> float:
    """Return when to stop reading (time.monotonic()): early enough to hand in what was read."""
    return deadline - min(1.0, 0.3 * max(0.0, deadline - time.monotonic()))


def shown_before(ctx: SourceContext) -> list[LogRecord]:
    """Return the lines a log source showed last cycle: the tail goes on from them."""
    return list(ctx.previous.logs) if ctx.previous else []


class _Newest:
    """The newest `limit` lines of one cycle, without holding on to the others."""

    def __init__(self, limit: int, now: float) -> None:
        self.limit, self.now = limit, now
        self.heap: list[tuple[tuple[float, int], Line, str, float]] = []
        self.seen = 0

    def add(self, line: Line, source: str, fallback_place: float) -> None:
        """Offer one line; it stays if it is among the newest so far."""
        ts = line.ts if line.ts is not None else line.place
        order = order_key(fallback_place if ts is None else ts, self.now)
        item = ((order, self.seen), line, source, fallback_place)
        self.seen += 1  # ties keep the order lines were read in
        if len(self.heap) < self.limit:
            heapq.heappush(self.heap, item)
        elif item[0] > self.heap[0][0]:
            heapq.heapreplace(self.heap, item)

    def records(self, extra: tuple[str, ...]) -> list[LogRecord]:
        """Return the kept lines as redacted records, oldest first."""
        return [to_record(line, source, ts, extra) for _, line, source, ts in sorted(self.heap)]


def _load_states(path: Path) -> dict[str, FileState]:
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
        return {str(k): FileState(v[0], int(v[1]), _number(v[2:])) for k, v in saved.items()}
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        quarantine(path, f"{type(exc).__name__}: {exc}")
        return {}


def _number(rest: list) -> float | None:
    # A state file written before the last time was kept has no third item.
    return float(rest[0]) if rest and rest[0] is not None else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def collect(ctx: SourceContext) -> Part:
    """Read what sitegen's own log and every configured log file gained since last cycle."""
    own = ctx.state_dir / LOG_FILE
    files = {p: ("json", "sitegen") for p in (rotated(own), own) if p.exists()}
    files.update({p: (ctx.cfg.logs.format, p.name) for p in expand(ctx.cfg.logs.paths)})
    states = _load_states(ctx.state_dir / FILE_STATE)
    tailer = Tailer(ctx.state_dir / TAIL_STATE)
    newest = _Newest(ctx.cfg.logs.tail_lines, ctx.now)
    levels: Counter[str] = Counter()
    cut = skipped = 0
    unreadable: list[str] = []
    # A file untouched for an interval has its unfinished last line read too.
    quiet_since = ctx.now - ctx.cfg.site.interval_seconds
    for chunk in tailer.follow(list(files), TAIL_BYTES, stop_time(ctx.deadline), quiet_since):
        if chunk.error:
            unreadable.append(f"{chunk.path.name} ({chunk.error})")
            continue
        fmt, source = files[chunk.path]
        parser = FileParser(fmt, states.get(chunk.identity, FileState()), ctx.cfg.logs.timezone)
        # Where a line goes that has no time and no timed line before it: at the file's last
        # write, the latest it can have been written (the page shows it without a time).
        fallback = _mtime(chunk.path)
        for line in parser.parse(chunk.lines, ctx.now):
            levels[line.level] += 1
            newest.add(line, source, fallback)
        states[chunk.identity] = parser.state
        cut += parser.cut
        skipped += chunk.skipped
    states = {k: v for k, v in states.items() if k in tailer.offsets}  # files still followed
    atomic_write_bytes(
        ctx.state_dir / FILE_STATE,
        json.dumps({k: [v.format, v.key_lines, v.last_ts] for k, v in states.items()}).encode(),
    )
    shown = tail(shown_before(ctx), newest.records(ctx.cfg.redact.patterns),
                 ctx.cfg.logs.tail_lines, ctx.now)  # fmt: skip
    # Lines per level per cycle go to the history: the logs page charts them over time.
    ctx.history.add(level_samples(levels, ctx.now))
    panels = tuple(by_level(p) for p in history_part(ctx, (LEVEL_PANEL,), NAME).panels)
    detail = [
        f"{counted(levels.total(), 'new line')} from {counted(len(files), 'file')}, "
        f"{len(shown):,} shown"
    ]
    if cut:
        detail.append(f"{counted(cut, 'line')} cut to {MAX_LINE:,} characters")
    if skipped:
        detail.append(f"{format_value(skipped, 'bytes')} skipped to keep up")
    if tailer.deferred:
        detail.append(f"{counted(tailer.deferred, 'file')} left for the next cycle (out of time)")
    if unreadable:
        more = len(unreadable) - _SHOWN_NAMES
        named = ", ".join(unreadable[:_SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")
        detail.append(f"unreadable: {named}")
    return Part(logs=shown, panels=panels, detail="; ".join(detail))

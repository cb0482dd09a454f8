"""The jinja2 environment of the pages: its filters and helpers, and the minifier."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import time
from collections.abc import Collection, Sequence
from functools import cache, lru_cache

import jinja2
from markupsafe import Markup

from sitegen import charts
from sitegen.charts.waterfall import service_key
from sitegen.logs.stats import LEVELS, level_class
from sitegen.model import LogRecord, Series
from sitegen.paths import data_dir
from sitegen.render.memo import CycleMemo, LastRun
from sitegen.render.spans import span_table
from sitegen.traces.stats import critical_sections, on_path
from sitegen.traces.tree import span_rows
from sitegen.units import format_duration_ns, format_value
from sitegen.visible import finalize, shown, shown_each

TEMPLATES_DIR = data_dir("templates")
_SAFE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
# A <pre> element up to its first </pre>: runs of anything but "<" go at the regular
# expression engine's full speed (a lazy ".*?" tried "</pre>" at every character).
_PRE = re.compile(r"(<pre\b[^<]*(?:<(?!/pre>)[^<]*)*</pre>)", re.I)


def _broken_down(ts: float | None) -> time.struct_time | None:
    """Return a time's UTC date and time of day; None for no time or one past what a date
    holds (a span or a line "in the year 10^13" is bad input)."""
    if ts is None:
        return None
    try:
        return time.gmtime(ts)
    except (OverflowError, OSError, ValueError):
        return None


def _unknown(ts: float | None) -> str:
    """Return what a time that has no date is shown as: "–" for none, else "out of range"."""
    return "–" if ts is None else "out of range"


def utc(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """Format UNIX seconds as UTC text ("–" for none, "out of range" past what a date holds)."""
    tm = _broken_down(ts)
    return _unknown(ts) if tm is None else time.strftime(fmt, tm)


Day = tuple[int, int, int]  # a UTC (year, month, day)
CLOCK = "%H:%M:%S"  # how a time of the day it is shown on is written


@lru_cache(maxsize=4)
def _day(ts: float) -> Day:
    """Return the UTC (year, month, day) of a time: asked once per line with the same `now`."""
    return time.gmtime(ts)[:3]


def _day_and_clock(ts: float | None) -> tuple[Day | None, str]:
    """Return the UTC day of a time and the time as when() prints it on that day (digits and
    colons, no markup); (None, "") for no time or one past what a date holds."""
    tm = _broken_down(ts)
    return (None, "") if tm is None else (tm[:3], time.strftime(CLOCK, tm))


def when(ts: float | None, now: float) -> str:
    """Format a time for a reader: the time alone today, with its date otherwise, with its year
    when it is more than a year from `now` (all in UTC); "–" when unknown."""
    tm = _broken_down(ts)
    if tm is None:
        return _unknown(ts)
    # Broken down once: a logs page of another day's lines asks this for each, every cycle.
    year = "" if abs(now - ts) < 365 * 86400 else "%Y-"
    return time.strftime(CLOCK if tm[:3] == _day(now) else f"{year}%m-%d {CLOCK}", tm)


def iso(ts: float) -> str:
    """Format UNIX seconds as an ISO 8601 UTC timestamp."""
    return utc(ts, "%Y-%m-%dT%H:%M:%SZ")


def ago(ts: float | None, now: float) -> str:
    """Say how long before `now` the time `ts` was, as "3m 20s ago"."""
    if ts is None:
        return "never"
    return format_value(max(0.0, now - ts), "seconds") + " ago"


def trace_path(trace_id: str) -> str:
    """Return the site path of a trace's page; hostile ids get a hash for a file name."""
    name = trace_id if _SAFE_ID.match(trace_id) else hashlib.sha256(trace_id.encode()).hexdigest()
    return f"traces/{name[:32]}.html"


def bar_items(series: Sequence[Series]) -> list[tuple[str, float]]:
    """Return (name, newest value) of each series with a finite value, largest first."""
    items = [(s.name(), s.last) for s in series if s.last is not None and math.isfinite(s.last)]
    return sorted(items, key=lambda item: (-item[1], item[0]))


def value_range(points: Sequence[tuple[float, float]]) -> tuple[float | None, float | None]:
    """Return (min, max) of the points' finite values (NaN and infinities left out, 1.7e308
    kept), (None, None) when none is; in Python, as a template filter chain costs 10x more."""
    values = [v for _, v in points if math.isfinite(v)]
    return (min(values), max(values)) if values else (None, None)


# The level column of the logs tail, five characters wide.
_SHORT_LEVEL = {"debug": "DEBUG", "info": "INFO ", "warning": "WARN ", "error": "ERROR",
                "critical": "CRIT "}  # fmt: skip


def _lines_after_time(records: list[LogRecord]) -> list[str]:
    """Return each logs line's markup after its time: level, source, message, duration,
    fields."""
    texts: list[str] = []  # every value the lines show, in order
    for r in records:
        texts += (r.source, r.message)
        if r.duration_s is not None:
            texts.append(format_value(r.duration_s, "seconds"))
        for pair in r.fields:
            texts += pair
    printed = shown_each(texts)
    out = []
    for r in records:
        line = (
            f'<span class="lv {level_class(r.level)}">{_SHORT_LEVEL.get(r.level, "-    ")}</span> '
            f'<span class="dim">{next(printed)}</span> {next(printed)}'
        )
        if r.duration_s is not None:
            line += f' <span class="dim">took</span> {next(printed)}'
        out.append(
            line
            + "".join(
                f' <span class="dim">{next(printed)}=</span>{next(printed)}' for _ in r.fields
            )
        )
    return out


def _stamped_lines(records: list[LogRecord]) -> list[tuple[Day | None, str, str]]:
    """Return, for each logs line, the UTC day of its time, the whole line as printed on that
    day (its time alone) and its markup after its time; None for a line without a day."""
    out = []
    for r, rest in zip(records, _lines_after_time(records), strict=True):
        day, clock = _day_and_clock(r.ts)
        out.append((day, f'<span class="dim">{clock}</span> {rest}' if day else "", rest))
    return out


# Each line made once while it is shown (hundreds of cycles): whole, as printed on its day
# (most lines are today's, and their time stays the same until midnight UTC), and without
# its time, for a line of another day, whose date and year follow the cycle's time.
_LINES = CycleMemo(_stamped_lines)


class _LastTail:
    """The last tail built and what it was built of (the records by identity, held here): a
    live logs page and its still copy show the same lines, and the copy gets the page's."""

    last: tuple[tuple, Markup] | None = None  # replaced whole: a thread reads one or the other


def _printed(
    records: Sequence[LogRecord], made: Sequence[tuple[Day | None, str, str]], now: float
) -> list[str]:
    """Return each logs line as printed in the cycle of time `now` (0 on a page that prints
    none), from what _stamped_lines made of it: whole on its day, else dated."""
    today = _day(now)
    # The time is made of digits, dashes and colons (or "out of range"): no markup.
    return [whole if day == today else f'<span class="dim">{when(r.ts, now)}</span> {rest}'
            for r, (day, whole, rest) in zip(records, made, strict=True)]  # fmt: skip


def _dated_lines(records: list[LogRecord]) -> list[str]:
    """Return each line of an older logs page as printed: with its date and year, as none is
    of the day of time 0."""
    return _printed(records, [(None, "", rest) for rest in _lines_after_time(records)], 0)


# The lines of the last older logs page, as printed: the oldest page of a full tail is
# rendered again every cycle, one line or so shorter.
_OLDER_LINES = LastRun(_dated_lines)


def log_tail(records: Sequence[LogRecord], now: float, known: Collection[str], root: str) -> Markup:
    """Return the lines of a logs page, one a line, as the contents of its <pre>; `now` is
    the cycle's time, 0 on a page that prints none (an older logs page): there every line
    shows its date and year, whatever day the cycle is.

    Built here rather than in a template loop: ten thousand lines through jinja cost a third
    of a page render in attribute lookups and filter calls.
    """
    last = _LastTail.last
    if last is not None and last[0][0] is records and last[0][1:] == (now, known, root):
        return last[1]
    # A timeless page's lines are not kept in _LINES, as no cycle's time names them.
    lines = _printed(records, _LINES.each(records, now), now) if now else _OLDER_LINES.each(records)
    out, up = [], shown(root)
    for r, line in zip(records, lines, strict=True):
        if r.trace_id and r.trace_id in known:
            line += f' <a href="{up}{_trace_href(r.trace_id)}">trace</a>'
        out.append(line + "\n")
    tail = Markup("".join(out))
    _LastTail.last = ((records, now, known, root), tail)
    return tail


@lru_cache(maxsize=1024)
def _trace_href(trace_id: str) -> str:
    """Return a trace page's path from the site root, as a link prints it: many lines of a
    logs page name the same few traces."""
    return shown(trace_path(trace_id))


def _row_markup(t: dict) -> tuple[str, str]:
    """Return a row of a traces table but its start: its markup before the link's root and
    after it."""
    state = '<span class="err">✗ error</span>' if t["error"] else '<span class="ok">✓ ok</span>'
    after = (
        f'{_trace_href(t["id"])}">{shown(t["name"])}</a></td><td>{shown(t["service"])}'
        f'</td>\n<td class="num">{shown(format_duration_ns(t["duration_ns"]))}</td>'
        f'<td class="num">{t["spans"]}</td><td><time datetime="{iso(t["start"])}">'
    )
    return f'<tr><td>{state}</td>\n<td><a href="', after


def _trace_rows(traces: list[dict]) -> list[tuple[str, str, Day | None, str]]:
    """Return each row of a live traces table but its start (_row_markup), then the UTC day
    of its start and its start as printed on that day."""
    return [(*_row_markup(t), *_day_and_clock(t["start"])) for t in traces]


# Each row of the live traces table made once while its trace is listed, as log lines are.
_ROWS = CycleMemo(_trace_rows)


def _older_trace_rows(traces: list[dict]) -> list[tuple[str, str, str]]:
    """Return each row of an older traces table but its start (_row_markup), and its whole
    UTC start."""
    return [(*_row_markup(t), utc(t["start"])) for t in traces]


# The rows of the last older traces page, as _OLDER_LINES: its start printed too.
_OLDER_ROWS = LastRun(_older_trace_rows)


def trace_rows(traces: Sequence[dict], root: str, now: float | None = None) -> Markup:
    """Return the rows of a traces table (trace summaries, newest first): started times as
    of `now`, or whole UTC times without it (an older page, which never changes)."""
    if now is None:
        made = _OLDER_ROWS.each(traces)
    else:
        today = _day(now)
        # Another day's start: its date, and its year when a year or more away.
        made = [(head, after, clock if day == today else when(t["start"], now))
                for t, (head, after, day, clock)
                in zip(traces, _ROWS.each(traces, now), strict=True)]  # fmt: skip
    up = shown(root)
    return Markup(
        "".join(f"{head}{up}{after}{start}</time></td></tr>\n" for head, after, start in made)
    )


def templates_dir() -> str:
    """Return the directory the templates are loaded from ($SITEGEN_TEMPLATES overrides)."""
    return os.environ.get("SITEGEN_TEMPLATES", TEMPLATES_DIR)


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """The templates compiled, kept between processes in Jinja's private directory of the
    system's temporary files (mode 0700, checked to be this user's); a file that cannot be
    read or written is a miss, never an error.

    Compiling the templates was a quarter of a one-shot `sitegen render`, and each pool
    worker compiled them all again at start. Jinja checks each file against its template's
    source, so an edited template is compiled again.
    """

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        """Load a template's code, or leave the bucket empty if the file is damaged."""
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged header (Jinja guards only the code): compiled, written over
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        """Keep a template's code, unless the directory will not take it (full, read-only)."""
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _compiled_templates() -> jinja2.BytecodeCache | None:
    """Return the cache of compiled templates, None where there is no private directory."""
    try:
        return _CompiledTemplates()
    except (OSError, RuntimeError):  # not writable, or not this user's: compile each time
        return None


@cache
def environment() -> jinja2.Environment:
    """Return this process's jinja2 environment: autoescaped, strict, with the chart helpers."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        bytecode_cache=_compiled_templates(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters.update(
        fmt=format_value,
        dur=format_duration_ns,
        utc=utc,
        when=when,
        level_class=level_class,
        iso=iso,
        figure_row=lambda f: (f.title, f.points, f.unit),
    )
    env.globals.update(
        line_chart=charts.line_chart,
        sparkline=charts.sparkline,
        waterfall=charts.waterfall,
        service_key=service_key,
        gantt=charts.gantt,
        hbars=charts.hbars,
        heatmap=charts.heatmap,
        buckets=charts.heatmap_buckets,
        depmap=charts.depmap,
        bar_items=bar_items,
        value_range=value_range,
        log_tail=log_tail,
        trace_rows=trace_rows,
        critical_sections=critical_sections,
        on_path=on_path,
        span_rows=span_rows,
        span_table=span_table,
        ago=ago,
        trace_path=trace_path,
        levels=LEVELS,
        nl=Markup("\n"),
    )
    return env


def minify(html: str) -> str:
    """Fold every whitespace run holding a newline into one newline, except inside <pre>.

    Browsers render such a run like one space, so the page looks the same. A full minifier
    (minify-html) was tried: it also decodes entities (``&lt;`` inside <title> and attribute
    values becomes ``<``), which is valid HTML but defeats byte-level audits for markup.
    """
    parts = _PRE.split(html)
    parts[::2] = [_fold(p) for p in parts[::2]]
    return "".join(parts)


def _fold(text: str) -> str:
    """Fold every run of whitespace holding a newline into one newline.

    What the pattern "[ tab CR]* newline \\s*" replaced by a newline does, line by line with
    str methods, at a fifth of the regular expression's cost: the spaces and tabs before a
    newline go, then every whitespace after it (str.lstrip strips what \\s matches), blank
    lines included.
    """
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    inner = (line.lstrip().rstrip(" \t\r") for line in lines[1:-1])
    return "\n".join([lines[0].rstrip(" \t\r"), *filter(None, inner), lines[-1].lstrip()])

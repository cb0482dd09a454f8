"""Logs: sitegen's own JSON logs plus the files of [logs] paths, tailed, parsed and redacted."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections import Counter
from datetime import UTC, datetime

from sitegen.files import TAIL_BYTES, expand
from sitegen.logstats import LEVELS
from sitegen.model import LogRecord, labels_of
from sitegen.redact import redact, redact_field
from sitegen.sources.base import MetricDef, Part, SourceContext, history_part
from sitegen.state import LastGood
from sitegen.tail import Chunk, Tailer
from sitegen.telemetry import LOG_FILE

NAME = "logs"
TAIL_STATE = "tail/logs.json"
MAX_MESSAGE = 2000  # characters kept of one message; the page is a tail, not an archive
MAX_FIELDS = 12

_LEVELS = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "err": "error",
    "error": "error",
    "fatal": "critical",
    "crit": "critical",
    "critical": "critical",
    "alert": "critical",
    "emerg": "critical",
    "panic": "critical",
}
_TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "t")
_LEVEL_KEYS = ("level", "lvl", "severity", "levelname", "loglevel")
_MSG_KEYS = ("msg", "message", "event", "body")
_TRACE_KEYS = ("trace_id", "traceId", "trace.id", "traceid")
_ISO = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s*"
)
_SYSLOG = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})\s+")
_LEVEL_WORD = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERR(?:OR)?|FATAL|CRIT(?:ICAL)?)\b"
)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def parse_time(value: object) -> float | None:
    """Return UNIX seconds from an ISO 8601 string or an epoch number (s, ms, us or ns)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        while number > 1e11:  # milliseconds, microseconds or nanoseconds since the epoch
            number /= 1000.0
        return number
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", ".")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_time(float(text))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # logs without a zone are taken as UTC
    return parsed.timestamp()


def _level(value: object) -> str:
    return _LEVELS.get(str(value).strip().lower(), "info")


def _first(mapping: dict, keys: tuple[str, ...]) -> object:
    for key in keys:
        if key in mapping:
            return mapping.pop(key)
    return None


def _record(fields: dict, source: str, fallback_ts: float) -> LogRecord:
    ts = parse_time(_first(fields, _TIME_KEYS))
    level = _level(_first(fields, _LEVEL_KEYS) or "info")
    message = str(_first(fields, _MSG_KEYS) or "")
    trace_id = str(_first(fields, _TRACE_KEYS) or "").lower() or None
    if trace_id and not _HEX32.match(trace_id):
        trace_id = None
    extra = {
        str(k): redact_field(str(k), str(v))[:200] for k, v in list(fields.items())[:MAX_FIELDS]
    }
    return LogRecord(
        ts=ts if ts is not None else fallback_ts,
        level=level,
        message=redact(message)[:MAX_MESSAGE],
        source=source,
        trace_id=trace_id,
        fields=labels_of(extra),
    )


def parse_json(line: str) -> dict | None:
    """Return the fields of a JSON-object line, or None."""
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def parse_logfmt(line: str) -> dict | None:
    """Return the fields of a logfmt line (key=value, values may be quoted), or None."""
    try:
        tokens = shlex.split(line, posix=True)
    except ValueError:
        return None
    fields = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            return None
        fields[key] = value
    return fields if any(k in fields for k in _MSG_KEYS + _LEVEL_KEYS) else None


def parse_plain(line: str) -> dict:
    """Return time, level and message guessed from a plain text line."""
    fields: dict[str, object] = {}
    rest = line
    if m := _ISO.match(rest):
        fields["ts"], rest = m.group(1), rest[m.end() :]
    elif m := _SYSLOG.match(rest):
        year = time.gmtime().tm_year  # syslog stamps carry no year
        stamp = datetime.strptime(f"{year} {m.group(1)}", "%Y %b %d %H:%M:%S")
        fields["ts"], rest = stamp.replace(tzinfo=UTC).timestamp(), rest[m.end() :]
    if m := _LEVEL_WORD.search(rest[:80]):
        fields["level"] = m.group(1)
    fields["msg"] = rest
    return fields


_PARSERS = {"json": parse_json, "logfmt": parse_logfmt, "plain": parse_plain}


def parse_line(line: str, fmt: str) -> dict:
    """Parse one line in `fmt` ("auto" tries JSON, then logfmt, then plain text)."""
    if fmt != "auto":
        return _PARSERS[fmt](line) or {"msg": line}
    stripped = line.lstrip()
    if stripped.startswith("{") and (doc := parse_json(stripped)) is not None:
        return doc
    if "=" in line and (doc := parse_logfmt(line)) is not None:
        return doc
    return parse_plain(line)


def records(chunk: Chunk, fmt: str, source: str) -> list[LogRecord]:
    """Parse the new lines of one file; a line without a time gets the file's mtime."""
    try:
        fallback = chunk.path.stat().st_mtime
    except OSError:
        fallback = time.time()
    out = []
    for raw in chunk.lines:
        # Invalid UTF-8 and NULs are shown as replacement characters, never crash a cycle.
        line = raw.decode("utf-8", "replace").replace("\x00", "\ufffd").rstrip("\r")
        if line.strip():
            out.append(_record(parse_line(line, fmt), source, fallback))
    return out


def collect(ctx: SourceContext) -> Part:
    """Read what sitegen's own log and every configured log file gained since last cycle."""
    own = ctx.state_dir / LOG_FILE
    files = {p: ("json", "sitegen") for p in (own.with_name(own.name + ".1"), own) if p.exists()}
    files.update({p: (ctx.cfg.logs.format, p.name) for p in expand(ctx.cfg.logs.paths)})
    chunks = Tailer(ctx.state_dir / TAIL_STATE).read(list(files), TAIL_BYTES)
    new = [r for c in chunks for r in records(c, *files[c.path])]
    # The page shows the newest lines seen, old and new: carry the last shown ones over.
    previous = LastGood(ctx.state_dir).load(NAME)
    kept = list(previous[1].logs) if previous else []
    shown = sorted(kept + new, key=lambda r: r.ts)[-ctx.cfg.logs.tail_lines :]
    # Lines per level per cycle go to the history: the logs page charts them over time.
    per_level = Counter(r.level for r in new)
    ctx.history.add(
        [("log_lines", (("level", level),), ctx.now, float(per_level[level])) for level in LEVELS]
    )
    panel = history_part(ctx, (MetricDef("Log lines by level", "log_lines", "", "area"),), NAME)
    skipped = sum(c.skipped for c in chunks)
    detail = f"{len(new)} new lines from {len(files)} files, {len(shown)} shown"
    if skipped:
        detail += f", {skipped} bytes skipped to keep up"
    return Part(logs=tuple(shown), panels=panel.panels, detail=detail)

"""Log lines to records: made harmless, parsed (JSON, logfmt, plain text), then redacted.

Two stages: every new line is parsed into a `Line` (cheap: its level is counted, its time
orders it), and only the lines that will be shown become `LogRecord`s, redacted. A `Line`
still holds secrets: it never leaves the source that parsed it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from sitegen.logs.fields import (
    KNOWN_KEYS,
    MESSAGE_KEYS,
    TIME_KEYS,
    TRACE_KEYS,
    duration_in_text,
    duration_key,
    level_field,
    meaning,
    norm,
    seconds_of,
    trace_id_of,
)
from sitegen.logs.plain import parse_plain
from sitegen.logs.timestamps import parse_time
from sitegen.model import LogRecord, labels_of
from sitegen.redact import KeyBlocks, redact, redact_field
from sitegen.visible import visible

FORMATS = ("json", "logfmt", "plain")
MAX_LINE = 16 * 1024  # characters of a line that are parsed and shown; the rest is cut
MAX_MESSAGE = 2000  # characters kept of one message: the page is a tail, not an archive
MAX_FIELDS = 12
MAX_FIELD = 200
DETECT_LINES = 20  # a file's format is decided by the majority of its first lines
_MAX_DEPTH = 3  # nested JSON objects are flattened to dotted keys this deep

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# C0/C1 controls (not tab) are invalid in HTML text; bidi overrides can make a line read
# differently from what it says.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_TRAILING_WORD = re.compile(r"\S*$")
_CUT_WORD = 1024  # a word crossing the cut that starts this close to it is dropped whole
_TRACE_IN_TEXT = re.compile(
    r"(?i)\btrace[_.-]?id[\"']?\s*[=:]\s*[\"']?([0-9a-f]{32}|[0-9a-f]{16})\b"
    r"|\b00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b"
)
_PAIR = r"([^\s=\"]+)=(\"(?:[^\"\\]|\\.)*\"|[^\s\"]*)"
_LOGFMT_LINE = re.compile(rf"\s*(?:{_PAIR}(?:\s+|$))+")
_LOGFMT_PAIR = re.compile(_PAIR)
# What container runtimes put before a line: docker compose's "service  | " and the CRI
# log format's "<time> stdout F " (Kubernetes' files under /var/log/pods).
_COMPOSE = re.compile(r"([a-z0-9][a-z0-9_.-]*)\s+\| ")
_CRI = re.compile(r"(\d{4}-\d{2}-\d{2}T\S+) (stdout|stderr) ([FP]) ")


@dataclass(frozen=True)
class Line:
    """One parsed log line, not yet redacted."""

    ts: float | None  # None: the line does not say when
    level: str | None  # None: the line names no level
    message: str
    fields: tuple[tuple[str, object], ...] = ()
    trace_id: str | None = None
    duration_s: float | None = None
    place: float | None = None  # without a time: the time of the line before it in its file


def clean(raw: bytes) -> str:
    """Decode a raw line: invalid UTF-8, NULs, ANSI colours and control characters made safe."""
    text = raw.decode("utf-8", "replace").rstrip("\r")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return _CONTROL.sub("\ufffd", text)


def cut(text: str) -> tuple[str, bool]:
    """Return a line cut to MAX_LINE characters, and whether it was cut.

    The word crossing the cut goes whole: half a token must not escape the redaction
    patterns that would have matched all of it.
    """
    if len(text) <= MAX_LINE:
        return text, False
    head = text[:MAX_LINE]
    word = _TRAILING_WORD.search(head)
    if word and word.start() >= MAX_LINE - _CUT_WORD:
        head = head[: word.start()]
    return head + "…", True


def parse_json(text: str) -> dict | None:
    """Return the fields of a JSON-object line, or None."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the stack
        return None
    return doc if isinstance(doc, dict) else None


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    try:
        return str(json.loads(value))  # Go's strconv.Quote escapes are JSON's, mostly
    except ValueError:
        return value[1:-1].replace('\\"', '"')


def parse_logfmt(text: str, known_key: bool = False) -> dict | None:
    """Return the fields of a logfmt line (key=value, values may be quoted), or None.

    With `known_key`, the line must also name a time, level or message, so plain text
    that happens to hold a few `a=b` is not taken for logfmt.
    """
    if not _LOGFMT_LINE.fullmatch(text):  # every token must be a key=value pair
        return None
    fields = {key: _unquote(value) for key, value in _LOGFMT_PAIR.findall(text)}
    if known_key and not any(norm(k) in KNOWN_KEYS for k in fields):
        return None
    return fields


def _flatten(doc: dict, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, object]]:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < _MAX_DEPTH:
            yield from _flatten(value, name + ".", depth + 1)
        else:
            yield name, value


def from_fields(
    pairs: Iterable[tuple[str, object]],
    ts: float | None = None,
    level: str | None = None,
    message: str | None = None,
    zone: str = "UTC",
) -> Line:
    """Return a Line from key/value pairs: time, level, message, trace and duration found by
    their keys (the first of each wins), the rest kept as fields."""
    trace_id = duration = None
    rest: list[tuple[str, object]] = []
    for key, value in pairs:
        k = meaning(key)
        if ts is None and k in TIME_KEYS and (found := parse_time(value, zone)) is not None:
            ts = found
        elif level is None and (found := level_field(k, value)):
            level = found
        elif message is None and k in MESSAGE_KEYS and isinstance(value, (str, int, float)):
            message = str(value)
        elif trace_id is None and k in TRACE_KEYS and (found := trace_id_of(value)):
            trace_id = found
        elif (
            duration is None
            and (unit := duration_key(k)) is not None
            and (found := seconds_of(value, unit)) is not None
        ):
            duration = found
        elif len(rest) < MAX_FIELDS:
            rest.append((key, value))
    message = (message or "").rstrip("\r\n")  # Docker's json-file keeps the newline
    if trace_id is None and (m := _TRACE_IN_TEXT.search(message)):
        trace_id = trace_id_of(m.group(1) or m.group(2))
    if duration is None:
        duration = duration_in_text(message)
    return Line(ts, level, message, tuple(rest), trace_id, duration)


def _wrapped(inner: Line, ts: float | None, field: tuple[str, str]) -> Line:
    """Return a line read from inside a container runtime's record: the runtime's time (when
    it wrote one) is when the line was written, and the wrapper is said in a field."""
    return replace(inner, ts=inner.ts if ts is None else ts, fields=(field, *inner.fields))


def parse_line(text: str, fmt: str, now: float, zone: str = "UTC", unwrap: bool = True) -> Line:
    """Parse one line in `fmt` (json, logfmt or plain; auto tries each in turn); a time
    without a zone is in `zone`.

    A container runtime's wrapper (docker compose, CRI, Docker's json-file) is taken off
    first and what it wrapped parsed as `auto`. A line that does not fit its file's format
    (not JSON in a JSON file, no stamp in a plain one: a stack trace, a line from another
    writer) is parsed as `auto`.
    """
    if unwrap and (m := _COMPOSE.match(text)):
        inner = parse_line(text[m.end() :], "auto", now, zone, unwrap=False)
        return _wrapped(inner, None, ("service", m.group(1)))
    if unwrap and (m := _CRI.match(text)) and (ts := parse_time(m.group(1))) is not None:
        return _wrapped(parse_line(text[m.end() :], "auto", now, zone, unwrap=False), ts,
                        ("stream", m.group(2)))  # fmt: skip
    if fmt in ("json", "auto") and text.lstrip().startswith("{"):
        doc = parse_json(text)
        if doc is not None:
            if unwrap and isinstance(doc.get("log"), str) and "stream" in doc:  # json-file
                inner = parse_line(doc["log"].rstrip("\r\n"), "auto", now, zone, unwrap=False)
                return _wrapped(inner, parse_time(doc.get("time")), ("stream", str(doc["stream"])))
            return from_fields(_flatten(doc), zone=zone)
    if fmt in ("logfmt", "auto") and "=" in text:
        doc = parse_logfmt(text, known_key=fmt == "auto")
        if doc is not None:
            return from_fields(doc.items(), zone=zone)
    if fmt in ("json", "logfmt"):  # not in its file's format
        return parse_line(text, "auto", now, zone, unwrap)
    # In a plain file, a line without a stamp at its start may be another writer's JSON or
    # logfmt (with a time inside): that is tried before a stamp is searched further in.
    plain = parse_plain(text, now, zone, anywhere=fmt != "plain")
    if plain.ts is None and fmt == "plain":
        return parse_line(text, "auto", now, zone, unwrap)
    return from_fields(plain.fields, plain.ts, plain.level, plain.message, zone)


def detect(lines: Iterable[str]) -> str | None:
    """Return the format most of these lines are in (ties: json, logfmt, plain), or None."""
    votes: Counter[str] = Counter()
    for text in lines:
        if not text.strip():
            continue
        if text.lstrip().startswith("{") and parse_json(text) is not None:
            votes["json"] += 1
        elif "=" in text and parse_logfmt(text) is not None:
            votes["logfmt"] += 1
        else:
            votes["plain"] += 1
        if votes.total() >= DETECT_LINES:
            break
    return max(FORMATS, key=lambda f: votes[f]) if votes else None


@dataclass(frozen=True)
class FileState:
    """What one followed file carries from cycle to cycle besides its offset."""

    format: str | None = None  # detected by `auto`; None until the file had a line
    key_lines: int = -1  # lines of a private key masked so far, -1 outside one
    last_ts: float | None = None  # the time of the file's last line that had one


class FileParser:
    """Parses one file's new lines in order; counts the lines it had to cut."""

    def __init__(self, fmt: str, state: FileState, zone: str = "UTC") -> None:
        self.fmt = (state.format or fmt) if fmt == "auto" else fmt
        self.zone = zone
        self.blocks = KeyBlocks(state.key_lines)
        self.last_ts = state.last_ts
        self.cut = 0

    def parse(self, raws: list[bytes], now: float) -> Iterator[Line]:
        """Yield a Line per non-empty raw line, private key blocks already masked; a line
        without a time is placed at the time of the line before it."""
        if self.fmt == "auto":
            self.fmt = detect(cut(clean(r))[0] for r in raws[:DETECT_LINES]) or "auto"
        for raw in raws:
            text = clean(raw)
            if not text.strip():
                continue
            text, was_cut = cut(self.blocks.mask(text))
            self.cut += was_cut
            line = parse_line(text, self.fmt, now, self.zone)
            if line.ts is None:
                line = replace(line, place=self.last_ts)
            else:
                self.last_ts = line.ts
            yield line

    @property
    def state(self) -> FileState:
        """Return what the next cycle needs to go on with this file."""
        return FileState(self.fmt if self.fmt != "auto" else None, self.blocks.inside, self.last_ts)


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def to_record(
    line: Line, source: str, fallback_place: float, extra: tuple[str, ...] = ()
) -> LogRecord:
    """Return the record to show: secrets (built-in kinds and `extra` patterns) masked, cut.

    A line without a time keeps none; it sorts at its place, else at `fallback_place`.
    Control characters that JSON or logfmt escapes decoded to, and newlines inside a value,
    become visible escapes here, after redaction (which reads the decoded text): no file
    written from the record (cache, page, data/logs.json) holds a raw one.
    """
    fields = {
        visible(redact(key, extra))[:MAX_FIELD]: visible(redact_field(key, _text(value), extra))[
            :MAX_FIELD
        ]
        for key, value in line.fields
    }
    return LogRecord(
        ts=line.ts,
        level=line.level,
        # A multi-line message (journald, an escaped newline) stays one line of the tail.
        message=visible(redact(line.message, extra))[:MAX_MESSAGE],
        source=visible(redact(source, extra)),
        trace_id=line.trace_id,
        fields=labels_of(fields),
        duration_s=line.duration_s,
        place=None if line.ts is not None else fallback_place if line.place is None else line.place,
    )

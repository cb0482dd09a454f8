"""What log fields mean, whatever a logger calls them: time, level, message, trace, duration.

Keys are compared normalized (lower case, only letters and digits), so `trace_id`,
`traceId`, `trace.id` and `@tr`-style spellings of one idea are looked up once.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache


def _keys(names: str) -> frozenset[str]:
    return frozenset(names.split())


TIME_KEYS = _keys(
    "ts time timestamp t datetime date asctime timemillis eventtime logtime "
    "instantepochsecond timeunixnano observedtimeunixnano realtimetimestamp"
)
LEVEL_KEYS = _keys("level lvl severity levelname loglevel l severitytext logseverity priority")
_OTEL_SEVERITY_KEYS = _keys("severitynumber")
MESSAGE_KEYS = _keys("msg message event body log m mt text shortmessage")
TRACE_KEYS = _keys(
    "traceid tr oteltraceid traceparent logginggoogleapiscomtrace ddtraceidhex xtraceid"
)
# A logfmt line naming one of these is logfmt, not prose that happens to hold "a=b".
KNOWN_KEYS = TIME_KEYS | LEVEL_KEYS | MESSAGE_KEYS

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")

# Every spelling seen in the wild: syslog, Python, Go (zap, logrus, klog), Java (JUL, log4j),
# .NET, Apache, PostgreSQL, Android, Bunyan/pino. Levels are "debug" .. "critical".
_LEVEL_WORDS: dict[str, str] = {}
for _level, _words in {
    "debug": "trace trc trac debug debu dbg d v verbose fine finer finest config "
    "debug1 debug2 debug3 debug4 debug5 trace1 trace2 trace3 trace4 trace5 trace6 trace7 "
    "trace8",
    "info": "info inf i information informational notice note log default system",
    "warning": "warn warning wrn w wa",
    "error": "err erro error eror e severe",
    "critical": "crit critical fatal fata ftl f alert emerg emergency panic pani dpanic",
}.items():
    _LEVEL_WORDS.update(dict.fromkeys(_words.split(), _level))
# Numeric levels: 0-7 are syslog severities (journald's PRIORITY, GELF); 10-60 are
# Bunyan/pino levels (Python's levelno overlaps them, but Python loggers write names).
_SYSLOG = ("critical", "critical", "critical", "error", "warning", "info", "info", "debug")
_BUNYAN = {10: "debug", 20: "debug", 30: "info", 40: "warning", 50: "error", 60: "critical"}


# Field names repeat line after line; the caches are bounded against files of unique keys.
@lru_cache(maxsize=4096)
def norm(key: str) -> str:
    """Return a field name folded for lookup: lower case, letters and digits only."""
    return _NOT_ALNUM.sub("", key.lower())


# Objects that only wrap a record's own keys: Rust tracing's fields.message, logstash's
# @fields.lvl. A key inside them means what it means at the top.
_WRAPPERS = frozenset(("fields",))


@lru_cache(maxsize=4096)
def meaning(key: str) -> str:
    """Return a (dotted, flattened) field name folded for lookup, wrappers left out."""
    head, dot, last = key.rpartition(".")
    return norm(last) if dot and norm(head) in _WRAPPERS else norm(key)


def level_of(value: object, otel: bool = False) -> str | None:
    """Return the level a value names ("WARN", "E", 3, 40, "warning" ...), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _LEVEL_WORDS:
            return _LEVEL_WORDS[text]
        if not text.isdigit():
            return None
        value = int(text)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    number = int(value)
    if otel:  # OpenTelemetry SeverityNumber: 1-4 trace, 5-8 debug, ... 21-24 fatal
        names = ("debug", "debug", "info", "warning", "error", "critical")
        return names[(number - 1) // 4] if 1 <= number <= 24 else None
    if 0 <= number <= 7:
        return _SYSLOG[number]
    return _BUNYAN.get(number)


def level_field(key: str, value: object) -> str | None:
    """Return the level a field gives when its (normalized) key names a level."""
    if key in LEVEL_KEYS:
        return level_of(value)
    if key in _OTEL_SEVERITY_KEYS:
        return level_of(value, otel=True)
    return None


_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
# W3C traceparent (00-<trace>-<span>-01) or a path ending in the id (GCP: .../traces/<id>).
_EMBEDDED_TRACE = re.compile(r"(?:^[0-9a-f]{2}-|/)([0-9a-f]{32})(?:-[0-9a-f]{16}-[0-9a-f]{2})?$")


def trace_id_of(value: object) -> str | None:
    """Return a 32-hex trace id from a trace field (also traceparent, 64-bit ids), or None."""
    text = str(value).strip().lower()
    if _HEX32.fullmatch(text):
        found = text
    elif _HEX16.fullmatch(text):
        found = text.rjust(32, "0")  # a 64-bit (Jaeger, Zipkin) id, as OTLP pads it
    elif m := _EMBEDDED_TRACE.search(text):
        found = m.group(1)
    else:
        return None
    return None if found == "0" * 32 else found  # all zeros is OpenTelemetry's "no trace"


# --- durations ---
_UNIT_SECONDS = {
    "ns": 1e-9, "nanos": 1e-9, "nanosecond": 1e-9, "nanoseconds": 1e-9, "nsec": 1e-9,
    "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "micros": 1e-6, "microsecond": 1e-6,
    "microseconds": 1e-6, "usec": 1e-6,
    "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3, "millis": 1e-3, "millisecond": 1e-3,
    "milliseconds": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
}  # fmt: skip
# Key suffixes naming a unit, longest first so "durationseconds" is not read as "...s".
_KEY_UNITS = sorted(
    (u for u in _UNIT_SECONDS if u.isascii() and u not in ("m", "h", "min", "mins", "minute")),
    key=len,
    reverse=True,
)
# What a bare number means per key when neither key nor value names a unit: seconds,
# except where the common emitter writes another unit (documented in the README).
_BARE_UNIT = {
    "duration": 1.0,
    "dur": 1.0,
    "elapsed": 1.0,
    "elapsedtime": 1.0,
    "latency": 1.0,
    "took": 1e-3,  # Elasticsearch
    "responsetime": 1e-3,  # pino-http, morgan, express
    "requesttime": 1.0,  # nginx $request_time
    "upstreamresponsetime": 1.0,  # nginx
    "timetaken": 1.0,
    "totaltime": 1.0,
    "processingtime": 1.0,
    "eventduration": 1e-9,  # Elastic Common Schema
}
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h))+")
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([a-zµμ]*)")


@lru_cache(maxsize=4096)
def duration_key(key: str) -> float | None:
    """Return the unit (in seconds) a normalized key implies when it names a duration."""
    if key in _BARE_UNIT:
        return _BARE_UNIT[key]
    for unit in _KEY_UNITS:
        base = key.removesuffix(unit)
        if base != key and (base in _BARE_UNIT or base.removesuffix("in") in _BARE_UNIT):
            return _UNIT_SECONDS[unit]
    return None


def seconds_of(value: object, unit: float) -> float | None:
    """Return seconds from a number (in `unit`) or a text like "12ms", "1.5 s", "1m2.5s"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = float(value) * unit
    else:
        text = str(value).strip().lower()
        if _GO_DURATION.fullmatch(text):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _GO_PART.findall(text))
        elif (m := _NUMBER_UNIT.fullmatch(text)) and m.group(2) in ("", *_UNIT_SECONDS):
            seconds = float(m.group(1)) * (_UNIT_SECONDS[m.group(2)] if m.group(2) else unit)
        else:
            return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# In plain text a duration needs a unit unless "key=value" says which key it is.
_TEXT_DURATION = re.compile(
    r"(?i)\b(duration|elapsed|latency|took|response[_ ]?time|request[_ ]?time|time[_ ]?taken)"
    r"(?:[_ ]?(ns|us|ms|s|sec|seconds))?\b(?:\s*([:=])\s*|\s+)[\"']?"
    r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?:\s?(ns|us|µs|μs|ms|s|sec|secs|seconds)\b)?"
)


def duration_in_text(text: str) -> float | None:
    """Return the first duration a plain text states ("took 12ms", "latency=0.5"), or None."""
    for m in _TEXT_DURATION.finditer(text):
        key, key_unit, sep, number, value_unit = m.groups()
        if value_unit:
            unit = _UNIT_SECONDS[value_unit.lower()]
        elif key_unit:
            unit = _UNIT_SECONDS[key_unit.lower()]
        elif sep:
            unit = _BARE_UNIT.get(norm(key), 1.0)
        else:
            continue  # "took 3 retries" is no duration
        return seconds_of(float(number), unit)
    return None

"""Plain text log lines: the stamp at their start, their level, their message.

Shapes understood: ISO 8601 / RFC 3339 (T or space, comma or dot fractions, optionally in
brackets), syslog RFC 3164 (with or without a year, with or without <PRI>), RFC 5424,
Apache/nginx access logs ([10/Oct/2000:13:55:36 -0700]; the status gives the level),
Apache error logs, Go's log package (2006/01/02 15:04:05), epoch seconds or milliseconds,
and klog/glog (I1125 10:00:00.123456 ...). A line in none of them is kept whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sitegen.logs.fields import level_of
from sitegen.logs.timestamps import (
    ISO,
    MONTH_NAMES,
    MONTHS,
    epoch,
    iso_match,
    parse_time,
    utc_seconds,
    year_for,
    zone_seconds,
)


@dataclass(frozen=True)
class Plain:
    """What a plain line says: when (None if it does not say), how bad, what, and extras."""

    ts: float | None
    level: str | None
    message: str
    fields: tuple[tuple[str, str], ...] = ()


_PRI = re.compile(r"<(\d{1,3})>")
_RFC5424 = re.compile(
    r"1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\\"]|\\.|\"(?:[^\"\\]|\\.)*\")*\])+) ?"
)
_SD_PARAM = re.compile(r"([^\s=\]\"]+)=\"((?:[^\"\\]|\\.)*)\"")
_ISO_START = re.compile(r"\[?" + ISO + r"\]?[\s:|-]*")
_GO = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*")
_EPOCH = re.compile(r"\[?(\d{10}|\d{13}|\d{16}|\d{19})(?:\.(\d{1,9}))?\]?(?:\s+|$)")
_SYSLOG = re.compile(
    rf"(?:(\d{{4}}) )?({MONTH_NAMES}) +(\d{{1,2}}) (?:(\d{{4}}) )?(\d{{2}}):(\d{{2}}):(\d{{2}})"
    r"(?:\.(\d{1,6}))?(?: (\d{4}))?(?::?\s+|$)"
)
_KLOG = re.compile(
    r"([IWEF])(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s+\d+\s+([^\s\]]+)\]\s?"
)
_APACHE_ERROR = re.compile(
    rf"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ({MONTH_NAMES}) +(\d{{1,2}}) (\d{{2}}):(\d{{2}}):"
    r"(\d{2})(?:\.(\d{1,6}))? (\d{4})\]\s*(?:\[(?:[\w-]*:)?(\w+)\]\s*)?"
)
_ACCESS = re.compile(
    rf"\S+ \S+ \S+ \[(\d{{2}})/({MONTH_NAMES})/(\d{{4}}):(\d{{2}}):(\d{{2}}):(\d{{2}})"
    r"(?: ([+-]\d{4}))?\] \"[^\"]*\" (\d{3})\b"
)
_LEVEL_IN_TEXT = re.compile(
    r"\b(TRACE|DEBUG|DEBU|DBG|INFO|INF|NOTICE|WARN|WARNING|WRN|ERR|ERRO|ERROR|FATAL|FATA|FTL"
    r"|CRIT|CRITICAL|ALERT|EMERG|PANIC|SEVERE|FINE|FINER|FINEST)\b"
    r"|[\[(<|](?i:(trace|debug|info|notice|warn|warning|err|error|fatal|crit|critical|alert"
    r"|emerg|panic|severe))[\])>|:]"
    r"|\b(?i:level|lvl|severity)[=:]\s*[\"']?([A-Za-z]+)"
    r"|^(Error|Warning|Warn|Info|Debug|Fatal|Critical|Notice)\b"
)
_LEVEL_WINDOW = 80  # a level word further into the line is part of the message


def _rfc5424(rest: str, now: float) -> Plain | None:
    m = _RFC5424.match(rest)
    if not m:
        return None
    stamp, host, app, _pid, msgid, data = m.groups()
    fields = [(k, v) for k, v in (("host", host), ("app", app), ("msgid", msgid)) if v != "-"]
    fields += [(k, v.replace('\\"', '"')) for k, v in _SD_PARAM.findall(data)]
    ts = parse_time(stamp) if stamp != "-" else None
    return Plain(ts, None, rest[m.end() :].removeprefix("\ufeff"), tuple(fields))


def _iso(rest: str, now: float) -> Plain | None:
    m = _ISO_START.match(rest)
    return Plain(iso_match(m), None, rest[m.end() :]) if m else None


def _go(rest: str, now: float) -> Plain | None:
    m = _GO.match(rest)
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    return Plain(
        utc_seconds(int(y), int(mo), int(d), int(h), int(mi), int(s), frac), None, rest[m.end() :]
    )


def _epoch(rest: str, now: float) -> Plain | None:
    m = _EPOCH.match(rest)
    if not m:
        return None
    return Plain(epoch(float(f"{m.group(1)}.{m.group(2) or 0}")), None, rest[m.end() :])


def _syslog(rest: str, now: float) -> Plain | None:
    m = _SYSLOG.match(rest)
    if not m:
        return None
    year_before, month, day, year_after, h, mi, s, frac, year_last = m.groups()
    month_n = MONTHS[month]
    year = year_before or year_after or year_last
    y = int(year) if year else year_for(month_n, int(day), now)
    ts = utc_seconds(y, month_n, int(day), int(h), int(mi), int(s), frac)
    return Plain(ts, None, rest[m.end() :])


def _klog(rest: str, now: float) -> Plain | None:
    m = _KLOG.match(rest)
    if not m:
        return None
    letter, mo, d, h, mi, s, frac, caller = m.groups()
    y = year_for(int(mo), int(d), now)
    ts = utc_seconds(y, int(mo), int(d), int(h), int(mi), int(s), frac)
    return Plain(ts, level_of(letter), rest[m.end() :], (("caller", caller),))


def _apache_error(rest: str, now: float) -> Plain | None:
    m = _APACHE_ERROR.match(rest)
    if not m:
        return None
    month, d, h, mi, s, frac, y, level = m.groups()
    ts = utc_seconds(int(y), MONTHS[month], int(d), int(h), int(mi), int(s), frac)
    return Plain(ts, level_of(level) if level else None, rest[m.end() :])


def _access(rest: str, now: float) -> Plain | None:
    m = _ACCESS.match(rest)
    if not m:
        return None
    d, month, y, h, mi, s, zone, status = m.groups()
    ts = utc_seconds(int(y), MONTHS[month], int(d), int(h), int(mi), int(s), None,
                     zone_seconds(zone))  # fmt: skip
    code = int(status)
    level = "error" if code >= 500 else "warning" if code >= 400 else "info"
    return Plain(ts, level, rest, (("status", status),))  # the whole line is the message


Shape = Callable[[str, float], Plain | None]
# Which shapes to try, by the line's first character: most lines fail on their first test.
_DIGIT: tuple[Shape, ...] = (_iso, _go, _epoch, _access, _syslog)
_BRACKET: tuple[Shape, ...] = (_iso, _apache_error, _epoch)
_LETTER: tuple[Shape, ...] = (_syslog, _klog, _access)


def _shapes(first: str) -> tuple[Shape, ...]:
    if first.isdigit():
        return _DIGIT
    if first == "[":
        return _BRACKET
    if first.isalpha():
        return _LETTER
    return (_access,)


def level_in_text(text: str) -> str | None:
    """Return the level a plain message names near its start ("ERROR", "[warn]", ...)."""
    m = _LEVEL_IN_TEXT.search(text, 0, _LEVEL_WINDOW)
    if not m:
        return None
    return level_of(next(g for g in m.groups() if g))


def parse_plain(line: str, now: float) -> Plain:
    """Return the stamp, level and message of a plain text line."""
    severity = None
    rest = line
    if rest.startswith("<") and (pri := _PRI.match(rest)):
        severity = level_of(int(pri.group(1)) % 8)  # syslog PRI = facility * 8 + severity
        rest = rest[pri.end() :]
        if found := _rfc5424(rest, now):
            return Plain(found.ts, severity, found.message, found.fields)
    found = None
    if rest:
        for shape in _shapes(rest[0]):
            if found := shape(rest, now):
                break
    if found is None:
        found = Plain(None, None, rest)
    level = severity or found.level or level_in_text(found.message)
    return Plain(found.ts, level, found.message, found.fields)

"""Plain text log lines: their stamp, their level, their message.

Shapes understood at the start of a line: ISO 8601 / RFC 3339 (T or space, comma or dot
fractions, optionally in brackets; Windows CBS's ", Info  CBS" after it), syslog RFC 3164
(with or without a year, with or without <PRI>), RFC 5424, Apache/nginx access logs
([10/Oct/2000:13:55:36 -0700]; the status gives the level), Apache error logs, Go's log
package (2006/01/02 15:04:05), epoch seconds to nanoseconds, klog/glog (I1125 10:00:00.123456),
Android logcat (03-17 16:13:38.811 pid tid D tag), HDFS (081109 203615), log4j's
yy/MM/dd HH:mm:ss, 20171223-22:15:29:606, [10.30 16:49:06], DB2's 2005-06-03-15.42.50.675872,
Redis (1:M 25 Nov 2026 10:00:00.123 *), an alert tag and epoch before a date (BGL,
Thunderbird), HPC's epoch after id, node, component and state, and an ISO stamp after one
word (OpenStack's file name). Else the line is kept whole, without a time: a time further
into a line is part of what it says, not when it was written.

The level is the one the shape gives, else the first level word the line names: an upper
case word (ERROR), a word in brackets ([warn]), `level=...`, a word before a colon
(error:, LOG:), or any word right after the stamp (zap's tab-separated "error").
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
    localize,
    parse_time,
    utc_seconds,
    year_for,
    zone_seconds,
)


@dataclass(frozen=True)
class Plain:
    """What a plain line says: when (None if it does not say), how bad, what, and extras.

    `naive`: the stamp named no zone, so `ts` is its wall-clock time read as UTC.
    """

    ts: float | None
    level: str | None
    message: str
    fields: tuple[tuple[str, str], ...] = ()
    naive: bool = False


_PRI = re.compile(r"<(\d{1,3})>")
_RFC5424 = re.compile(
    r"1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\\"]|\\.|\"(?:[^\"\\]|\\.)*\")*\])+) ?"
)
_SD_PARAM = re.compile(r"([^\s=\]\"]+)=\"((?:[^\"\\]|\\.)*)\"")
_ISO_START = re.compile(r"\[?" + ISO + r"\]?[\s:|-]*")
_CBS = re.compile(r", (\w+)\s+(\w+)\s{2,}")  # Windows CBS: "2016-09-28 04:30:30, Info  CBS  "
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
_LOGCAT = re.compile(
    r"(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3})\s+\d+\s+\d+\s+([VDIWEFA])\s+([^:]*?)\s*:\s?"
)
_HDFS = re.compile(r"(\d{2})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2})\s+")
_LOG4J = re.compile(r"(\d{2})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,3}))?\s+")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(?:[:.](\d{1,3}))?[|\s]\s*")
_DB2 = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(\d{2})\.(\d{2})\.(\d{2})(?:\.(\d{1,9}))?\s*")
_MONTH_DAY = re.compile(r"\[(\d{2})\.(\d{2}) (\d{2}):(\d{2}):(\d{2})\]\s*")
_REDIS = re.compile(
    rf"\d+:[XCSM] (\d{{1,2}}) ({MONTH_NAMES}) (\d{{4}}) (\d{{2}}):(\d{{2}}):(\d{{2}})"
    r"(?:\.(\d{1,6}))? ([.*#-]) "
)
_REDIS_LEVELS = {".": "debug", "-": "debug", "*": "info", "#": "warning"}
_TAGGED_EPOCH = re.compile(r"(\S+) (\d{10}) \d{4}\.\d{2}\.\d{2} ")  # BGL, Thunderbird
# A stamp after one word: a file name (OpenStack). Only there: a time further into a line is
# part of its message, not when it was written.
_PREFIXED_ISO = re.compile(r"(\S{1,200})\s+" + ISO + r"[\s:|-]*")
# HPC (Los Alamos): log id, node, component, state, epoch seconds, flag, message.
_HPC = re.compile(r"\d+ (\S+) (\S+) (\S+) (\d{10}) \d ")

_UPPER = frozenset((
    "TRACE", "DEBUG", "DEBU", "DBG", "INFO", "INF", "NOTICE", "WARN", "WARNING", "WRN", "ERR",
    "ERRO", "ERROR", "FATAL", "FATA", "FTL", "CRIT", "CRITICAL", "ALERT", "EMERG", "PANIC",
    "SEVERE", "FINE", "FINER", "FINEST",
))  # fmt: skip
_BEFORE_COLON = frozenset((
    "trace", "debug", "info", "notice", "warn", "warning", "error", "fatal", "critical", "alert",
    "emerg", "panic", "severe",
))  # fmt: skip
# Words that name a level wherever a format puts one (after the stamp, in brackets). Level
# fields also take "default", "log", "config" or "fine"; in text those are prose.
_LEVEL_WORDS = _BEFORE_COLON | {
    "err", "erro", "eror", "crit", "dbg", "inf", "wrn", "ftl", "dpanic", "note", "system",
    "verbose", "emergency", "informational", "information",
}  # fmt: skip
# Candidates, each a bounded run of simple character classes (no case-insensitive word
# lists, which cost a try at every position): an upper-case word, a word in brackets, the
# value of level=, a word before ": ", a capitalised level word opening the message. Which
# candidate names a level is decided in level_in_text. The search stays linear.
_LEVEL_IN_TEXT = re.compile(
    r"\b([A-Z]{3,8})\b"
    r"|[\[(<|]\s?([A-Za-z]{3,9})\s?[\])>|:]"
    r"|\b[lLsS](?:evel|EVEL|vl|VL|everity|EVERITY)[=:]\s?[\"']?([A-Za-z]{1,9})\b"
    r"|\b([A-Za-z]{3,9})(?=:\s)"
    r"|^(Error|Warning|Warn|Info|Debug|Fatal|Critical|Notice)\b"
)
_FIRST_WORD = re.compile(r"[\s,|-]*([A-Za-z]{3,9})(?=[\s:]|$)")


def _naive(ts: float | None, level: str | None, message: str, fields=()) -> Plain:
    return Plain(ts, level, message, tuple(fields), naive=True)


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
    if not m:
        return None
    ts, message = iso_match(m), rest[m.end() :]
    if message.startswith(", ") and (cbs := _CBS.match(rest, m.end())):
        level, component = cbs.groups()
        return Plain(ts, level_of(level), rest[cbs.end() :], (("component", component),),
                     naive=m.group(8) is None)  # fmt: skip
    return Plain(ts, None, message, naive=m.group(8) is None)


def _go(rest: str, now: float) -> Plain | None:
    m = _GO.match(rest)
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    ts = utc_seconds(int(y), int(mo), int(d), int(h), int(mi), int(s), frac)
    return _naive(ts, None, rest[m.end() :])


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
    return _naive(ts, None, rest[m.end() :])


def _klog(rest: str, now: float) -> Plain | None:
    m = _KLOG.match(rest)
    if not m:
        return None
    letter, mo, d, h, mi, s, frac, caller = m.groups()
    y = year_for(int(mo), int(d), now)
    ts = utc_seconds(y, int(mo), int(d), int(h), int(mi), int(s), frac)
    return _naive(ts, level_of(letter), rest[m.end() :], (("caller", caller),))


def _apache_error(rest: str, now: float) -> Plain | None:
    m = _APACHE_ERROR.match(rest)
    if not m:
        return None
    month, d, h, mi, s, frac, y, level = m.groups()
    ts = utc_seconds(int(y), MONTHS[month], int(d), int(h), int(mi), int(s), frac)
    return _naive(ts, level_of(level) if level else None, rest[m.end() :])


def _access(rest: str, now: float) -> Plain | None:
    m = _ACCESS.match(rest)
    if not m:
        return None
    d, month, y, h, mi, s, zone, status = m.groups()
    ts = utc_seconds(int(y), MONTHS[month], int(d), int(h), int(mi), int(s), None,
                     zone_seconds(zone))  # fmt: skip
    code = int(status)
    level = "error" if code >= 500 else "warning" if code >= 400 else "info"
    # The whole line is the message.
    return Plain(ts, level, rest, (("status", status),), naive=zone is None)


def _logcat(rest: str, now: float) -> Plain | None:
    m = _LOGCAT.match(rest)
    if not m:
        return None
    mo, d, h, mi, s, frac, letter, tag = m.groups()
    ts = utc_seconds(year_for(int(mo), int(d), now), int(mo), int(d), int(h), int(mi), int(s),
                     frac)  # fmt: skip
    level = "critical" if letter == "A" else level_of(letter)  # A: assert
    return _naive(ts, level, rest[m.end() :], (("tag", tag),))


def _two_digit_year(m: re.Match[str] | None, rest: str, order: str) -> Plain | None:
    """HDFS (yyMMdd HHmmss) and log4j (yy/MM/dd HH:mm:ss): years 2000-2099."""
    if not m:
        return None
    parts = dict(zip(order, m.groups()[:3], strict=True))
    h, mi, s = m.groups()[3:6]
    frac = m.group(7) if m.re.groups >= 7 else None
    ts = utc_seconds(2000 + int(parts["y"]), int(parts["m"]), int(parts["d"]), int(h), int(mi),
                     int(s), frac)  # fmt: skip
    return _naive(ts, None, rest[m.end() :])


def _hdfs(rest: str, now: float) -> Plain | None:
    return _two_digit_year(_HDFS.match(rest), rest, "ymd")


def _log4j(rest: str, now: float) -> Plain | None:
    return _two_digit_year(_LOG4J.match(rest), rest, "ymd")


def _calendar(m: re.Match[str] | None, rest: str) -> Plain | None:
    """Return a Plain from a match of year, month, day, hour, minute, second, fraction."""
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    return _naive(utc_seconds(int(y), int(mo), int(d), int(h), int(mi), int(s), frac), None,
                  rest[m.end() :])  # fmt: skip


def _compact(rest: str, now: float) -> Plain | None:
    return _calendar(_COMPACT.match(rest), rest)


def _db2(rest: str, now: float) -> Plain | None:
    return _calendar(_DB2.match(rest), rest)


def _month_day(rest: str, now: float) -> Plain | None:
    m = _MONTH_DAY.match(rest)
    if not m:
        return None
    mo, d, h, mi, s = (int(g) for g in m.groups())
    ts = utc_seconds(year_for(mo, d, now), mo, d, h, mi, s)
    return _naive(ts, None, rest[m.end() :])


def _redis(rest: str, now: float) -> Plain | None:
    m = _REDIS.match(rest)
    if not m:
        return None
    d, month, y, h, mi, s, frac, mark = m.groups()
    ts = utc_seconds(int(y), MONTHS[month], int(d), int(h), int(mi), int(s), frac)
    return _naive(ts, _REDIS_LEVELS[mark], rest[m.end() :])


def _tagged_epoch(rest: str, now: float) -> Plain | None:
    m = _TAGGED_EPOCH.match(rest)
    if not m:
        return None
    tag, seconds = m.groups()
    fields = (("alert", tag),) if tag != "-" else ()
    return Plain(epoch(float(seconds)), None, rest[m.end() :], fields)


def _prefixed(rest: str) -> Plain | None:
    """Return the ISO stamp after one leading word (OpenStack: a file name), or None."""
    m = _PREFIXED_ISO.match(rest)
    if not m:
        return None
    return Plain(iso_match(m, 2), None, rest[m.end() :], (("prefix", m.group(1)),),
                 naive=m.group(9) is None)  # fmt: skip


def _hpc(rest: str, now: float) -> Plain | None:
    m = _HPC.match(rest)
    if not m:
        return None
    node, component, state, seconds = m.groups()
    fields = (("node", node), ("component", component), ("state", state))
    return Plain(epoch(float(seconds)), None, rest[m.end() :], fields)


Shape = Callable[[str, float], Plain | None]
# Which shapes to try, by the line's first character, the most common first: most lines
# fail on their first test.
_DIGIT: tuple[Shape, ...] = (
    _iso, _go, _access, _epoch, _logcat, _log4j, _hdfs, _compact, _db2, _redis, _syslog, _hpc,
)  # fmt: skip
_BRACKET: tuple[Shape, ...] = (_iso, _apache_error, _month_day, _epoch)
_LETTER: tuple[Shape, ...] = (_syslog, _klog, _tagged_epoch, _access)
_OTHER: tuple[Shape, ...] = (_tagged_epoch, _access)


def _shapes(first: str) -> tuple[Shape, ...]:
    if first.isdigit():
        return _DIGIT
    if first == "[":
        return _BRACKET
    if first.isalpha():
        return _LETTER
    return _OTHER


def _names_level(m: re.Match[str]) -> str | None:
    upper, bracketed, value, before_colon, opening = m.groups()
    word = upper or before_colon
    if word:
        if upper in _UPPER:
            return level_of(upper)
        # "error: ...", "LOG:  ..." (PostgreSQL); prose like "Note: ..." is not a level.
        colon = m.string.startswith(":", m.end()) and m.string[m.end() + 1 : m.end() + 2].isspace()
        return (
            level_of(word) if colon and (word.lower() in _BEFORE_COLON or word == "LOG") else None
        )
    if bracketed:
        return level_of(bracketed) if bracketed.lower() in _LEVEL_WORDS else None
    return level_of(value or opening)


def level_in_text(text: str) -> str | None:
    """Return the first level a plain message names ("ERROR", "[warn]", "error:", ...)."""
    for m in _LEVEL_IN_TEXT.finditer(text):
        if found := _names_level(m):
            return found
    return None


def parse_plain(line: str, now: float, zone: str = "UTC", anywhere: bool = True) -> Plain:
    """Return the stamp, level and message of a plain text line (a stamp without a zone is
    in `zone`); with `anywhere`, a stamp is also looked for after a first word."""
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
        found = (_prefixed(rest) if anywhere else None) or Plain(None, None, rest)
    level = severity or found.level
    if level is None and found.ts is not None and (first := _FIRST_WORD.match(found.message)):
        word = first.group(1)  # a word right after the stamp: zap's "error"
        level = level_of(word) if word.lower() in _LEVEL_WORDS else None
    level = level or level_in_text(found.message)
    ts = localize(found.ts, zone) if found.naive else found.ts
    return Plain(ts, level, found.message, found.fields)

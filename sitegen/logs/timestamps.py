"""Log timestamps as UNIX seconds: structured values, calendar parts, sane ranges.

Times without a zone are in `[logs] timezone` (UTC by default); stamps without a year
(syslog, klog) get the year that puts them closest before now. Anything outside 1970..9999
is no time at all: a page cannot print it, and the line is shown without one.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
MONTH_NAMES = "|".join(MONTHS)
MAX_TS = 253402300800.0  # 10000-01-01T00:00:00Z: strftime cannot print later years
_FUTURE_SLACK = 2 * 86400.0  # a year-less stamp this far ahead of now is from last year

# Zone abbreviations that name one offset (CST, IST are several zones: not read).
ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3,
    "MSK": 3, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13, "HST": -10,
    "AKST": -9, "AKDT": -8, "PST": -8, "PDT": -7, "MST": -7, "MDT": -6, "EST": -5, "EDT": -4,
}  # fmt: skip
_ABBREVIATION = "|".join(sorted(ABBREVIATIONS, key=len, reverse=True))
# ISO 8601 / RFC 3339, T or space, comma or dot fractions; an offset after a space must be
# +hhmm or +hh:mm, so "10:00:00 -50 retries" is not read as a zone.
ISO = (
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    rf"(Z|[+-]\d{{2}}(?::?\d{{2}})?|\s?(?:{_ABBREVIATION})\b|\s[+-]\d{{2}}:?\d{{2}})?"
)
_ISO_FULL = re.compile(ISO + r"(?:\s[A-Z]{3,5})?\s*$")  # Go adds " MST"
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def sane(ts: float | None) -> float | None:
    """Return ts when a page can show it (finite, 1970..9999), else None."""
    if ts is None or not math.isfinite(ts) or not 0.0 <= ts < MAX_TS:
        return None
    return ts


def epoch(number: float) -> float | None:
    """Return UNIX seconds from an epoch number in s, ms, µs or ns (told apart by size)."""
    while abs(number) > 1e11:  # past year 5138 in seconds: it counts smaller units
        number /= 1000.0
    return sane(number)


def zone_seconds(zone: str | None) -> float:
    """Return a zone's offset east of UTC in seconds ("Z", "+01:00", "-0700", "UTC")."""
    zone = (zone or "").strip()
    if not zone or zone == "Z":
        return 0.0
    if zone in ABBREVIATIONS:
        return ABBREVIATIONS[zone] * 3600.0
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return (-1 if zone[0] == "-" else 1) * (hours * 3600 + minutes * 60)


@lru_cache(maxsize=1024)
def _month(year: int, month: int) -> tuple[int, int]:
    """Return UNIX seconds at the start of a month, and its number of days."""
    return calendar.timegm((year, month, 1, 0, 0, 0)), calendar.monthrange(year, month)[1]


def utc_seconds(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int = 0,
    fraction: str | None = None,
    offset: float = 0.0,
) -> float | None:
    """Return UNIX seconds of a calendar time, or None when a part is out of range."""
    if not (1 <= year <= 9999 and 1 <= month <= 12 and hour <= 24 and minute <= 59):
        return None
    start, days = _month(year, month)
    if not 1 <= day <= days or second > 60:  # 31 Feb is no date, not 3 March
        return None
    whole = start + (day - 1) * 86400 + hour * 3600 + minute * 60 + min(second, 59)
    return sane(whole + (float(f"0.{fraction}") if fraction else 0.0) - offset)


def year_for(month: int, day: int, now: float) -> int:
    """Return the year of a stamp without one: this year, unless that is still ahead."""
    year = time.gmtime(now).tm_year
    this_year = utc_seconds(year, month, min(day, 28), 0, 0)
    return year - 1 if this_year is not None and this_year > now + _FUTURE_SLACK else year


@lru_cache(maxsize=4096)
def _offset(zone: str, hour: int) -> float:
    """Return the offset of `zone` east of UTC at a wall-clock hour (hours since 1970)."""
    wall = datetime.fromtimestamp(hour * 3600, UTC).replace(tzinfo=ZoneInfo(zone))
    offset = wall.utcoffset()
    return offset.total_seconds() if offset else 0.0


def localize(naive: float | None, zone: str) -> float | None:
    """Return UNIX seconds of a wall-clock time read as if in UTC, when it is in `zone`."""
    if naive is None or zone == "UTC":
        return naive
    return sane(naive - _offset(zone, int(naive // 3600)))


def iso_match(m: re.Match[str], first: int = 1, naive_zone: str = "UTC") -> float | None:
    """Return UNIX seconds from the groups of an ISO match starting at group `first`; a time
    without an offset is in `naive_zone`."""
    y, mo, d, h, mi, s, frac, zone = m.groups()[first - 1 : first + 7]
    ts = utc_seconds(
        int(y), int(mo), int(d), int(h), int(mi), int(s or 0), frac, zone_seconds(zone)
    )
    return ts if zone else localize(ts, naive_zone)


def parse_time(value: object, zone: str = "UTC") -> float | None:
    """Return UNIX seconds from a structured value: epoch number, ISO 8601, RFC 2822 date
    (a time without an offset is in `zone`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return epoch(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _NUMBER.match(text):
        return epoch(float(text))
    if m := _ISO_FULL.match(text):
        return iso_match(m, naive_zone=zone)
    try:  # "Tue, 21 Nov 2026 10:00:00 GMT", as HTTP and mail write it
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo:
        return sane(parsed.timestamp())
    return localize(sane(calendar.timegm(parsed.timetuple())), zone)

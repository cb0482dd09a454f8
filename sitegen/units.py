"""Number formatting driven by units: SI prefixes, IEC bytes, durations, percent."""

from __future__ import annotations

import math

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_IEC = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


def _sig(value: float) -> str:
    """About three significant digits, no trailing zeros; an exponent only past what digits
    can show (1.7e+308, 5e-324), where fixed notation would print hundreds of digits or 0."""
    if value == 0:
        return "0"
    if not 1e-5 <= abs(value) < 1e15:
        return f"{value:.3g}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{min(digits, 6)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(value: float, table: tuple[tuple[float, str], ...], base: str) -> tuple[str, str]:
    if abs(value) >= 1e18:  # past every prefix: an exponent reads better than "1e+288T"
        return _sig(value), base
    for factor, prefix in table:
        if abs(value) >= factor:
            return _sig(value / factor), prefix
    return _sig(value), base


def _duration(seconds: float) -> str:
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    if s == 0:
        return "0 s"
    if s < 1e-6:
        return f"{sign}{_sig(s * 1e9)} ns"
    if s < 1e-3:
        return f"{sign}{_sig(s * 1e6)} µs"
    if s < 1:
        return f"{sign}{_sig(s * 1e3)} ms"
    if s < 60 or s >= 1e15:  # past 30 million years, days would print hundreds of digits
        return f"{sign}{_sig(s)} s"
    big, small, name_big, name_small = (
        (86400, 3600, "d", "h") if s >= 86400 else (3600, 60, "h", "m") if s >= 3600 else
        (60, 1, "m", "s")
    )  # fmt: skip
    whole, rest = divmod(round(s), big)
    part = rest // small
    return f"{sign}{whole}{name_big} {part}{name_small}" if part else f"{sign}{whole}{name_big}"


def counted(n: int, noun: str, nouns: str = "") -> str:
    """Return "1 line", "2 lines", "1,000 entries": a count with its noun in the right number."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"


def format_value(value: float | None, unit: str) -> str:
    """Format a number for display in the given unit ("bytes", "seconds", "percent", ...)."""
    if value is None:
        return "–"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if unit == "percent":
        return f"{_sig(value)}%"
    if unit == "ratio":
        return f"{_sig(value * 100)}%"
    if unit == "seconds":
        return _duration(value)
    if unit in ("bytes", "bytes/s"):
        number, prefix = _scaled(value, _IEC, "B")
        return f"{number} {prefix}" + ("/s" if unit == "bytes/s" else "")
    number, prefix = _scaled(value, _SI, "")
    if unit in ("", "count"):
        return f"{number}{prefix}"
    if value == 1 and unit.isalpha() and unit.endswith("s"):
        unit = unit[:-1]  # a unit that is a plural noun: "1 line", "1 request"
    return f"{number}{prefix} {unit}"


def format_duration_ns(ns: int) -> str:
    """Format a span duration given in nanoseconds."""
    return _duration(ns / 1e9)

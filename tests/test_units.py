"""Number formatting by unit."""

from __future__ import annotations

import math

import pytest

from sitegen.units import format_duration_ns, format_value


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (None, "", "–"),
        (math.nan, "bytes", "NaN"),
        (math.inf, "", "+Inf"),
        (-math.inf, "seconds", "-Inf"),
        (0, "", "0"),
        (0.05, "", "0.05"),
        (1234, "", "1.23k"),
        (-1234, "count", "-1.23k"),
        (1_234_567, "req/s", "1.23M req/s"),
        (1, "req/s", "1 req/s"),
        (1, "lines", "1 line"),
        (2, "lines", "2 lines"),
        (1, "errors", "1 error"),
        (42.123, "percent", "42.1%"),
        (0.5, "ratio", "50%"),
        (123, "bytes", "123 B"),
        (1536, "bytes", "1.5 KiB"),
        (5 * 2**30, "bytes/s", "5 GiB/s"),
        (0.00085, "seconds", "850 µs"),
        (0.0123, "seconds", "12.3 ms"),
        (1.25, "seconds", "1.25 s"),
        (200, "seconds", "3m 20s"),
        (7500, "seconds", "2h 5m"),
        (3 * 86400 + 4 * 3600, "seconds", "3d 4h"),
        (3600, "seconds", "1h"),
    ],
)
def test_format_value(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_format_duration_ns() -> None:
    assert format_duration_ns(1500) == "1.5 µs"
    assert format_duration_ns(2_500_000_000) == "2.5 s"
    assert format_duration_ns(0) == "0 s"

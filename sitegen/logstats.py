"""What many log lines say together: the levels, and the errors that keep coming back."""

from __future__ import annotations

import re
from collections import Counter

from sitegen.model import LogRecord

LEVELS = ("debug", "info", "warning", "error", "critical")
# Numbers, hex ids and UUIDs differ between otherwise identical messages.
_VARIABLE = re.compile(r"\b(?:[0-9a-f-]{36}|[0-9a-f]{8,}|\d+(?:\.\d+)?)\b", re.I)


def top_errors(logs: tuple[LogRecord, ...], limit: int = 5) -> list[tuple[str, int]]:
    """Return the most frequent error messages, numbers and ids folded so alike lines group."""
    counts = Counter(
        _VARIABLE.sub("#", r.message)[:160] for r in logs if r.level in ("error", "critical")
    )
    return counts.most_common(limit)

"""Remove secrets from text before it is written or rendered anywhere public."""

from __future__ import annotations

import re
from functools import cache

MASK = "[REDACTED]"

# Each pattern keeps its harmless context (group 1) and masks the secret after it.
_PATTERNS = (
    # AWS access key ids
    re.compile(r"()\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    # aws_secret_access_key = ..., password: ..., token=...
    re.compile(
        r"(?i)((?:aws_secret_access_key|secret|password|passwd|pwd|token|api[_-]?key)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
    ),
    # Authorization: Bearer xxx / Basic xxx
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # user:password@ in URLs
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^\s/:@]+:)[^\s/@]+(?=@)"),
    # JSON Web Tokens
    re.compile(r"()\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # PEM private keys, whole block
    re.compile(
        r"()-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    ),
)


@cache
def _compiled(extra: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    # Config validation already compiled each one; this compiles them once per process.
    return tuple(re.compile(p) for p in extra)


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Return text with every known kind of secret, and whatever `extra` matches, masked."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    for pattern in _compiled(extra):
        text = pattern.sub(MASK, text)
    return text


_SECRET_KEY = re.compile(
    r"(?i)(secret|passw(or)?d|passwd|pwd|token|api[_-]?key|authorization|credential|cookie)"
)


def redact_field(key: str, value: str, extra: tuple[str, ...] = ()) -> str:
    """Return a structured field's value, masked whole when its key names a secret."""
    return MASK if _SECRET_KEY.search(key) else redact(value, extra)

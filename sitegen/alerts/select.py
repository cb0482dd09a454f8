"""Which alerts are public: severities and Prometheus-style label matchers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sitegen.model import Alert

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


@dataclass(frozen=True)
class Matcher:
    """One label matcher, as in PromQL and Alertmanager: name, operator, value."""

    name: str
    op: str  # =, !=, =~ or !~
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        """Return whether labels satisfy the matcher (a missing label is the empty string)."""
        got = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (got == self.value) == (self.op == "=")
        # Anchored, as in Prometheus.
        return (re.fullmatch(self.value, got) is not None) == (self.op == "=~")


def parse_matcher(text: str) -> Matcher:
    """Parse `name="value"` (or !=, =~, !~); raise ValueError saying what is wrong."""
    m = _MATCHER.match(text)
    if not m:
        raise ValueError(f'not a label matcher (name="value", !=, =~ or !~): {text!r}')
    name, op, value = m.group(1), m.group(2), re.sub(r"\\(.)", r"\1", m.group(3))
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{text!r}: not a regular expression: {exc}") from None
    return Matcher(name, op, value)


def public(
    alerts: list[Alert], severities: tuple[str, ...], matchers: tuple[str, ...]
) -> tuple[Alert, ...]:
    """Return the alerts of a chosen severity (any when none is chosen) matching every matcher."""
    parsed = [parse_matcher(m) for m in matchers]
    return tuple(
        a
        for a in alerts
        if (not severities or a.severity in severities)
        and all(m.matches(dict(a.labels)) for m in parsed)
    )

"""Firing alerts: Prometheus' /api/v1/alerts, or Alertmanager's /api/v2/alerts when configured.

The rules are the ones users already wrote in Prometheus; sitegen only reads what they say.
Alertmanager is read instead of Prometheus when it is configured: it has the same alerts with
silences and inhibitions applied. Only the alerts [alerts] makes public reach the snapshot.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sitegen.alerts import SOURCE
from sitegen.alerts.select import public
from sitegen.model import Alert, labels_of
from sitegen.redact import redact, redact_field
from sitegen.sources.base import Part, SourceContext
from sitegen.sources.httpapi import ApiError, client, get_json

NAME = SOURCE
# Longer texts are cut (with "…") before they are kept anywhere: a label or summary is meant
# to be short, and every refreshing page shows them in its banner.
MAX_LABEL_CHARS = 120
MAX_SUMMARY_CHARS = 500


def parse_time(text: Any) -> float | None:
    """Return UNIX seconds of an RFC 3339 time, None for a missing, zero or bad one."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Go's zero time (year 1) means "not set".
    return when.timestamp() if when.year > 1 and when.tzinfo else None


def _alert(item: Any, source: str, since_key: str) -> Alert | None:
    """Return one alert of an API answer, or None when it is not one (it is skipped alone)."""
    if not isinstance(item, dict):
        return None
    labels, notes = item.get("labels"), item.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(notes, dict):
        return None
    labels = {str(k): str(v) for k, v in labels.items()}
    return Alert(
        name=labels.get("alertname", ""),
        severity=labels.get("severity", ""),
        summary=str(notes.get("summary", "")),
        labels=labels_of(labels),
        since=parse_time(item.get(since_key)),
        source=source,
    )


def prometheus_alerts(answer: Any) -> tuple[list[Alert], int]:
    """Return the firing alerts of a /api/v1/alerts answer and how many entries were bad."""
    items = answer.get("data", {}).get("alerts") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise ApiError("not a Prometheus /api/v1/alerts answer (no data.alerts list)")
    # Pending alerts have not fired yet: they wait out their rule's `for`.
    got = [(i, _alert(i, "prometheus", "activeAt")) for i in items]
    alerts = [a for i, a in got if a and i.get("state") == "firing"]
    return alerts, sum(1 for _, a in got if a is None)


def alertmanager_alerts(answer: Any) -> tuple[list[Alert], int]:
    """Return the active alerts of a /api/v2/alerts answer and how many entries were bad."""
    if not isinstance(answer, list):
        raise ApiError("not an Alertmanager /api/v2/alerts answer (not a list)")
    got = [(i, _alert(i, "alertmanager", "startsAt")) for i in answer]
    # The query asks for active alerts only; checked again, a silenced one must never show.
    alerts = [a for i, a in got if a and (i.get("status") or {}).get("state") == "active"]
    return alerts, sum(1 for _, a in got if a is None)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrubbed(alert: Alert, patterns: tuple[str, ...]) -> Alert:
    """Return the alert with secrets redacted and over-long texts cut, as the site shows it."""
    return replace(
        alert,
        name=_cut(redact(alert.name, patterns), MAX_LABEL_CHARS),
        severity=_cut(redact(alert.severity, patterns), MAX_LABEL_CHARS),
        summary=_cut(redact(alert.summary, patterns), MAX_SUMMARY_CHARS),
        # A label named for a secret (password, token) is masked whole.
        labels=tuple(
            (_cut(k, MAX_LABEL_CHARS), _cut(redact_field(k, v, patterns), MAX_LABEL_CHARS))
            for k, v in alert.labels
        ),
    )


def collect(ctx: SourceContext) -> Part:
    """Read the firing alerts and keep the public ones."""
    cfg = ctx.cfg.alerts
    with client() as http:
        if cfg.alertmanager_url:
            url = f"{cfg.alertmanager_url}/api/v2/alerts"
            params = {"active": "true", "silenced": "false", "inhibited": "false"}
            alerts, bad = alertmanager_alerts(get_json(http, url, ctx.deadline, params))
        else:
            prom = ctx.cfg.prometheus
            if prom.bearer_token:
                http.headers["Authorization"] = f"Bearer {prom.bearer_token}"
            if prom.username:
                http.auth = (prom.username, prom.password)
            url = f"{prom.url}/api/v1/alerts"
            alerts, bad = prometheus_alerts(get_json(http, url, ctx.deadline))
    # Chosen on what the rules wrote, then made safe to publish.
    patterns = ctx.cfg.redact.patterns
    shown = tuple(scrubbed(a, patterns) for a in public(alerts, cfg.severities, cfg.matchers))
    detail = f"{len(alerts)} firing, {len(shown)} public, from {redact(url)}"
    return Part(alerts=shown, detail=detail + (f", {bad} malformed skipped" if bad else ""))

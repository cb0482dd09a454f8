"""The state of the site in one word (for status.json and the badge) and the 90-day strip."""

from __future__ import annotations

import time
from collections.abc import Callable

from sitegen.alerts.incidents import Tracked
from sitegen.model import Alert, Day, Incident, SourceStatus

STRIP_DAYS = 90
_RANK = {"ok": 0, "unknown": 0, "degraded": 1, "down": 2}


def incident_state(incident: Incident) -> str:
    """Return what an incident makes of the site: down when critical, degraded otherwise."""
    return "down" if incident.severity == "critical" else "degraded"


def overall(alerts: tuple[Alert, ...], sources: tuple[SourceStatus, ...]) -> str:
    """Return ok, degraded (an alert fires, or a source failed) or down (a critical fires)."""
    if any(a.severity == "critical" for a in alerts):
        return "down"
    return "degraded" if alerts or any(not s.ok for s in sources) else "ok"


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def day_strip(
    tracked: Tracked,
    probes: Callable[[float], dict[str, tuple[int, int]]],
    now: float,
    keep_seconds: float,
    days: int = STRIP_DAYS,
) -> tuple[Day, ...]:
    """Return one Day per UTC day of the last `days` (today last): the worst of its incidents
    and of the site's probes; unknown before tracking began or before the incidents kept
    reach (an older incident is forgotten, so "ok" would be made up), unless one says more."""
    known_from = max(tracked.since, now - keep_seconds)
    today = int(now // 86400) * 86400
    first = today - (days - 1) * 86400
    by_day = probes(first)
    out = []
    for start in range(int(first), int(today) + 1, 86400):
        touched = [
            i for i in tracked.incidents if i.start < start + 86400 and (i.end or now) >= start
        ]
        ok, total = by_day.get(_day(start), (0, 0))
        availability = 100.0 * ok / total if total else None
        state = "unknown" if start + 86400 <= known_from else "ok"
        if total and state == "ok":
            state = "down" if ok == 0 else "degraded" if ok < total else "ok"
        for i in touched:
            if _RANK[incident_state(i)] > _RANK[state] or state == "unknown":
                state = incident_state(i)
        ids = tuple(i.id for i in sorted(touched, key=lambda i: i.start))
        out.append(Day(_day(start), state, ids, availability))
    return tuple(out)

"""Incidents from witnessed transitions of firing alerts, kept in state_dir across restarts.

An incident opens the first cycle an alert is seen firing and closes the first cycle its
source answers without it: the end is when that was witnessed, so it is at most one interval
late. A source that failed this cycle says nothing about its alerts: their incidents are
neither opened nor closed until it answers again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from sitegen.alerts import SOURCE as ALERTS_SOURCE
from sitegen.config import AlertsConfig
from sitegen.model import Alert, Incident, SourceStatus
from sitegen.statefiles import atomic_write_bytes, quarantine

STATE_FILE = "incidents.json"
SITEGEN = "sitegen"  # the source of the alerts sitegen raises about itself
FAILING = "SourceFailing"


@dataclass(frozen=True)
class Failing:
    """A source failing cycle after cycle: how many in a row and since when."""

    source: str
    count: int
    since: float


@dataclass(frozen=True)
class Tracked:
    """What is kept across cycles: when tracking began, the incidents, the failing sources."""

    since: float
    incidents: tuple[Incident, ...] = ()
    failing: tuple[Failing, ...] = ()


def incident_id(key: str, start: float) -> str:
    """Return an incident's stable id: a hash of its alert's identity and its start."""
    return hashlib.sha256(f"{key}\x1e{int(start)}".encode()).hexdigest()[:16]


def incident_path(incident_id: str) -> str:
    """Return the site path of an incident's permalink."""
    return f"incidents/{incident_id}.html"


def firing_links(
    alerts: tuple[Alert, ...], incidents: tuple[Incident, ...]
) -> tuple[tuple[Alert, str], ...]:
    """Pair each firing alert with its ongoing incident's path ("" when it has none), critical
    ones first, then the longest firing."""
    ongoing = {i.key: incident_path(i.id) for i in incidents if i.end is None}
    first = sorted(alerts, key=lambda a: (a.severity != "critical", a.since or float("inf")))
    return tuple((a, ongoing.get(a.key, "")) for a in first)


def source_of(key: str) -> str:
    """Return the source named in an alert key (see Alert.key)."""
    return key.split("\x1f", 1)[0]


def ordered(incidents: list[Incident] | tuple[Incident, ...]) -> tuple[Incident, ...]:
    """Return incidents ongoing first, then newest first."""
    return tuple(sorted(incidents, key=lambda i: (i.end is not None, -i.start, i.id)))


def transition(
    tracked: Tracked,
    firing: tuple[Alert, ...],
    silent: frozenset[str],
    now: float,
    keep_seconds: float,
) -> Tracked:
    """Open an incident per newly firing alert, close those no longer firing (unless their
    source is in `silent`: it failed, so nothing is known), drop those ended before the
    retention."""
    incidents = list(tracked.incidents)
    open_at = {i.key: n for n, i in enumerate(incidents) if i.end is None}
    last_end: dict[str, float] = {}
    for i in incidents:
        if i.end is not None:
            last_end[i.key] = max(i.end, last_end.get(i.key, i.end))
    seen = set()
    for alert in firing:
        key = alert.key
        # The same alert twice in one answer (two HA replicas), or one from a failed source's
        # last good answer: neither opens anything.
        if key in seen or alert.source in silent:
            continue
        seen.add(key)
        if key in open_at:
            n = open_at[key]
            incidents[n] = replace(incidents[n], severity=alert.severity, summary=alert.summary)
            continue
        # The source's own start when it has one; never in the future, never overlapping the
        # incident of the same alert that ended before.
        start = min(alert.since or now, now)
        start = max(start, last_end.get(key) or start)
        incidents.append(
            Incident(
                id=incident_id(key, start),
                key=key,
                name=alert.name,
                severity=alert.severity,
                summary=alert.summary,
                labels=alert.labels,
                start=start,
            )
        )
    for key, n in open_at.items():
        if key not in seen and source_of(key) not in silent:
            incidents[n] = replace(incidents[n], end=now)
    horizon = now - keep_seconds
    kept = [i for i in incidents if i.end is None or i.end >= horizon]
    return replace(tracked, incidents=ordered(kept))


def failing_sources(
    tracked: Tracked, statuses: tuple[SourceStatus, ...], now: float, threshold: int
) -> tuple[Tracked, tuple[Alert, ...]]:
    """Count each source's failures in a row; one failing `threshold` cycles or more raises
    an alert of sitegen's own (threshold 0: never)."""
    before = {f.source: f for f in tracked.failing}
    failing = tuple(
        Failing(s.name, before[s.name].count + 1 if s.name in before else 1,
                before[s.name].since if s.name in before else now)
        for s in statuses
        if not s.ok
    )  # fmt: skip
    alerts = tuple(
        Alert(
            name=FAILING,
            severity="warning",
            summary=f"the {f.source} source failed {threshold} cycles in a row or more; "
            "the site shows its last good data",
            labels=(("source", f.source),),
            since=f.since,
            source=SITEGEN,
        )
        for f in failing
        if threshold and f.count >= threshold
    )
    return replace(tracked, failing=failing), alerts


def _incident(d: dict) -> Incident:
    return Incident(
        id=str(d["id"]),
        key=str(d["key"]),
        name=str(d["name"]),
        severity=str(d["severity"]),
        summary=str(d["summary"]),
        labels=tuple((str(k), str(v)) for k, v in d["labels"]),
        start=float(d["start"]),
        end=None if d["end"] is None else float(d["end"]),
    )


class IncidentStore:
    """The incidents file under state_dir: JSON, written atomically, moved aside if damaged."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE

    def load(self, now: float) -> Tracked:
        """Return what was tracked so far; a fresh start (since now) when there is nothing."""
        if not self.path.exists():
            return Tracked(since=now)
        try:
            doc = json.loads(self.path.read_bytes())
            return Tracked(
                since=float(doc["since"]),
                incidents=ordered([_incident(d) for d in doc["incidents"]]),
                failing=tuple(Failing(str(s), int(c), float(t)) for s, c, t in doc["failing"]),
            )
        except Exception as exc:  # any damage means the same: unusable, start again
            quarantine(self.path, f"{type(exc).__name__}: {exc}")
            return Tracked(since=now)

    def save(self, tracked: Tracked) -> None:
        """Write what is tracked so that a restart carries on from it."""
        doc = {
            "version": 1,
            "since": tracked.since,
            "incidents": [
                {**i.__dict__, "labels": [list(kv) for kv in i.labels]} for i in tracked.incidents
            ],
            "failing": [[f.source, f.count, f.since] for f in tracked.failing],
        }
        atomic_write_bytes(self.path, json.dumps(doc, indent=1).encode())


@dataclass(frozen=True)
class Witnessed:
    """What this cycle knows about alerts: the firing ones, the incidents, since when."""

    alerts: tuple[Alert, ...]
    tracked: Tracked


def witness(
    cfg: AlertsConfig,
    state_dir: Path,
    collected: tuple[Alert, ...],
    statuses: tuple[SourceStatus, ...],
    now: float,
) -> Witnessed:
    """Turn this cycle's firing alerts (and failing sources) into incidents, kept in state."""
    store = IncidentStore(state_dir)
    tracked, own = failing_sources(store.load(now), statuses, now, cfg.source_failures)
    failed = any(s.name == ALERTS_SOURCE and not s.ok for s in statuses)
    silent = frozenset({"prometheus", "alertmanager"} if failed else ())
    firing = (*collected, *own)
    tracked = transition(tracked, firing, silent, now, cfg.keep_days * 86400.0)
    store.save(tracked)
    return Witnessed(firing, tracked)

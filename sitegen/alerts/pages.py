"""What the incident pages show: the history (ongoing first, then newest) and a permalink each.

Returned as (name, path, template, data) for the render stage to wrap into page tasks; a
resolved incident's permalink carries nothing of the cycle, so its bytes never change and it
is published once.
"""

from __future__ import annotations

from sitegen.alerts.incidents import incident_path
from sitegen.model import Snapshot

INDEX = "incidents/index.html"


def incident_pages(snap: Snapshot) -> list[tuple[str, str, str, dict]]:
    """Return the incidents index and one permalink per incident kept."""
    pages = [
        (
            "incidents",
            INDEX,
            "incidents.html",
            {"incidents": snap.incidents, "now": snap.generated_at},
        )
    ]
    pages += [
        (f"incident {i.id[:8]}", incident_path(i.id), "incident.html", {"i": i})
        for i in snap.incidents
    ]
    return pages

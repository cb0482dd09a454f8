"""What the incident pages show: the history (ongoing first, then newest) and a permalink each.

Returned as the fields of the render stage's page tasks; a resolved incident's permalink
carries nothing of the cycle (it is "timeless"), so its bytes never change, it is not
rendered again, and it is published once.
"""

from __future__ import annotations

from sitegen.alerts.incidents import incident_path
from sitegen.model import Snapshot
from sitegen.render.pager import page_links, page_path

# Rows of the incidents list on one page: about 5 KB gzipped, well inside the page budget.
PER_PAGE = 50


def incident_pages(snap: Snapshot) -> list[dict]:
    """Return the incidents list (split into pages of PER_PAGE) and a permalink per incident."""
    runs = [snap.incidents[i : i + PER_PAGE] for i in range(0, len(snap.incidents), PER_PAGE)]
    runs = runs or [()]
    links = page_links("incidents", len(runs))
    pages = [
        {
            "name": "incidents" if n == 1 else f"incidents {n}",
            "path": page_path("incidents", n),
            "template": "incidents.html",
            "data": {
                "incidents": run,
                "total": len(snap.incidents),
                "ongoing": sum(1 for i in snap.incidents if i.end is None),
                "pages": links,
                "current": n,
                "now": snap.generated_at,
            },
            # The first page changes every cycle (ongoing ones first): it refreshes; older
            # pages do not.
            "refresh": "live" if n == 1 else "",
        }
        for n, run in enumerate(runs, 1)
    ]
    pages += [
        {
            "name": f"incident {i.id[:8]}",
            "path": incident_path(i.id),
            "template": "incident.html",
            "data": {"i": i},
            # Ongoing, it changes every cycle and refreshes; resolved, it never changes again.
            "refresh": "live" if i.end is None else "",
            "timeless": i.end is not None,
        }
        for i in snap.incidents
    ]
    return pages

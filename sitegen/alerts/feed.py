"""feed.atom (Atom 1.0, RFC 4287): an entry when an incident starts and one when it resolves.

Links are absolute under base_url (a feed reader has no page to resolve them against), so
without a base_url there is no feed. Entry ids are the permalink plus #started or #resolved:
stable across cycles, so a reader never sees an entry twice.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sitegen.alerts.incidents import incident_path
from sitegen.model import Incident, Snapshot
from sitegen.render.environment import iso
from sitegen.units import format_value
from sitegen.visible import visible

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100


def _entries(incidents: tuple[Incident, ...]) -> list[tuple[float, str, Incident]]:
    events = [(i.start, "started", i) for i in incidents]
    events += [(i.end, "resolved", i) for i in incidents if i.end is not None]
    return sorted(events, key=lambda e: (-e[0], e[1], e[2].id))[:MAX_ENTRIES]


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    node.text = visible(text)  # XML 1.0 cannot carry control characters at all
    return node


def feed_atom(snap: Snapshot, base_url: str) -> bytes:
    """Return feed.atom for the incidents kept; newest entry first."""
    ET.register_namespace("", ATOM)
    base = base_url.rstrip("/")
    events = _entries(snap.incidents)
    root = ET.Element(f"{{{ATOM}}}feed")
    _text(root, "id", f"{base}/feed.atom")
    _text(root, "title", f"{snap.title} incidents")
    # The newest event (or, with none, when watching began), so the feed's bytes change only
    # when an incident does and it is not published and invalidated every cycle.
    updated = events[0][0] if events else snap.watched_since or snap.generated_at
    _text(root, "updated", iso(updated))
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    _text(author, "name", snap.title)
    ET.SubElement(root, f"{{{ATOM}}}link", rel="self", href=f"{base}/feed.atom")
    ET.SubElement(root, f"{{{ATOM}}}link", rel="alternate", href=f"{base}/incidents/index.html")
    for ts, what, i in events:
        entry = ET.SubElement(root, f"{{{ATOM}}}entry")
        link = f"{base}/{incident_path(i.id)}"
        _text(entry, "id", f"{link}#{what}")
        lasted = f" after {format_value(i.duration, 'seconds')}" if what == "resolved" else ""
        severity = f" ({i.severity})" if i.severity else ""
        _text(entry, "title", f"{what}: {i.name}{lasted}{severity}")
        _text(entry, "updated", iso(ts))
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=link)
        labels = ", ".join(f"{k}={v}" for k, v in i.labels)
        when = f"started {iso(i.start)}"
        if what == "resolved":
            when = f"from {iso(i.start)} to {iso(ts)}, lasted {format_value(i.duration, 'seconds')}"
        summary = f"{i.summary} — " if i.summary else ""
        _text(entry, "summary", f"{summary}{when}; labels: {labels}")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)

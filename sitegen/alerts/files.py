"""The files of the alerts feature that are not pages: the badges and, with a base_url, the feed."""

from __future__ import annotations

from sitegen.alerts.badges import badges
from sitegen.alerts.feed import feed_atom
from sitegen.model import Snapshot


def alert_files(snap: Snapshot, base_url: str) -> dict[str, bytes]:
    """Return badges/*.svg and feed.atom (only when base_url is known) by site path."""
    files = badges(snap)
    if base_url:
        files["feed.atom"] = feed_atom(snap, base_url)
    return files

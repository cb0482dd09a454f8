"""Shields-style SVG badges: the site's state, its 30-day availability, one per stat panel.

Each is one small file (well under 1 KB) with a <title>, so it reads the same in an <img>,
a README and a screen reader. Widths come from a per-character estimate of Verdana 11px,
as the shields.io flat style does, so no font is needed to draw them.
"""

from __future__ import annotations

import math
import re
from xml.sax.saxutils import escape, quoteattr

from sitegen.alerts.status import overall
from sitegen.model import Panel, Snapshot
from sitegen.units import format_value
from sitegen.visible import visible

COLOURS = {"ok": "#4c1", "degraded": "#dfb317", "down": "#e05d44", "unknown": "#9f9f9f"}
VALUE = "#007ec6"
MAX_CHARS = 32  # a longer label or value is cut: a badge stays small
_SLUG = re.compile(r"[^a-z0-9]+")


def _width(text: str) -> int:
    # Verdana 11px: about 7 px a character, narrower for thin ones; 10 px of padding.
    thin = sum(1 for ch in text if ch in "ifjlrt.,:;!|' ()[]1")
    return round(7 * (len(text) - thin) + 4 * thin) + 10


def _cut(text: str) -> str:
    text = visible(text)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def badge(label: str, message: str, colour: str) -> bytes:
    """Return a flat badge: label on grey, message on `colour`."""
    label, message = _cut(label), _cut(message)
    lw, mw = _width(label), _width(message)
    w, title = lw + mw, f"{label}: {message}"
    lx, mx = lw / 2, lw + mw / 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" '
        f"aria-label={quoteattr(title)}><title>{escape(title)}</title>"
        f'<clipPath id="r"><rect width="{w}" height="20" rx="3"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{colour}"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        f'font-size="11"><text x="{lx:g}" y="14">{escape(label)}</text>'
        f'<text x="{mx:g}" y="14">{escape(message)}</text></g></svg>'
    ).encode()


def _availability(snap: Snapshot) -> bytes:
    month = next((u for u in snap.site.uptime if u.window == "30 d"), None) if snap.site else None
    if month is None or month.percent is None:
        return badge("availability 30d", "unknown", COLOURS["unknown"])
    p = month.percent
    colour = COLOURS["ok"] if p >= 99.9 else COLOURS["degraded"] if p >= 99 else COLOURS["down"]
    return badge("availability 30d", f"{p:.2f}%", colour)


def stat_badge(panel: Panel) -> bytes:
    """Return a stat panel's badge: its one series' newest value, else what is known."""
    values = [s.last for s in panel.series if s.last is not None]
    if len(values) != 1 or not math.isfinite(values[0]):
        # Several series have no one value; none or NaN is unknown. Never a made-up sum.
        text = f"{len(values)} series" if len(values) > 1 else "unknown"
        return badge(panel.title, text, COLOURS["unknown"])
    text = format_value(values[0], panel.unit) + (" (stale)" if panel.stale_since else "")
    return badge(panel.title, text, COLOURS["unknown"] if panel.stale_since else VALUE)


def slug(title: str) -> str:
    """Return a file-name-safe form of a title."""
    return _SLUG.sub("-", title.lower()).strip("-")[:48] or "panel"


def badges(snap: Snapshot) -> dict[str, bytes]:
    """Return every badge of the site by path."""
    state = overall(snap.alerts, snap.sources)
    out = {
        "badges/status.svg": badge("status", state, COLOURS[state]),
        "badges/availability-30d.svg": _availability(snap),
    }
    for panel in (p for p in snap.panels if p.kind == "stat"):
        name, n = slug(panel.title), 2
        path = f"badges/{name}.svg"
        while path in out:  # two panels of one title keep a badge each
            path, n = f"badges/{name}-{n}.svg", n + 1
        out[path] = stat_badge(panel)
    return out

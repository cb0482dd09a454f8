"""The JSON twins of the pages under data/, for scripts: the contract in DESIGN.md.

Times are RFC 3339 UTC strings, null when unknown; no HTML, no NaN or Infinity.
"""

from __future__ import annotations

import json
import math

from sitegen import charts
from sitegen.alerts.status import status_json
from sitegen.charts.line import CHART_COLUMNS
from sitegen.model import Panel, Snapshot
from sitegen.render.environment import iso


def _finite(value: float | None) -> float | None:
    # JSON has no NaN or Inf: such values become null (the page still shows them as text).
    return value if value is not None and math.isfinite(value) else None


def _panel_json(panel: Panel, now: float) -> dict:
    t0 = now - panel.range_seconds
    return {
        "title": panel.title,
        "query": panel.query,
        "unit": panel.unit,
        "source": panel.source,
        "error": panel.error,
        "stale_since": iso(panel.stale_since) if panel.stale_since else None,
        "series": [
            {
                "labels": dict(s.labels),
                "last": _finite(s.last),
                # What the chart drew.
                "points": [
                    [round(ts, 3), _finite(v)]
                    for ts, v in charts.downsample(s.points, CHART_COLUMNS, t0, now)
                ],
            }
            for s in panel.series
        ],
    }


def snapshot_json(snap: Snapshot) -> bytes:
    """Return data/snapshot.json: sources, panels and counts, as the contract says."""
    doc = {
        "generated_at": iso(snap.generated_at),
        "version": snap.version,
        "sources": {
            s.name: {
                "ok": s.ok,
                "stale_since": iso(s.stale_since) if s.stale_since else None,
                "error": s.error,
            }
            for s in snap.sources
        },
        "panels": [_panel_json(p, snap.generated_at) for p in snap.panels],
        "traces": len(snap.traces),
        "logs": len(snap.logs),
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def twins(snap: Snapshot) -> dict[str, bytes]:
    """Return every data/*.json file of the site for this snapshot, by site path."""
    return {"data/snapshot.json": snapshot_json(snap), "data/status.json": status_json(snap)}

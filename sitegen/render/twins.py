"""The JSON twins of the pages under data/, for scripts: the contract in DESIGN.md.

Times are RFC 3339 UTC strings, null when unknown; no HTML, no NaN or Infinity.
"""

from __future__ import annotations

import json
import math

from sitegen import charts
from sitegen.alerts.incidents import incident_path
from sitegen.alerts.status import overall
from sitegen.charts.line import CHART_COLUMNS
from sitegen.model import LogRecord, Panel, Series, Snapshot, Trace
from sitegen.render.environment import iso
from sitegen.render.memo import GENERATION_CYCLES, CycleMemo
from sitegen.traces.stats import PerTrace, newest_first


def _finite(value: float | None) -> float | None:
    # JSON has no NaN or Inf: such values become null (the page still shows them as text).
    return value if value is not None and math.isfinite(value) else None


def _compact(doc: object) -> str:
    return json.dumps(doc, separators=(",", ":"), allow_nan=False)


def _with_raw(doc: dict, key: str, raw: str) -> str:
    """Return the JSON of `doc` with `key` added last, holding `raw` (JSON already encoded)."""
    head = _compact(doc)
    return f'{head[:-1]}{"," if doc else ""}"{key}":{raw}}}'


def _points_json(points: list[tuple[float, float]]) -> list[str]:
    out = []
    for ts, value in points:
        at, shown = round(ts, 3), _finite(value)
        if not math.isfinite(at):  # what json.dumps says of it (no JSON number is infinite)
            out.append(_compact([at, shown]))
            continue
        # As json.dumps writes a number (its repr), at a third of its cost: a first render
        # encodes tens of thousands of points.
        out.append(f"[{at!r},{'null' if shown is None else repr(shown)}]")
    return out


# Each point's encoded form: a chart's held slices keep their points from cycle to cycle, and
# only the slice under way (or all of them, when the slices widen) has new ones.
_POINTS = CycleMemo(_points_json, GENERATION_CYCLES)


def _points(panel: Panel, series: Series, t0: float, now: float) -> list[str]:
    """Return the encoded points the chart of a panel's series draws."""
    drawn = charts.downsample(series.points, CHART_COLUMNS, t0, now)
    # A series is asked for again each cycle as the same run: its held buckets, then new ones.
    return _POINTS.each(drawn, now, run=(panel.source, panel.query, series.labels))


def _panel_json(panel: Panel, now: float) -> str:
    t0 = now - panel.range_seconds
    series = [
        _with_raw(
            {"labels": dict(s.labels), "last": _finite(s.last)},
            "points",  # what the chart drew
            f"[{','.join(_points(panel, s, t0, now))}]",
        )
        for s in panel.series
    ]
    about = {
        "title": panel.title,
        "query": panel.query,
        "unit": panel.unit,
        "source": panel.source,
        "error": panel.error,
        "stale_since": iso(panel.stale_since) if panel.stale_since else None,
        "note": panel.note,  # e.g. how many series were left out (max_series)
    }
    return _with_raw(about, "series", f"[{','.join(series)}]")


def snapshot_json(snap: Snapshot) -> bytes:
    """Return data/snapshot.json: sources, panels and counts, as the contract says."""
    head = {
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
    }
    panels = ",".join(_panel_json(p, snap.generated_at) for p in snap.panels)
    counts = _compact({"traces": len(snap.traces), "logs": len(snap.logs)})
    return f"{_with_raw(head, 'panels', f'[{panels}]')[:-1]},{counts[1:]}".encode()


def _without_markup(text: str) -> str:
    # Go's encoding/json escapes: a JSON parser reads the same strings back.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json_without_markup(doc: dict) -> bytes:
    """Return doc as compact JSON with <, > and & escaped as Go's encoding/json does.

    Log lines and span names are anybody's text: escaped, no byte of the file reads as markup,
    even to a viewer that sniffs it as HTML; a JSON parser gets the same strings back.
    """
    return _without_markup(_compact(doc)).encode()


def _listing(snap: Snapshot, key: str, entries: list[str]) -> bytes:
    """Return a twin of the snapshot's time and a list of entries already encoded (a list
    is its items joined by ",": each entry is encoded once, while it is listed)."""
    head = _without_markup(json.dumps(iso(snap.generated_at)))
    return f'{{"generated_at":{head},"{key}":[{",".join(entries)}]}}'.encode()


def _log_time(ts: float | None) -> str | None:
    """Return a log line's time in RFC 3339 UTC with the fraction it has (to the µs), or None."""
    if ts is None:
        return None
    whole = math.floor(ts)
    micros = round((ts - whole) * 1e6)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    stamp = iso(whole)
    return f"{stamp[:-1]}.{micros:06d}".rstrip("0") + "Z" if micros else stamp


def _log_entry(r: LogRecord) -> str:
    entry = {
        "time": _log_time(r.ts),
        "level": r.level,
        "source": r.source,
        "message": r.message,
        "fields": dict(r.fields),
        "trace_id": r.trace_id,
        "duration_seconds": _finite(r.duration_s),
    }
    return _without_markup(_compact(entry))


# Each line's encoded entry, made once while the logs pages show the line.
_LOG_ENTRIES = CycleMemo(lambda records: list(map(_log_entry, records)), GENERATION_CYCLES)


def logs_json(snap: Snapshot) -> bytes:
    """Return data/logs.json: every record the logs pages show, newest first."""
    # Oldest first, as the tail is held: lines join at its end and leave at its start.
    entries = _LOG_ENTRIES.each(snap.logs, snap.generated_at, run="logs")
    return _listing(snap, "records", entries[::-1])


def _time(ts: float) -> str | None:
    text = iso(ts)
    return text if text[:1].isdigit() else None  # "out of range" (bad input): unknown


def _trace_entry(t: Trace) -> dict:
    return {
        "trace_id": t.trace_id,
        "root": t.root.name,
        "services": sorted({s.service for s in t.spans}),
        "spans": len(t.spans),
        "errors": sum(s.status == "error" for s in t.spans),
        "start": _time(t.start_ns / 1e9),
        "duration_seconds": t.duration_ns / 1e9,
    }


def _encoded_entry(t: Trace) -> str:
    return _without_markup(_compact(_trace_entry(t)))


# Each trace's encoded entry: a finished trace's never changes, and only new ones are encoded.
_ENTRIES = PerTrace(_encoded_entry)


def traces_json(snap: Snapshot) -> bytes:
    """Return data/traces.json: every trace the traces pages list, newest first."""
    return _listing(snap, "traces", _ENTRIES.each(newest_first(snap.traces)))


def _maybe_iso(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)


def status_json(snap: Snapshot) -> bytes:
    """Return data/status.json: the state in one word, the firing alerts, the incidents."""
    doc = {
        "generated_at": iso(snap.generated_at),
        "state": overall(snap.alerts, snap.sources),
        "alerts": [
            {
                "name": a.name,
                "severity": a.severity,
                "summary": a.summary,
                "labels": dict(a.labels),
                "since": _maybe_iso(a.since),
            }
            for a in snap.alerts
        ],
        "incidents": [
            {
                "id": i.id,
                "title": i.name,
                "severity": i.severity,
                "summary": i.summary,
                "start": iso(i.start),
                "end": _maybe_iso(i.end),
                "url": incident_path(i.id),
            }
            for i in snap.incidents
        ],
    }
    # Alert summaries and labels are anybody's text, like log lines.
    return _json_without_markup(doc)


def twins(snap: Snapshot) -> dict[str, bytes]:
    """Return every data/*.json file of the site for this snapshot, by site path."""
    return {
        "data/snapshot.json": snapshot_json(snap),
        "data/logs.json": logs_json(snap),
        "data/traces.json": traces_json(snap),
        "data/status.json": status_json(snap),
    }

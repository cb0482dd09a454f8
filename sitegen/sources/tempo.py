"""Grafana Tempo: traces found by a TraceQL search, each fetched whole by its id.

Each cycle asks ``/api/search?q=<tempo_query>&start=&end=&limit=`` (times in seconds),
then ``/api/traces/<id>`` (as JSON: OTLP with base64 ids, under ``batches`` in older
Tempo versions, ``resourceSpans`` in newer ones) for the newest traces it does not know
yet, at most MAX_FETCHES per cycle. A finished trace does not change, so a trace kept
from earlier cycles is never fetched again; the rest wait for the next cycle.
"""

from __future__ import annotations

import httpx

from sitegen.sources.base import Part, SourceContext
from sitegen.sources.httpapi import ApiError, client, gather, get_json, read_answers
from sitegen.sources.tracepart import carried, traces_part
from sitegen.traces.otlp import OtlpReader
from sitegen.traces.spans import (
    ASSEMBLE_SECONDS,
    MALFORMED,
    Scrub,
    as_int,
    norm_id,
)
from sitegen.units import counted

NAME = "tempo"
# Trace fetches per cycle: a first cycle against a busy Tempo costs seconds, not minutes.
MAX_FETCHES = 20


def _found(doc: object, url: str) -> list[tuple[int, str]]:
    """Return (start ns, trace id) of a search answer's traces, newest first."""
    traces = doc.get("traces") if isinstance(doc, dict) else None
    if not isinstance(traces, list):
        raise ApiError(f"unexpected answer from {url}: no traces list")
    found = []
    for item in traces:
        try:
            found.append((as_int(item.get("startTimeUnixNano", 0)), norm_id(item["traceID"], 16)))
        except MALFORMED:
            continue
    return sorted(found, reverse=True)


def _trace(http: httpx.Client, base: str, trace_id: str, deadline: float) -> dict:
    """Fetch one trace as OTLP JSON; /api/v2/traces wraps it in {"trace": ...}."""
    url = f"{base}/api/traces/{trace_id}"
    doc = get_json(http, url, deadline)
    doc = doc.get("trace", doc) if isinstance(doc, dict) else doc
    if not isinstance(doc, dict):
        raise ApiError(f"unexpected answer from {url}: not a JSON object")
    return doc


def collect(ctx: SourceContext) -> Part:
    """Search Tempo, fetch the traces not seen before, keep the newest."""
    cfg = ctx.cfg.traces
    base = cfg.tempo_url.rstrip("/")
    kept = carried(ctx.previous)
    known = {t.trace_id for t in kept}
    # Once the kept traces fill the page, a trace older than all of them would not be shown.
    oldest = min((t.start_ns for t in kept), default=0) if len(kept) >= cfg.max_traces else 0
    window = {"start": int(ctx.now) - cfg.lookback_seconds, "end": int(ctx.now) + 1}
    with client() as http:
        url = f"{base}/api/search"
        params = {"q": cfg.tempo_query, **window, "limit": cfg.max_traces}
        found = _found(get_json(http, url, ctx.deadline, params), url)
        new = [tid for start, tid in found if tid not in known and start >= oldest]
        answers = gather(lambda tid: _trace(http, base, tid, ctx.deadline), new[:MAX_FETCHES])
    reader = OtlpReader(Scrub(ctx.cfg.redact.patterns), deadline=ctx.deadline - ASSEMBLE_SECONDS)
    errors = read_answers(reader, answers)
    missing = [e for e in errors if e.status == 404]  # expired, or not flushed yet
    failed = [e for e in errors if e.status != 404]
    if failed and len(failed) == len(answers):
        raise failed[0]
    left = len(new) - len(answers)
    return traces_part(
        kept,
        reader.result(),
        cfg.max_traces,
        f"{counted(len(found), 'trace')} found by {cfg.tempo_query} at {base}, "
        f"{len(answers)} fetched",
        f"{left} left for the next cycle" if left else "",
        f"{len(missing)} not found" if missing else "",
        f"{counted(len(failed), 'fetch', 'fetches')} failed (first: {failed[0]})" if failed else "",
    )

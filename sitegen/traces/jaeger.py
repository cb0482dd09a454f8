"""Read Jaeger's JSON (``/api/traces`` answers) into Spans.

Jaeger answers with whole traces: spans with tags, logs and references, and a
``processes`` map that names each span's service. Tags ``error=true`` and
``otel.status_code=ERROR`` make a span an error; its logs become span events. A malformed
trace or span is counted and skipped; its neighbours are kept.
"""

from __future__ import annotations

from functools import partial

from sitegen.model import Span, SpanEvent
from sitegen.traces.spans import (
    MALFORMED,
    MAX_EVENTS,
    UNKNOWN_SERVICE,
    Scrub,
    SpanReader,
    as_int,
    norm_id,
    parent_id,
)


def _pairs(items: object) -> list[tuple[str, object]]:
    """Return Jaeger's [{"key", "type", "value"}] tags or log fields as (key, value) pairs."""
    if not isinstance(items, list):
        return []
    return [(str(t["key"]), t.get("value")) for t in items if isinstance(t, dict) and "key" in t]


def _status(tags: list[tuple[str, object]]) -> str:
    values = dict(tags)
    code = str(values.get("otel.status_code", "")).upper()
    if values.get("error") in (True, "true") or code == "ERROR":
        return "error"
    return "ok" if code == "OK" else "unset"


def _parent(references: object) -> str | None:
    refs = [r for r in references if isinstance(r, dict)] if isinstance(references, list) else []
    # The first CHILD_OF is the parent (Jaeger's own UI reads it so); FOLLOWS_FROM otherwise.
    refs.sort(key=lambda r: r.get("refType") != "CHILD_OF")
    return parent_id(refs[0].get("spanID")) if refs else None


def _events(logs: object, scrub: Scrub) -> tuple[SpanEvent, ...]:
    events = []
    for log in logs[:MAX_EVENTS] if isinstance(logs, list) else ():
        try:
            fields = _pairs(log.get("fields"))
            # OpenTelemetry's Jaeger mapping keeps an event's name in the "event" field.
            name = next((str(v) for k, v in fields if k == "event"), "log")
            events.append(
                SpanEvent(
                    name=scrub.text(name),
                    ts_ns=as_int(log["timestamp"]) * 1000,
                    attributes=scrub.attributes((k, v) for k, v in fields if k != "event"),
                )
            )
        except MALFORMED:
            continue  # one bad log costs only itself
    return tuple(events)


def _span(item: dict, processes: dict, scrub: Scrub) -> Span:
    start_us = as_int(item["startTime"])
    tags = _pairs(item.get("tags"))
    process = item.get("process") or processes.get(item.get("processID")) or {}
    service = str(process.get("serviceName") or UNKNOWN_SERVICE)
    return Span(
        trace_id=norm_id(item["traceID"], 16),
        span_id=norm_id(item["spanID"], 8),
        parent_id=_parent(item.get("references")),
        name=scrub.text(str(item.get("operationName", ""))),
        service=scrub.text(service),
        start_ns=start_us * 1000,
        end_ns=(start_us + as_int(item.get("duration", 0))) * 1000,
        status=_status(tags),
        attributes=scrub.attributes(tags),
        events=_events(item.get("logs"), scrub),
    )


class JaegerReader(SpanReader):
    """Collects the spans of Jaeger ``/api/traces`` answers within one cycle's span budget."""

    def spans_of(self, doc: dict) -> list[Span]:
        """Return the spans of one ``{"data": [{"traceID", "spans", "processes"}, ...]}``."""
        out: list[Span] = []
        traces = doc.get("data")
        for trace in traces if isinstance(traces, list) else ():
            if not isinstance(trace, dict):
                self.bad_spans += 1
                continue
            processes = trace.get("processes")
            processes = processes if isinstance(processes, dict) else {}
            spans = trace.get("spans")
            items = spans if isinstance(spans, list) else ()
            self.build(items, partial(_span, processes=processes, scrub=self.scrub), out)
        return out

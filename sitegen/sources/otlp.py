"""Read OTLP JSON (the OpenTelemetry Collector file exporter's format) into Spans and Traces."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sitegen.model import Span, Trace, labels_of

# OTLP JSON writes status codes as enum names or as their numbers.
_STATUS = {
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
    1: "ok",
    2: "error",
}


def _any_value(value: dict) -> object:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in value["arrayValue"].get("values", [])]
    return ""


def _attrs(items: Iterable[dict]) -> dict[str, str]:
    return {str(a.get("key", "")): str(_any_value(a.get("value") or {})) for a in items or ()}


def parse_document(doc: dict) -> list[Span]:
    """Return the spans of one ``{"resourceSpans": [...]}`` document; bad spans are skipped."""
    spans = []
    for rs in doc.get("resourceSpans") or ():
        resource = _attrs((rs.get("resource") or {}).get("attributes"))
        service = resource.get("service.name", "unknown")
        for ss in rs.get("scopeSpans") or ():
            for s in ss.get("spans") or ():
                try:
                    status = (s.get("status") or {}).get("code", 0)
                    spans.append(
                        Span(
                            trace_id=str(s["traceId"]).lower(),
                            span_id=str(s["spanId"]).lower(),
                            parent_id=str(s["parentSpanId"]).lower()
                            if s.get("parentSpanId")
                            else None,
                            name=str(s.get("name", "")),
                            service=service,
                            start_ns=int(s["startTimeUnixNano"]),
                            end_ns=int(s["endTimeUnixNano"]),
                            status=_STATUS.get(status, "unset"),
                            attributes=labels_of(_attrs(s.get("attributes"))),
                        )
                    )
                except (KeyError, TypeError, ValueError):
                    continue  # one malformed span must not cost its neighbours
    return spans


def parse_lines(lines: Iterable[bytes]) -> tuple[list[Span], int]:
    """Parse JSON lines of OTLP documents; return the spans and the count of unreadable lines."""
    spans: list[Span] = []
    bad = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(doc, dict):
            spans.extend(parse_document(doc))
        else:
            bad += 1
    return spans, bad


def assemble(spans: Iterable[Span], limit: int) -> tuple[Trace, ...]:
    """Group spans into traces (a span seen twice counts once); keep the newest `limit`."""
    by_trace: dict[str, dict[str, Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, {})[span.span_id] = span
    traces = [
        Trace(trace_id=tid, spans=tuple(sorted(group.values(), key=lambda s: s.start_ns)))
        for tid, group in by_trace.items()
    ]
    traces.sort(key=lambda t: t.start_ns, reverse=True)
    return tuple(traces[:limit])

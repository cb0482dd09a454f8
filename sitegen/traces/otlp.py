"""Read OTLP JSON into Spans: the Collector's file exporter, Tempo's trace API, any valid encoding.

Accepts what the OTLP/JSON spec allows and what producers write in practice: ids in hex or
base64 (protobuf's own JSON mapping, which Tempo answers with), 64-bit integers as strings
or numbers, enums as names or numbers, every AnyValue kind, fields left out at their
default, the older ``instrumentationLibrarySpans`` and Tempo's ``batches``. A malformed
resource, span or attribute is counted and skipped; its neighbours are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

from sitegen.model import Span, SpanEvent
from sitegen.traces.documents import split
from sitegen.traces.spans import (
    MALFORMED,
    MAX_EVENTS,
    UNKNOWN_SERVICE,
    Parsed,
    Scrub,
    SpanReader,
    as_int,
    norm_id,
    parent_id,
    text_of,
)

# OTLP JSON writes status codes as enum names or as their numbers.
_STATUS = {
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
    1: "ok",
    2: "error",
}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _value(value: object, scrub: Scrub, bad: list[int]) -> object:
    """Decode an OTLP AnyValue (an empty or unknown one is the empty string)."""
    if not isinstance(value, dict):
        return ""
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return as_int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])  # also "NaN", "Infinity", "-Infinity"
    if "arrayValue" in value:
        return [_value(v, scrub, bad) for v in _list((value["arrayValue"] or {}).get("values"))]
    if "kvlistValue" in value:
        pairs = _pairs((value["kvlistValue"] or {}).get("values"), scrub, bad)
        # Nested keys name secrets too: {"headers": {"cookie": "..."}}.
        return {k: scrub.field(k, v) if isinstance(v, str) else v for k, v in pairs}
    if "bytesValue" in value:
        return str(value["bytesValue"])  # base64, shown as written
    return ""


def _pairs(items: object, scrub: Scrub, bad: list[int]) -> Iterator[tuple[str, object]]:
    """Yield the (key, value) of a list of OTLP KeyValues; count malformed ones in bad[0]."""
    for item in _list(items):
        try:
            pair = str(item["key"]), _value(item.get("value"), scrub, bad)
        except MALFORMED:
            bad[0] += 1
            continue
        yield pair


def _events(items: object, default_ns: int, scrub: Scrub, bad: list[int]) -> tuple[SpanEvent, ...]:
    events = []
    for item in _list(items)[:MAX_EVENTS]:
        try:
            events.append(
                SpanEvent(
                    name=scrub.text(str(item.get("name", ""))),
                    # A time left out is 0 by the encoding's rules; the span's start is nearer.
                    ts_ns=as_int(item["timeUnixNano"]) if "timeUnixNano" in item else default_ns,
                    attributes=scrub.attributes(_pairs(item.get("attributes"), scrub, bad)),
                )
            )
        except MALFORMED:
            continue  # one bad event costs only itself
    return tuple(events)


def _status(status: object) -> str:
    code = status.get("code", 0) if isinstance(status, dict) else 0
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    return _STATUS.get(code, "unset") if isinstance(code, (int, str)) else "unset"


def _span(item: dict, service: str, scrub: Scrub, bad: list[int]) -> Span:
    start = as_int(item["startTimeUnixNano"])
    # droppedAttributesCount, droppedEventsCount, kind, links, flags: not shown, ignored.
    return Span(
        trace_id=norm_id(item["traceId"], 16),
        span_id=norm_id(item["spanId"], 8),
        parent_id=parent_id(item.get("parentSpanId")),
        name=scrub.text(str(item.get("name", ""))),
        service=service,
        start_ns=start,
        end_ns=as_int(item["endTimeUnixNano"]),
        status=_status(item.get("status")),
        attributes=scrub.attributes(_pairs(item.get("attributes"), scrub, bad)),
        events=_events(item.get("events"), start, scrub, bad),
    )


def _service(resource: object, scrub: Scrub, bad: list[int]) -> str:
    attrs = resource.get("attributes") if isinstance(resource, dict) else None
    for key, value in _pairs(attrs, scrub, bad):
        if key == "service.name":
            name = text_of(value)
            return scrub.text(name) if name else UNKNOWN_SERVICE
    return UNKNOWN_SERVICE  # also when service.name itself is malformed: never a guess


class OtlpReader(SpanReader):
    """Collects the spans of OTLP JSON documents within one cycle's span budget."""

    def spans_of(self, doc: dict) -> list[Span]:
        """Return the spans of one ``{"resourceSpans": [...]}`` (or Tempo's ``{"batches"}``)."""
        out: list[Span] = []
        bad = [0]  # malformed attributes, counted where they are decoded
        for rs in _list(doc.get("resourceSpans") or doc.get("batches")):
            if not isinstance(rs, dict):
                self.bad_resources += 1
                continue
            service = _service(rs.get("resource"), self.scrub, bad)
            scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans")
            build = partial(_span, service=service, scrub=self.scrub, bad=bad)
            for scope in _list(scopes):
                self.build(
                    _list(scope.get("spans") if isinstance(scope, dict) else None), build, out
                )
        self.bad_attributes += bad[0]
        return out


def parse_lines(lines: Sequence[bytes], scrub: Scrub | None = None) -> Parsed:
    """Parse JSON documents (newest last) within the default span budget."""
    reader = OtlpReader(scrub or Scrub())
    reader.add(split(b"\n".join(lines).decode("utf-8", "replace"), reader.convert).docs)
    return reader.result()

"""Trace sources: OTLP JSON in every valid encoding, Jaeger and Tempo, bounds, redaction.

Jaeger and Tempo are played by tests/traceapi.py's loopback stand-in (they cannot be
installed here), answering with documents shaped as their HTTP APIs document them.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToJson
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from sitegen import retry
from sitegen.cli import main
from sitegen.config import Config
from sitegen.model import Span
from sitegen.sources import collect_all, httpapi, jaeger, tempo, traces
from sitegen.sources.base import Part
from sitegen.sources.httpapi import ApiError
from sitegen.state import LastGood
from sitegen.traces.documents import split
from sitegen.traces.jaeger import JaegerReader
from sitegen.traces.otlp import OtlpReader, parse_lines
from sitegen.traces.spans import (
    MAX_KEPT_SPANS,
    MAX_NEW_SPANS,
    MAX_SPANS_PER_TRACE,
    MAX_VALUE_CHARS,
    Scrub,
    assemble,
    norm_id,
)
from tests.test_sources import LOGGER, TRACER, context
from tests.traceapi import (
    Slow,
    StandIn,
    jaeger_trace,
    kv,
    otlp_document,
    otlp_span,
    otlp_trace,
    to_base64,
)

NOW_NS = time.time_ns()
NOW_US = NOW_NS // 1000


def with_traces(cfg: Config, **changes: object) -> Config:
    return replace(cfg, traces=replace(cfg.traces, **changes))


def read(doc: dict, scrub: Scrub | None = None) -> list[Span]:
    reader = OtlpReader(scrub or Scrub())
    reader.document(doc)
    return reader.spans


# --- OTLP JSON ------------------------------------------------------------------------------


def test_ids_in_hex_and_base64_and_without_leading_zeros_are_one_id() -> None:
    hex_id = "00f067aa0ba902b7"
    assert norm_id(hex_id, 8) == norm_id("APBnqgupArc=", 8) == norm_id("f067aa0ba902b7", 8)
    assert norm_id("APBnqgupArc", 8) == hex_id  # base64 without its padding
    assert norm_id("4BF92F3577B34DA6A3CE929D0E0E4736", 16) == "4bf92f3577b34da6a3ce929d0e0e4736"
    for bad in ("", "0" * 32, "xyz!", "QUJD", 12):
        with pytest.raises(ValueError):
            norm_id(bad, 16)


def test_every_encoding_the_otlp_json_spec_allows_is_read() -> None:
    span = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",  # hex, any case
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "",  # a root: empty parent
        "name": "GET /cart",
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": 1544712660000000000,  # int64 as a JSON number
        "endTimeUnixNano": "1544712661000000000",  # and as a string
        "droppedAttributesCount": "2",
        "droppedEventsCount": 1,
        "droppedLinksCount": 0,
        "attributes": [
            kv("http.method", "GET"),
            {"key": "ok", "value": {"boolValue": True}},
            {"key": "n", "value": {"intValue": 7}},
            {"key": "ratio", "value": {"doubleValue": "NaN"}},
            {
                "key": "tags",
                "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}]}},
            },
            {
                "key": "headers",
                "value": {"kvlistValue": {"values": [kv("accept", "*/*"), kv("cookie", "sid=1")]}},
            },
            {"key": "raw", "value": {"bytesValue": "aGVsbG8="}},
            {"key": "empty", "value": {}},
        ],
        "events": [
            {
                "timeUnixNano": "1544712660300000000",
                "name": "cache miss",
                "attributes": [kv("key", "cart:42")],
                "droppedAttributesCount": 3,
            },
            {"name": "no time"},  # time left out (0 by the encoding): the span's start
            "not an event",
        ],
        "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
    }
    numbered = {**span, "spanId": "EEE19B7EC3C1B175", "status": {"code": 1}}
    unset = {**span, "spanId": "EEE19B7EC3C1B176", "status": {}}
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv("host.name", "h")]},
                "scopeSpans": [{"scope": {"name": "lib"}, "spans": [span, numbered, unset]}],
            }
        ]
    }
    first, second, third = read(doc)
    assert first.trace_id == "5b8efff798038103d269b633813fc60c" and first.parent_id is None
    assert first.service == "unknown_service"  # no service.name in the resource
    assert (first.start_ns, first.end_ns) == (1544712660000000000, 1544712661000000000)
    assert [s.status for s in (first, second, third)] == ["error", "ok", "unset"]
    attrs = dict(first.attributes)
    assert attrs["http.method"] == "GET" and attrs["ok"] == "true" and attrs["n"] == "7"
    assert attrs["ratio"] == "nan" and attrs["tags"] == '["a", 1]' and attrs["raw"] == "aGVsbG8="
    assert json.loads(attrs["headers"]) == {"accept": "*/*", "cookie": "[REDACTED]"}
    assert attrs["empty"] == ""
    miss, no_time = first.events
    assert (miss.name, miss.ts_ns, miss.attributes) == (
        "cache miss",
        1544712660300000000,
        (("key", "cart:42"),),
    )
    assert no_time.ts_ns == first.start_ns


def test_older_keys_and_tempo_batches_are_read() -> None:
    span = otlp_span(1, 2, None, NOW_NS)
    old = {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv("service.name", "legacy")]},
                "instrumentationLibrarySpans": [
                    {"instrumentationLibrary": {"name": "x"}, "spans": [span]}
                ],
            }
        ]
    }
    tempo_v1 = {"batches": to_base64(otlp_document([span], "tempo"))["resourceSpans"]}
    (a,), (b,) = read(old), read(tempo_v1)
    assert a.service == "legacy" and b.service == "tempo"
    assert a.trace_id == b.trace_id == f"{1:032x}" and a.span_id == b.span_id == f"{2:016x}"


def test_one_malformed_span_never_costs_its_neighbours() -> None:
    good = [otlp_span(1, i, None, NOW_NS + i) for i in range(1, 4)]
    bad = [
        {**good[0], "traceId": "0" * 32},  # an invalid (all-zero) id
        {k: v for k, v in good[0].items() if k != "spanId"},
        {**good[0], "startTimeUnixNano": {"nope": 1}},
        {**good[0], "endTimeUnixNano": True},
        {**good[0], "attributes": "not a list", "spanId": "00000000000000aa"},  # kept, no attrs
        "not a span",
        None,
    ]
    doc = otlp_document([good[0], *bad, good[1], good[2]])
    doc["resourceSpans"].append("not a resource")
    reader = OtlpReader(Scrub())
    reader.document(doc)
    parsed = reader.result()
    assert [s.span_id for s in parsed.spans] == [
        good[0]["spanId"],
        "00000000000000aa",
        good[1]["spanId"],
        good[2]["spanId"],
    ]
    assert parsed.bad_spans == 6 and "6 malformed spans skipped" in parsed.note()
    assert parsed.bad_resources == 1 and "1 malformed resources skipped" in parsed.note()


def test_spans_from_the_opentelemetry_sdk_round_trip_in_protobufs_json_mapping() -> None:
    """The SDK's own OTLP encoder, as JSON: base64 ids, enum names or numbers, int64 strings."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /pay") as root:
        root.set_attributes(
            {
                "http.status_code": 500,
                "retry": True,
                "ratio": 0.5,
                "tags": ["a", "b"],
                "db.statement": "SELECT 1 -- password=swordfish",
            }
        )
        with tracer.start_as_current_span("charge card") as child:
            child.add_event("retry", {"attempt": 2})
            child.record_exception(TimeoutError("card service timed out"))
            child.set_status(StatusCode.ERROR, "timed out")
    provider.shutdown()
    finished = {s.context.span_id: s for s in exporter.get_finished_spans()}
    request = encode_spans(list(finished.values()))
    for as_json in (MessageToJson(request), MessageToJson(request, use_integers_for_enums=True)):
        assert '"traceId": "' in as_json and "==" in as_json  # base64 ids, as Tempo has them
        spans = {s.span_id: s for s in read(json.loads(as_json))}
        assert len(spans) == 2
        for sdk in finished.values():
            got = spans[f"{sdk.context.span_id:016x}"]
            assert got.trace_id == f"{sdk.context.trace_id:032x}"
            assert got.name == sdk.name and got.service == "checkout"
            assert (got.start_ns, got.end_ns) == (sdk.start_time, sdk.end_time)
            assert got.parent_id == (f"{sdk.parent.span_id:016x}" if sdk.parent else None)
            assert [e.name for e in got.events] == [e.name for e in sdk.events]
            assert [e.ts_ns for e in got.events] == [e.timestamp for e in sdk.events]
        pay = next(s for s in spans.values() if s.name == "POST /pay")
        card = next(s for s in spans.values() if s.name == "charge card")
        assert dict(pay.attributes) == {
            "http.status_code": "500",
            "retry": "true",
            "ratio": "0.5",
            "tags": '["a", "b"]',
            "db.statement": "SELECT 1 -- password=[REDACTED]",
        }
        assert card.status == "error" and pay.status == "unset"
        retry, exception = card.events
        assert retry.attributes == (("attempt", "2"),)
        assert dict(exception.attributes)["exception.type"] == "TimeoutError"


def test_values_are_redacted_whole_then_cut() -> None:
    secret = "AKIAIOSFODNN7EXAMPLE"
    long_value = "x" * (MAX_VALUE_CHARS - 10) + " " + secret  # the key straddles the cut
    scrub = Scrub(("sk_live_[0-9a-z]+",))
    span = otlp_span(1, 2, None, NOW_NS, long=long_value, note="pay sk_live_abc123 now")
    span["name"] = "token=abc123def"
    span["events"] = [
        {
            "timeUnixNano": str(NOW_NS),
            "name": f"leaked {secret}",
            "attributes": [kv("password", "hunter2"), kv("q", "Bearer abcdefghijk")],
        }
    ]
    (got,) = read(otlp_document([span]), scrub)
    text = repr(got)
    for leaked in ("AKIA", "sk_live_abc", "abc123def", "hunter2", "abcdefghijk"):
        assert leaked not in text
    attrs = dict(got.attributes)
    assert len(attrs["long"]) == MAX_VALUE_CHARS and attrs["long"].endswith("…")
    assert attrs["note"] == "pay [REDACTED] now" and got.name == "token=[REDACTED]"
    assert got.events[0].attributes == (("password", "[REDACTED]"), ("q", "Bearer [REDACTED]"))


# --- Files in every layout, bad parts ---------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "traces"


def sdk_documents() -> list[dict]:
    """Return three OTLP JSON documents written by the OpenTelemetry SDK's own encoder."""
    docs = []
    for n in range(3):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": f"svc{n}"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span(f"GET /{n}") as root:
            root.set_attribute("http.status_code", 200 + n)
            for step in ("collect", "render", "write"):
                with tracer.start_as_current_span(step):
                    pass
        provider.shutdown()
        docs.append(json.loads(MessageToJson(encode_spans(exporter.get_finished_spans()))))
    return docs


def spans_in(docs: list[dict]) -> set[Span]:
    """Return every span of OTLP documents, read one by one."""
    return {s for doc in docs for s in read(doc)}


def collect_files(cfg: Config, *patterns: str, previous=None):
    return traces.collect(replace(context(with_traces(cfg, otlp_json=patterns)), previous=previous))


def own_spans_only(cfg: Config) -> None:
    """Make sure no own spans file is read beside the test's files."""
    (cfg.site.state_dir / "spans.jsonl").unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("lines.json", lambda docs: "".join(json.dumps(d) + "\n" for d in docs).encode()),
        ("lines.jsonl", lambda docs: "\n".join(json.dumps(d) for d in docs).encode()),
        ("pretty.json", lambda docs: json.dumps(docs[0], indent=2).encode()),
        ("row.json", lambda docs: "\n".join(json.dumps(d, indent=2) for d in docs).encode()),
        ("tabs.json", lambda docs: "".join(json.dumps(d, indent="\t") for d in docs).encode()),
        ("lines.json.gz", lambda docs: gzip.compress("\n".join(map(json.dumps, docs)).encode())),
        (
            "members.json.gz",  # gzip members appended one after another, as `gzip >>` does
            lambda docs: b"".join(gzip.compress(json.dumps(d, indent=2).encode()) for d in docs),
        ),
    ],
)
def test_files_of_every_layout_round_trip_every_span(cfg: Config, name: str, layout) -> None:
    own_spans_only(cfg)
    docs = sdk_documents()
    data = layout(docs)
    (cfg.site.state_dir.parent / name).write_bytes(data)
    part = collect_files(cfg, str(cfg.site.state_dir.parent / name))
    # Every span whole (ids, names, services, times, parents, status, attributes, events),
    # as the same documents read one by one give them.
    got = {s for t in part.traces for s in t.spans}
    expected = spans_in(docs if name != "pretty.json" else docs[:1])
    assert got == expected and len(got) in (4, 12), (got, part.detail)
    assert not part.problems, part.problems


def test_the_otlp_specs_own_example_is_read(cfg: Config) -> None:
    own_spans_only(cfg)
    # Pretty-printed, with no newline at its end: read at once, not left waiting.
    part = collect_files(cfg, str(FIXTURES / "otlp-spec-example.json"))
    ((span,),) = [t.spans for t in part.traces]
    assert (span.trace_id, span.span_id) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert span.service == "my.service" and span.name == "I'm a server span"
    assert ("my.span.attr", "some value") in span.attributes and not part.problems


def test_a_document_still_being_written_waits_for_its_end(cfg: Config) -> None:
    own_spans_only(cfg)
    first, second, _ = sdk_documents()
    text = json.dumps(first) + "\n" + json.dumps(second, indent=2)
    f = cfg.site.state_dir.parent / "growing.json"
    cut = len(json.dumps(first)) + 1 + len(text[len(json.dumps(first)) + 1 :]) // 2
    f.write_text(text[:cut])
    part = collect_files(cfg, str(f))
    assert {s.service for t in part.traces for s in t.spans} == {"svc0"}
    (waiting,) = part.problems
    assert waiting == f"{f} at byte {len(json.dumps(first)) + 1}: " + (
        "the file ends inside this document: read once it is complete"
    )
    with f.open("a") as out:
        out.write(text[cut:])
    part = collect_files(cfg, str(f), previous=part)  # as collect_all does
    assert {s.service for t in part.traces for s in t.spans} == {"svc0", "svc1"}
    assert not part.problems


def test_an_unreadable_document_is_named_and_costs_only_itself(
    cfg: Config, capsys: pytest.CaptureFixture
) -> None:
    first, second, third = sdk_documents()
    f = cfg.site.state_dir.parent / "broken.json"
    broken = '{"resourceSpans": [{"resource": {,\n'
    text = json.dumps(first, indent=2) + "\n" + broken + json.dumps(second, indent=2) + "\n"
    f.write_bytes(text.encode() + b"\xff\n" + json.dumps(third).encode() + b"\n")
    part = collect_files(cfg, str(f))
    assert {s.service for t in part.traces for s in t.spans} >= {"svc0", "svc1", "svc2"}
    at = len(json.dumps(first, indent=2)) + 1 + broken.index(",")
    assert part.problems == (
        f"{f} at byte {at}: not JSON (Expecting property name enclosed in double quotes)",
        f"{f} at byte {len(text)}: not JSON (Expecting value)",
    )
    assert "2 unreadable documents skipped" not in part.detail  # named, not just counted
    # The position is the file's end (the bad byte counted as one): nothing is read again.
    again = collect_files(cfg, str(f), previous=part)
    assert again.detail.startswith("0 new spans") and not again.problems
    # `sitegen render` says it too, and the traces page names the file, the place and why.
    config = cfg.site.state_dir.parent / "sitegen.toml"
    out = cfg.site.state_dir.parent / "site"
    config.write_text(
        f'[site]\nstate_dir = "{cfg.site.state_dir.parent / "fresh"}"\n'
        f'[traces]\notlp_json = ["{f}"]\n'
    )
    assert main(["render", "--config", str(config), "--out", str(out)]) == 0
    assert f"warning: source traces: {f} at byte {at}: not JSON" in capsys.readouterr().err
    page = (out / "traces" / "index.html").read_text()
    assert f"{f} at byte {at}: not JSON" in page


def test_malformed_resources_and_attributes_cost_only_themselves_across_cycles(
    cfg: Config,
) -> None:
    own_spans_only(cfg)
    bad_service = {"key": "service.name", "value": {"intValue": "12abc"}}
    f = cfg.site.state_dir.parent / "mixed.json"
    ctx = context(with_traces(cfg, otlp_json=(str(f),), max_traces=50))
    sources, last_good = [(traces.NAME, traces.collect)], LastGood(cfg.site.state_dir)
    kept: set[str] = set()
    for cycle in range(2):
        good = otlp_document(otlp_trace(cycle * 10 + 1, 3, NOW_NS + cycle), "good")
        odd = otlp_document(otlp_trace(cycle * 10 + 2, 3, NOW_NS + cycle), "odd")
        odd["resourceSpans"][0]["resource"]["attributes"] = [bad_service]
        odd["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["attributes"].append(
            {"key": "n", "value": {"intValue": "twelve"}}
        )
        both = {"resourceSpans": [*good["resourceSpans"], 7, *odd["resourceSpans"]]}
        with f.open("a") as out:
            out.write(json.dumps(both, indent=2) + "\n")
        got = collect_all(ctx, sources, last_good, TRACER, LOGGER)
        (status,) = got.statuses
        assert status.ok, status.error
        kept |= {f"{cycle * 10 + t:032x}" for t in (1, 2)}
        assert {t.trace_id for t in got.part.traces} == kept  # last cycle's spans too
        assert all(len(t.spans) == 3 for t in got.part.traces)
        services = {t.trace_id: t.root.service for t in got.part.traces}
        assert services[f"{cycle * 10 + 2:032x}"] == "unknown_service"  # never a guess
        assert "1 malformed resources skipped" in status.detail
        assert "2 malformed attributes skipped" in status.detail


def test_a_read_position_moves_only_past_what_was_read(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_spans_only(cfg)
    f = cfg.site.state_dir.parent / "once.json"
    f.write_text(json.dumps(otlp_document(otlp_trace(1, 2, NOW_NS))) + "\n")
    ctx = context(with_traces(cfg, otlp_json=(str(f),)))

    def fail(self, docs) -> None:
        raise MemoryError("the cycle died while reading")

    with monkeypatch.context() as mp:
        mp.setattr(OtlpReader, "add", fail)
        with pytest.raises(MemoryError):
            traces.collect(ctx)
    (trace,) = traces.collect(ctx).traces  # read again: the position had not moved
    assert trace.trace_id == f"{1:032x}" and len(trace.spans) == 2


# --- Jaeger -------------------------------------------------------------------------------


def test_jaeger_answers_become_spans_with_services_parents_errors_and_events() -> None:
    trace = jaeger_trace(7, 11, NOW_US, service="frontend")
    short = dict(trace["spans"][1], traceID=f"{7:016x}")  # a 64-bit id: zeros dropped
    short["tags"] = [*short["tags"], {"key": "otel.status_code", "type": "string", "value": "OK"}]
    short["references"] = [
        {"refType": "FOLLOWS_FROM", "traceID": f"{7:032x}", "spanID": "00000000000000ff"},
        {"refType": "CHILD_OF", "traceID": f"{7:032x}", "spanID": f"{7000:016x}"},
    ]
    trace["spans"][1] = short
    trace["spans"].append({"spanID": "1", "operationName": "no trace id"})
    reader = JaegerReader(Scrub())
    reader.document({"data": [trace, "junk"], "total": 0, "limit": 0, "errors": None})
    parsed = reader.result()
    assert parsed.bad_spans == 2 and len(parsed.spans) == 11
    by_id = {s.span_id: s for s in parsed.spans}
    root, child, failed = by_id[f"{7000:016x}"], by_id[f"{7001:016x}"], by_id[f"{7010:016x}"]
    assert root.parent_id is None and root.service == "frontend" and root.name == "op0"
    assert root.start_ns == NOW_US * 1000 and root.duration_ns == 1_000_000
    assert child.trace_id == root.trace_id and child.parent_id == root.span_id
    assert child.status == "ok" and root.status == "unset" and failed.status == "error"
    (event,) = failed.events
    assert event.name == "exception" and event.ts_ns == (NOW_US + 15) * 1000
    assert event.attributes == (("exception.type", "TimeoutError"),)
    assert ("http.status_code", "200") in root.attributes


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short request timeouts and backoff, so fault tests take a second, not a minute."""
    # Long enough for every answer the stand-in gives at once: it answers from threads of
    # this process, which a loaded machine may stall for a few tenths of a second.
    monkeypatch.setattr(httpapi, "REQUEST_TIMEOUT_SECONDS", 2.0)
    monkeypatch.setattr(retry, "BACKOFF_SECONDS", 0.01)


def test_jaeger_source_asks_every_listed_service_and_retries_a_5xx(cfg: Config, fast) -> None:
    with StandIn() as api:
        api.answer("/api/services", (503, b"upstream busy"), (200, {"data": ["web", "db"]}))
        api.answer(
            "/api/traces",
            (200, {"data": [jaeger_trace(1, 3, NOW_US - 10)]}),
            (200, {"data": [jaeger_trace(2, 2, NOW_US)]}),
        )
        cfg = with_traces(cfg, jaeger_url=api.url + "/", lookback_seconds=600, max_traces=5)
        part = jaeger.collect(context(cfg))
    assert api.paths() == ["/api/services", "/api/services", "/api/traces", "/api/traces"]
    asked = sorted(q["service"] for p, q, _ in api.requests if p == "/api/traces")
    assert asked == ["db", "web"]
    _, query, headers = api.requests[-1]
    assert int(query["end"]) - int(query["start"]) == 600 * 1_000_000  # microseconds
    assert query["limit"] == "5" and headers["Accept"] == "application/json"
    assert [len(t.spans) for t in part.traces] == [2, 3]  # newest first
    assert part.error is None and "5 spans of 2 services" in part.detail


def test_jaeger_configured_services_skip_the_listing(cfg: Config, fast) -> None:
    with StandIn() as api:
        api.answer("/api/traces", (200, {"data": [jaeger_trace(1, 1, NOW_US)]}))
        part = jaeger.collect(
            context(with_traces(cfg, jaeger_url=api.url, jaeger_services=("web",)))
        )
    assert api.paths() == ["/api/traces"] and len(part.traces) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((500, b"storage\n down"), "HTTP 500 from {url}/api/traces: storage down"),
        ((404, b"404 page not found"), "HTTP 404 from {url}/api/traces: 404 page not found"),
        ((200, b"<html>proxy login</html>"), "not JSON from {url}/api/traces: <html>"),
        (
            (200, {"data": None, "errors": [{"code": 500, "msg": "db gone"}]}),
            "Jaeger error from {url}/api/traces: db gone",
        ),
        (Slow(1.0, (200, {"data": []})), "timed out after 0.3s asking {url}/api/traces"),
    ],
)
def test_a_failing_jaeger_says_which_url_and_why(
    cfg: Config, fast, monkeypatch: pytest.MonkeyPatch, answer, message
) -> None:
    if isinstance(answer, Slow):  # a timeout is what this case tests: a short one
        monkeypatch.setattr(httpapi, "REQUEST_TIMEOUT_SECONDS", 0.3)
    with StandIn() as api:
        api.answer("/api/traces", answer)
        cfg = with_traces(cfg, jaeger_url=api.url, jaeger_services=("web",))
        start = time.monotonic()
        with pytest.raises(ApiError) as caught:
            jaeger.collect(context(cfg, seconds=5))
        took = time.monotonic() - start
    assert str(caught.value).startswith(message.format(url=api.url))
    assert "\n" not in str(caught.value)
    retried = isinstance(answer, Slow) or answer[0] == 500
    assert len(api.requests) == (retry.ATTEMPTS if retried else 1)
    assert took < 3


def test_retries_never_run_past_the_deadline(cfg: Config, fast) -> None:
    with StandIn() as api:
        # Without the deadline, the first request alone would wait its 2 s timeout.
        api.answer("/api/traces", Slow(5.0, (200, {"data": []})))
        ctx = context(with_traces(cfg, jaeger_url=api.url, jaeger_services=("web",)), seconds=0.5)
        start = time.monotonic()
        with pytest.raises(ApiError):
            jaeger.collect(ctx)
        assert time.monotonic() - start < 1.5


def test_a_failed_api_source_falls_back_to_its_last_good_traces(cfg: Config, fast) -> None:
    with StandIn() as api:
        api.answer("/api/traces", (200, {"data": [jaeger_trace(1, 2, NOW_US)]}), (503, b"down"))
        cfg = with_traces(cfg, jaeger_url=api.url, jaeger_services=("web",))
        ctx, last_good = context(cfg), LastGood(cfg.site.state_dir)
        sources = [(jaeger.NAME, jaeger.collect)]
        first = collect_all(ctx, sources, last_good, TRACER, LOGGER)
        second = collect_all(ctx, sources, last_good, TRACER, LOGGER)
    assert first.statuses[0].ok and len(first.part.traces) == 1
    (status,) = second.statuses
    assert not status.ok and status.stale_since == ctx.now
    assert f"HTTP 503 from {api.url}/api/traces: down" in status.error
    assert second.part.traces == first.part.traces


def test_one_failing_jaeger_service_costs_only_itself(cfg: Config, fast) -> None:
    with StandIn() as api:
        api.answer("/api/traces", (200, {"data": [jaeger_trace(1, 2, NOW_US)]}), (400, b"bad"))
        cfg = with_traces(cfg, jaeger_url=api.url, jaeger_services=("a", "b"))
        # One thread at a time: the first service asked gets the first answer.
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(httpapi, "MAX_PARALLEL", 1)
            part = jaeger.collect(context(cfg))
    assert len(part.traces) == 1 and "1 service failed (first: HTTP 400 from" in part.detail


def test_jaeger_counts_each_span_once_whatever_the_services_asked(cfg: Config, fast) -> None:
    # Jaeger answers a trace for every service in it: ten services, the same 57 spans.
    trace = jaeger_trace(1, 57, NOW_US)
    with StandIn() as api:
        api.answer("/api/traces", (200, {"data": [trace]}))
        services = tuple(f"svc{i}" for i in range(10))
        part = jaeger.collect(
            context(with_traces(cfg, jaeger_url=api.url, jaeger_services=services))
        )
    (got,) = part.traces
    assert len(got.spans) == 57
    assert part.detail.startswith(f"57 spans of 10 services from {api.url}, 1 trace shown")


def test_jaegers_own_fixture_trace_is_read_once_through_every_service(cfg: Config, fast) -> None:
    trace = json.loads((FIXTURES / "jaeger-ui-trace.json").read_text())
    with StandIn() as api:
        api.answer("/api/traces", (200, {"data": [trace], "errors": None}))
        services = ("service-x", "service-y", "frontend")
        part = jaeger.collect(
            context(with_traces(cfg, jaeger_url=api.url, jaeger_services=services))
        )
    (got,) = part.traces
    assert part.detail.startswith("4 spans of 3 services")  # span "2" twice: kept once
    by_id = {s.span_id[-1]: s for s in got.spans}
    assert sorted(by_id) == ["2", "3", "4", "5"] and got.trace_id == f"{1:032x}"
    assert {s.service for s in got.spans} == {"service-x", "service-y"}
    assert by_id["3"].parent_id == by_id["2"].span_id
    assert by_id["5"].parent_id == by_id["4"].span_id
    assert by_id["4"].parent_id == f"{0xFF:016x}"  # its first CHILD_OF, in another trace
    assert [e.name for e in by_id["2"].events] == ["some-event", "log"]
    assert by_id["2"].start_ns == 1485467191639875000 and by_id["5"].duration_ns == 4000


def test_a_malformed_jaeger_trace_costs_only_itself(cfg: Config, fast) -> None:
    odd = jaeger_trace(2, 3, NOW_US)
    odd["processes"] = ["not", "a", "map"]
    odd["spans"][1]["processID"] = ["unhashable"]
    odd["spans"][2]["tags"] = "not a list"
    answer = {"data": [jaeger_trace(1, 3, NOW_US), 42, odd, {"spans": "nope"}]}
    with StandIn() as api:
        api.answer("/api/traces", (200, answer))
        part = jaeger.collect(context(with_traces(cfg, jaeger_url=api.url, jaeger_services=("a",))))
    by_id = {t.trace_id: t for t in part.traces}
    assert len(by_id[f"{1:032x}"].spans) == 3
    assert [s.service for s in by_id[f"{2:032x}"].spans] == ["unknown_service"] * 2
    assert "2 malformed spans skipped" in part.detail


# --- Tempo --------------------------------------------------------------------------------


def tempo_search(*trace_ids: int) -> dict:
    """A /api/search answer; Tempo drops the ids' leading zeros."""
    return {
        "traces": [
            {
                "traceID": f"{t:x}",
                "rootServiceName": "shop",
                "rootTraceName": "op0",
                "startTimeUnixNano": str(NOW_NS + t),
                "durationMs": 1,
            }
            for t in trace_ids
        ],
        "metrics": {"inspectedTraces": len(trace_ids)},
    }


def tempo_trace(trace: int, spans: int = 3, newer: bool = False) -> dict:
    """A /api/traces/<id> answer: base64 ids under "batches" (older Tempo) or hex ones."""
    doc = otlp_document(otlp_trace(trace, spans, NOW_NS + trace))
    return {"trace": doc} if newer else {"batches": to_base64(doc)["resourceSpans"]}


def test_tempo_fetches_each_trace_once_and_keeps_it(cfg: Config, fast) -> None:
    with StandIn() as api:
        api.answer("/api/search", (200, tempo_search(1, 2, 3)), (200, tempo_search(1, 2, 3, 4)))
        api.answer(f"/api/traces/{1:032x}", (200, tempo_trace(1)))
        api.answer(f"/api/traces/{2:032x}", (200, tempo_trace(2, newer=True)))
        api.answer(f"/api/traces/{4:032x}", (200, tempo_trace(4)))  # 3 is not found (404)
        cfg = with_traces(
            cfg,
            tempo_url=api.url,
            tempo_query="{ status = error }",
            lookback_seconds=300,
            max_traces=10,
        )
        ctx = context(cfg)
        first = tempo.collect(ctx)
        fetched = [p for p in api.paths() if p.startswith("/api/traces/")]
        second = tempo.collect(dataclasses.replace(ctx, previous=first))  # as collect_all does
    path, query, headers = api.requests[0]
    assert path == "/api/search" and query["q"] == "{ status = error }"
    assert int(query["end"]) - int(query["start"]) in (300, 301) and query["limit"] == "10"
    assert headers["Accept"] == "application/json"
    assert sorted(fetched) == [f"/api/traces/{t:032x}" for t in (1, 2, 3)]
    assert [t.trace_id for t in first.traces] == [f"{2:032x}", f"{1:032x}"]
    assert "3 traces found" in first.detail and "1 not found" in first.detail
    refetched = [p for p in api.paths()[len(fetched) + 1 :] if p.startswith("/api/traces/")]
    assert sorted(refetched) == [f"/api/traces/{t:032x}" for t in (3, 4)]  # never 1 or 2 again
    assert [t.trace_id for t in second.traces] == [f"{t:032x}" for t in (4, 2, 1)]
    assert all(len(t.spans) == 3 for t in second.traces)


def test_tempo_fetches_a_bounded_number_of_traces_per_cycle(
    cfg: Config, fast, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempo, "MAX_FETCHES", 2)
    with StandIn() as api:
        api.answer("/api/search", (200, tempo_search(*range(1, 6))))
        for t in range(1, 6):
            api.answer(f"/api/traces/{t:032x}", (200, tempo_trace(t)))
        part = tempo.collect(context(with_traces(cfg, tempo_url=api.url)))
    assert [t.trace_id for t in part.traces] == [f"{5:032x}", f"{4:032x}"]  # the newest
    assert "3 left for the next cycle" in part.detail


def test_one_bad_tempo_trace_of_five_costs_only_itself(cfg: Config, fast) -> None:
    with StandIn() as api:
        api.answer("/api/search", (200, tempo_search(*range(1, 6))))
        for t in range(1, 6):
            api.answer(f"/api/traces/{t:032x}", (200, tempo_trace(t, newer=t % 2 == 0)))
        odd = tempo_trace(3)
        odd["batches"][0]["resource"]["attributes"] = [
            {"key": "service.name", "value": {"intValue": "12abc"}}
        ]
        odd["batches"].append({"resource": None, "scopeSpans": [{"spans": "x"}]})
        api.answer(f"/api/traces/{3:032x}", (200, odd))
        api.answer(f"/api/traces/{4:032x}", (200, {"batches": ["not a resource"]}))
        part = tempo.collect(context(with_traces(cfg, tempo_url=api.url)))
    by_id = {t.trace_id: t for t in part.traces}
    assert sorted(by_id) == [f"{t:032x}" for t in (1, 2, 3, 5)]
    assert all(len(t.spans) == 3 for t in part.traces)
    assert {s.service for s in by_id[f"{3:032x}"].spans} == {"unknown_service"}
    assert "1 malformed resources skipped" in part.detail
    assert "1 malformed attributes skipped" in part.detail


@pytest.mark.parametrize(
    ("search", "trace", "message"),
    [
        ((503, b"overloaded"), None, "HTTP 503 from {url}/api/search: overloaded"),
        ((200, b"{not json"), None, "not JSON from {url}/api/search"),
        ((200, {"status": "ok"}), None, "unexpected answer from {url}/api/search"),
        ((200, tempo_search(1)), (500, b"querier"), "HTTP 500 from {url}/api/traces/"),
        ((200, tempo_search(1)), (200, b"[]"), "unexpected answer from {url}/api/traces/"),
    ],
)
def test_a_failing_tempo_says_which_url_and_why(cfg: Config, fast, search, trace, message) -> None:
    with StandIn() as api:
        api.answer("/api/search", search)
        if trace:
            api.answer(f"/api/traces/{1:032x}", trace)
        with pytest.raises(ApiError, match="^" + message.format(url=api.url)):
            tempo.collect(context(with_traces(cfg, tempo_url=api.url)))


# --- Merging, redaction on the site, bounds -----------------------------------------------


def test_one_trace_from_several_sources_is_one_trace(cfg: Config) -> None:
    def spans(*ids: int) -> tuple:
        return tuple(
            Span(
                f"{1:032x}",
                f"{i:016x}",
                None if i == 1 else f"{1:016x}",
                f"s{i}",
                "svc",
                NOW_NS + i,
                NOW_NS + 10,
            )
            for i in ids
        )

    from sitegen.model import Trace

    def source(*ids: int):
        return lambda ctx: Part(traces=(Trace(f"{1:032x}", spans(*ids)),))

    ctx = context(with_traces(cfg, max_traces=5))
    got = collect_all(
        ctx,
        [("file", source(1, 2)), ("jaeger", source(2, 3))],
        LastGood(cfg.site.state_dir),
        TRACER,
        LOGGER,
    )
    (trace,) = got.part.traces
    assert [s.name for s in trace.spans] == ["s1", "s2", "s3"] and trace.root.name == "s1"


def test_secrets_in_spans_never_reach_the_site(tmp_path: Path, fast) -> None:
    secrets = [
        "AKIAIOSFODNN7EXAMPLE",
        "hunter2",
        "s3cr3t-t0ken",
        "sk_live_51Habc",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
        "swordfish",
        "opensesame",
        "Zm9vYmFyYmF6cXV4",
    ]
    span = otlp_span(
        0xABC,
        1,
        None,
        NOW_NS,
        http_url="https://admin:hunter2@db.internal/x?token=s3cr3t-t0ken",
        db_statement="UPDATE users SET password='swordfish'",
    )
    span["name"] = "charge sk_live_51Habc"
    span["events"] = [
        {
            "timeUnixNano": str(NOW_NS),
            "name": "key AKIAIOSFODNN7EXAMPLE",
            "attributes": [kv("authorization", "Basic Zm9vYmFyYmF6cXV4"), kv("jwt", secrets[4])],
        }
    ]
    (tmp_path / "otel.json").write_text(json.dumps(otlp_document([span], "pay")) + "\n")
    jaeger_answer = jaeger_trace(0xDEF, 2, NOW_US, service="ledger")
    jaeger_answer["spans"][1]["operationName"] = "login password=opensesame"
    with StandIn() as api:
        api.answer("/api/traces", (200, {"data": [jaeger_answer]}))
        api.answer("/api/search", (200, tempo_search(0x123)))
        answer = tempo_trace(0x123)
        answer["batches"][0]["scopeSpans"][0]["spans"][0]["name"] = "GET ?api_key=s3cr3t-t0ken"
        api.answer(f"/api/traces/{0x123:032x}", (200, answer))
        (tmp_path / "sitegen.toml").write_text(f"""
[site]
out_dir = "public"
state_dir = "state"
workers = 1
[traces]
otlp_json = ["{tmp_path}/*.json"]
jaeger_url = "{api.url}"
jaeger_services = ["ledger"]
tempo_url = "{api.url}"
[redact]
patterns = ["sk_live_[0-9A-Za-z]+"]
""")
        assert main(["render", "--config", str(tmp_path / "sitegen.toml"), "--quiet"]) == 0
    site = (tmp_path / "public").resolve()
    pages = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    everything = b"\n".join(pages.values())
    # The traces are on the site (so the test can fail), and their secrets are not.
    for trace_id in (0xABC, 0xDEF, 0x123):
        assert (site / "traces" / f"{trace_id:032x}.html").is_file()
    assert b"charge [REDACTED]" in everything and b"login password=[REDACTED]" in everything
    for secret in secrets:
        assert secret.encode() not in everything, secret
    # Nor anywhere in what sitegen keeps between cycles.
    for cache in (tmp_path / "state" / "cache").glob("*.pickle"):
        assert not any(s.encode() in cache.read_bytes() for s in secrets), cache


def write_spans(path: Path, traces: range, spans_per_trace: int, per_line: int) -> int:
    """Write the traces as OTLP JSON lines of `per_line` traces each; return the file's size."""
    with path.open("w") as f:
        for i in range(0, len(traces), per_line):
            batch = [
                s
                for t in traces[i : i + per_line]
                for s in otlp_trace(t, spans_per_trace, NOW_NS + t * 10**6)
            ]
            f.write(json.dumps(otlp_document(batch)) + "\n")
    return path.stat().st_size


def test_a_100000_span_file_keeps_a_cycle_bounded_in_time_and_memory(cfg: Config) -> None:
    f = cfg.site.state_dir.parent / "big.json"
    size = write_spans(f, range(1, 4001), 25, per_line=10)  # 100,000 spans
    cfg = with_traces(cfg, otlp_json=(str(f),))
    tracemalloc.start()
    start = time.perf_counter()
    part = traces.collect(context(cfg))
    took = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert size > 30 * 1024 * 1024 and peak < 16 * 1024 * 1024, (size, peak)
    assert took < 10, took  # traced memory makes it slower; the real cost follows
    assert "bytes skipped to keep up" in part.detail and len(part.traces) == 50
    with f.open("a") as out:  # the next cycle: one trace of 2,000 spans on one line
        out.write(json.dumps(otlp_document(otlp_trace(9999, 2000, NOW_NS + 10**12))) + "\n")
    start = time.perf_counter()
    part = traces.collect(dataclasses.replace(context(cfg), previous=part))
    assert time.perf_counter() - start < 2
    assert part.traces[0].trace_id == f"{9999:032x}"
    assert len(part.traces[0].spans) == MAX_SPANS_PER_TRACE and len(part.traces) == 50
    assert "1000 spans over 1000 per trace left out of 1 traces" in part.detail


def test_a_huge_line_is_skipped_and_a_huge_value_cut(cfg: Config) -> None:
    f = cfg.site.state_dir.parent / "huge.json"
    # One 8 MB line (20,000 spans): more than a cycle reads of a file, so it is skipped.
    f.write_text(json.dumps(otlp_document(otlp_trace(1, 20_000, NOW_NS))) + "\n")
    cfg = with_traces(cfg, otlp_json=(str(f),))
    start = time.perf_counter()
    part = traces.collect(context(cfg))
    assert time.perf_counter() - start < 2
    assert "bytes skipped to keep up" in part.detail and not part.traces
    with f.open("a") as out:  # a 900 kB attribute value fits in a cycle: read, then cut
        out.write(json.dumps(otlp_document([otlp_span(2, 1, None, NOW_NS, blob="x" * 900_000)])))
        out.write("\n")
    (trace,) = traces.collect(context(cfg)).traces
    assert len(dict(trace.spans[0].attributes)["blob"]) == MAX_VALUE_CHARS


def test_reading_stops_at_the_cycle_deadline(cfg: Config) -> None:
    f = cfg.site.state_dir.parent / "late.json"
    write_spans(f, range(1, 101), 10, per_line=10)
    # Less time left than assembling takes: nothing is read, and the page says why.
    part = traces.collect(context(with_traces(cfg, otlp_json=(str(f),)), seconds=0.4))
    assert not part.traces
    assert part.detail.endswith("stopped at the cycle's deadline after 0 new spans")
    # What was not read waits: the next cycle, with time, reads it all.
    part = traces.collect(context(with_traces(cfg, otlp_json=(str(f),))))
    assert part.detail.startswith("1,000 new spans from 1 file, 50 traces shown")


def test_many_files_stop_at_the_span_budget_newest_first(cfg: Config) -> None:
    files = cfg.site.state_dir.parent / "many"
    files.mkdir()
    for i in range(30):  # 30 files x 120 traces x 10 spans = 36,000 spans, each file < 1 MiB
        write_spans(files / f"{i:02d}.json", range(i * 120 + 1, i * 120 + 121), 10, 12)
    cfg = with_traces(cfg, otlp_json=(str(files / "*.json"),), max_traces=10_000)
    start = time.perf_counter()
    part = traces.collect(context(cfg))
    assert time.perf_counter() - start < 5
    assert sum(len(t.spans) for t in part.traces) == MAX_NEW_SPANS
    assert f"stopped at the cycle's budget of {MAX_NEW_SPANS} new spans" in part.detail
    assert "older documents left out" in part.detail


def test_one_huge_trace_is_cut_and_what_is_kept_stays_bounded(cfg: Config) -> None:
    huge = otlp_trace(1, 5000, NOW_NS)
    doc = otlp_document(huge)
    built = assemble(read(doc), 10)
    (trace,) = built.traces
    assert len(trace.spans) == MAX_SPANS_PER_TRACE and trace.root.parent_id is None
    assert sum(s.status == "error" for s in trace.spans) == 499  # errors are kept first
    assert "4000 spans over 1000 per trace left out of 1 traces" in built.note()
    # Across cycles: the kept spans never pass MAX_KEPT_SPANS, however many traces arrive.
    kept: list[Span] = []
    for cycle in range(6):
        new = read(
            otlp_document(
                [s for t in range(10) for s in otlp_trace(cycle * 100 + t + 2, 900, NOW_NS + cycle)]
            )
        )
        kept = [s for t in assemble([*kept, *new], 10_000).traces for s in t.spans]
        assert len(kept) <= MAX_KEPT_SPANS
    assert len(kept) > MAX_KEPT_SPANS - 900


def _span(trace: int, span: int, start: int, parent: int | None, status: str) -> Span:
    return Span(f"{trace:032x}", f"{span:016x}", None if parent is None else f"{parent:016x}",
                f"op {span}", "svc", start, start + 5, status)  # fmt: skip


spans_strategy = st.lists(
    st.builds(
        _span,
        st.integers(0, 5),
        st.integers(0, 12),
        st.integers(0, 40),
        st.none() | st.integers(0, 12),
        st.sampled_from(["ok", "error", "unset"]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(spans_strategy, spans_strategy, spans_strategy, st.integers(1, 6), st.integers(3, 60))
def test_merging_into_kept_traces_is_assembling_their_spans_anew(
    first: list[Span], second: list[Span], new: list[Span], limit: int, budget: int
) -> None:
    # What two sources kept (a trace may be in both), then a cycle's new spans: merged into
    # the kept traces, the result is what assembling every span from scratch gives.
    kept = [t for part in (first, second) for t in assemble(part, limit, budget).traces]
    everything = [s for t in kept for s in t.spans] + new
    anew, merged = assemble(everything, limit, budget), assemble(new, limit, budget, kept=kept)
    assert merged == anew
    # A kept trace nothing was added to is the same object, with its cached bounds.
    touched = {s.trace_id for s in new} | {
        t.trace_id for t in kept if sum(k.trace_id == t.trace_id for k in kept) > 1
    }
    for trace in merged.traces:
        if trace.trace_id not in touched:
            assert any(trace is k for k in kept)


# --- The traces pages and their JSON twin ----------------------------------------------------


def test_traces_are_listed_newest_first_with_their_year_a_service_key_and_a_json_twin(
    tmp_path: Path,
) -> None:
    old_ns = 1_500_000_000 * 10**9  # 2017-07-14: shown with its year, never as current
    docs = [
        otlp_document(otlp_trace(2, 3, NOW_NS - 3600 * 10**9), "cart"),
        otlp_document(otlp_trace(1, 2, old_ns), "legacy"),
        otlp_document(otlp_trace(3, 4, NOW_NS), "shop"),
    ]
    checkout = otlp_document(otlp_trace(3, 4, NOW_NS), "payments")["resourceSpans"][0]
    checkout["scopeSpans"][0]["spans"] = [otlp_span(3, 9, 3000, NOW_NS + 10, http_method="POST")]
    docs[2]["resourceSpans"].append(checkout)
    (tmp_path / "otel.json").write_text("\n".join(json.dumps(d, indent=2) for d in docs))
    (tmp_path / "sitegen.toml").write_text(
        f'[site]\nout_dir = "{tmp_path}/public"\nstate_dir = "{tmp_path}/state"\nworkers = 1\n'
        f'[traces]\notlp_json = ["{tmp_path}/otel.json"]\n'
    )
    for _ in range(2):  # the second cycle also lists the first cycle's own trace
        assert main(["render", "-q", "--config", str(tmp_path / "sitegen.toml")]) == 0
    public = tmp_path / "public"
    listing = (public / "traces" / "index.html").read_text()
    rows = re.findall(r'<a href="\.\./(traces/[0-9a-f]+\.html)">', listing)
    mine = [f"traces/{t:032x}.html" for t in (3, 2, 1)]
    assert [r for r in rows if r in mine] == mine  # newest first, not in file order
    assert "2017-07-14 02:40:00" in listing
    twin = json.loads((public / "data" / "traces.json").read_text())
    listed = twin["traces"]
    assert [t["start"] for t in listed] == sorted((t["start"] for t in listed), reverse=True)
    assert len(listed) == len(rows)
    (shop,) = [t for t in listed if t["trace_id"] == f"{3:032x}"]
    assert shop == {
        "trace_id": f"{3:032x}",
        "root": "op4",  # otlp_span names span 3000 "op{3000 % 7}"
        "services": ["payments", "shop"],
        "spans": 5,
        "errors": 0,
        "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW_NS // 10**9)),
        "duration_seconds": 0.001003,
    }
    assert next(t for t in listed if t["trace_id"] == f"{1:032x}")["start"] == (
        "2017-07-14T02:40:00Z"
    )
    page = (public / "traces" / f"{3:032x}.html").read_text()
    key = re.findall(r'<li><span class="sw (svc\d)" aria-hidden="true">(.)</span> (\w+)</li>', page)
    assert key == [("svc0", "●", "payments"), ("svc1", "■", "shop")]
    assert '<g class="svc1' in page and "■ op4" in page  # the key's glyphs are the rows' glyphs
    assert 'tabindex="0" role="region" aria-label="waterfall, scrolls sideways"' in page
    assert 'class="hint' in page


def test_own_span_names_carry_no_ids(tmp_path: Path) -> None:
    (tmp_path / "sitegen.toml").write_text(
        f'[site]\nout_dir = "{tmp_path}/public"\nstate_dir = "{tmp_path}/state"\nworkers = 1\n'
    )
    for _ in range(2):  # the second cycle renders a page for the first cycle's trace
        assert main(["render", "-q", "--config", str(tmp_path / "sitegen.toml")]) == 0
    parsed = parse_lines((tmp_path / "state" / "spans.jsonl").read_bytes().splitlines())
    pages = [s for s in parsed.spans if s.name.startswith("page ")]
    names = {s.name for s in pages}
    assert "page trace" in names and "page panel" in names and "page index" in names
    assert not any(re.search(r"\d", n) and n != "page 404" for n in names), names
    traced = {dict(s.attributes)["page.name"] for s in pages if s.name == "page trace"}
    assert traced and all(re.fullmatch(r"trace [0-9a-f]{8}", n) for n in traced), traced


@pytest.mark.parametrize(
    "part",
    ["{", '{"name": "GET /ca', '{"ok": tr', '{"n": 1.', '{"n": -', '{"name": "\\u00', '{"a": [1,'],
)
def test_a_document_cut_anywhere_waits_and_a_malformed_one_is_skipped(part: str) -> None:
    whole = '{"ok": true, "n": -1.5, "name": "GET /cart \\u00e9", "a": [1, 2]}'
    found = split(whole + "\n" + part)
    assert found.docs == (json.loads(whole),) and not found.bad
    assert found.waiting == found.consumed == len(whole) + 1
    # Once a further document starts on a line of its own, the cut one is malformed.
    found = split(whole + "\n" + part + "\n" + whole)
    assert found.docs == (json.loads(whole),) * 2 and found.waiting is None
    assert len(found.bad) == 1 and found.consumed == len(whole) * 2 + len(part) + 2


def test_spans_already_converted_are_kept_past_the_deadline_and_answers_wait() -> None:
    doc = otlp_document(otlp_trace(1, 3, NOW_NS))
    reader = OtlpReader(Scrub(), deadline=0)  # the deadline long past
    # A file's documents were decoded in time and its position moved past them: kept.
    reader.add([reader.convert(doc)])
    assert len(reader.spans) == 3
    reader.document(otlp_document(otlp_trace(2, 3, NOW_NS)))  # an answer not yet converted
    parsed = reader.result()
    assert len(parsed.spans) == 3 and parsed.late and parsed.unread_docs == 1


def test_a_gzip_member_still_being_written_waits_for_its_end(cfg: Config) -> None:
    own_spans_only(cfg)
    first, second, _ = sdk_documents()
    f = cfg.site.state_dir.parent / "spans.json.gz"
    done = gzip.compress(json.dumps(first).encode() + b"\n")
    writing = gzip.compress(json.dumps(second, indent=2).encode() + b"\n")
    f.write_bytes(done + writing[: len(writing) // 2])  # the second member cut mid-write
    part = collect_files(cfg, str(f))
    assert {s.service for t in part.traces for s in t.spans} == {"svc0"}
    assert len(part.problems) == 1 and "ends inside this document" in part.problems[0]
    f.write_bytes(done + writing)
    part = collect_files(cfg, str(f), previous=part)  # as collect_all does
    assert {s.service for t in part.traces for s in t.spans} == {"svc0", "svc1"}
    assert part.detail.startswith("4 new spans") and not part.problems  # svc0 not read again

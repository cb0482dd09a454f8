"""Trace documents in their published formats, and a loopback stand-in for Jaeger and Tempo.

Jaeger and Tempo cannot run here (no Go toolchain; Tempo is AGPL), so their HTTP query
APIs are played by an http.server on loopback that answers with documents shaped as the
APIs document them (Jaeger's /api/services and /api/traces, Tempo's /api/search and
/api/traces/<id>), and with faults on demand. Used by tests and scripts/bench_traces.py.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass


def kv(key: str, value: object) -> dict:
    """Return an OTLP KeyValue for a Python value."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def otlp_span(trace: int, span: int, parent: int | None, start_ns: int, **attrs: object) -> dict:
    """Return one OTLP JSON span as the Collector's file exporter writes it (hex ids)."""
    item = {
        "traceId": f"{trace:032x}",
        "spanId": f"{span:016x}",
        "name": f"op{span % 7}",
        "kind": 2,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 1_000_000),
        "attributes": [kv(k.replace("_", "."), v) for k, v in attrs.items()],
        "status": {},
    }
    if parent is not None:
        item["parentSpanId"] = f"{parent:016x}"
    return item


def otlp_document(spans: list[dict], service: str = "shop") -> dict:
    """Return an OTLP JSON ``{"resourceSpans": [...]}`` document of one service."""
    resource = {"attributes": [kv("service.name", service)]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}


def otlp_trace(trace: int, spans: int, start_ns: int) -> list[dict]:
    """Return the spans of one synthetic trace: a root and children, with HTTP attributes."""
    out = [otlp_span(trace, trace * 1000, None, start_ns, http_method="GET", http_status_code=200)]
    for i in range(1, spans):
        child = otlp_span(
            trace,
            trace * 1000 + i,
            trace * 1000,
            start_ns + i * 1000,
            http_url=f"https://api.example.com/orders/{trace}/items/{i}",
            db_system="postgresql",
        )
        if i % 10 == 0:
            child["status"] = {"code": "STATUS_CODE_ERROR", "message": "boom"}
            child["events"] = [
                {
                    "timeUnixNano": str(start_ns + i * 1000 + 5),
                    "name": "exception",
                    "attributes": [kv("exception.type", "TimeoutError")],
                }
            ]
        out.append(child)
    return out


def to_base64(doc: dict) -> dict:
    """Return an OTLP JSON document with base64 ids, as protobuf's JSON mapping (Tempo) has."""

    def b64(hex_id: str) -> str:
        return base64.b64encode(bytes.fromhex(hex_id)).decode()

    out = json.loads(json.dumps(doc))
    for rs in out["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = b64(span[key])
    return out


def jaeger_trace(trace: int, spans: int, start_us: int, service: str = "shop") -> dict:
    """Return one trace as Jaeger's /api/traces has it (µs times, tags, logs, processes)."""
    trace_id = f"{trace:032x}"
    items = []
    for i in range(spans):
        tags = [
            {
                "key": "http.url",
                "type": "string",
                "value": f"https://api.example.com/orders/{trace}/{i}",
            },
            {"key": "http.status_code", "type": "int64", "value": 200},
        ]
        item = {
            "traceID": trace_id,
            "spanID": f"{trace * 1000 + i:016x}",
            "operationName": f"op{i % 7}",
            "references": []
            if i == 0
            else [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": f"{trace * 1000:016x}"}],
            "startTime": start_us + i,
            "duration": 1000,
            "tags": tags,
            "logs": [],
            "processID": "p1",
            "warnings": None,
        }
        if i and i % 10 == 0:
            tags.append({"key": "error", "type": "bool", "value": True})
            item["logs"] = [
                {
                    "timestamp": start_us + i + 5,
                    "fields": [
                        {"key": "event", "type": "string", "value": "exception"},
                        {"key": "exception.type", "type": "string", "value": "TimeoutError"},
                    ],
                }
            ]
        items.append(item)
    processes = {"p1": {"serviceName": service, "tags": []}}
    return {"traceID": trace_id, "spans": items, "processes": processes, "warnings": None}


@dataclass(frozen=True)
class Slow:
    """An answer given only after a pause (a server too slow for the request's timeout)."""

    seconds: float
    answer: tuple[int, object]


class StandIn:
    """A loopback HTTP server answering each path from a list of answers; records requests.

    An answer is (status, body): bytes are sent as they are, anything else as JSON. A
    path's answers are given in turn, the last one again and again; unknown paths get 404.
    """

    def __init__(self) -> None:
        self.routes: dict[str, list] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                answer = stand_in._next(url.path, query, dict(self.headers))
                if isinstance(answer, Slow):
                    time.sleep(answer.seconds)
                    answer = answer.answer
                status, body = answer
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting: that is the test

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _next(self, path: str, query: dict, headers: dict) -> tuple[int, object] | Slow:
        with self._lock:
            self.requests.append((path, query, headers))
            answers = self.routes.get(path)
            if not answers:
                return 404, {"error": f"no route {path}"}
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def answer(self, path: str, *answers: tuple[int, object] | Slow) -> None:
        """Answer `path` with these answers in turn (the last one from then on)."""
        with self._lock:
            self.routes[path] = list(answers)

    def paths(self) -> list[str]:
        """Return the paths asked so far, in order."""
        with self._lock:
            return [p for p, _, _ in self.requests]

    def __enter__(self) -> StandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

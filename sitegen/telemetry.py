"""The program's own telemetry: OpenTelemetry spans and structured JSON logs in state_dir.

Spans are kept by an in-memory exporter and appended once per cycle to ``spans.jsonl`` in
the OTLP JSON shape the OpenTelemetry Collector's file exporter writes, so the traces
source reads sitegen's own spans with the same reader as anybody else's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import StatusCode

from sitegen import __version__
from sitegen.statefiles import naming

SERVICE = "sitegen"
SPANS_FILE = "spans.jsonl"
LOG_FILE = "logs/sitegen.jsonl"
# Own spans and logs are history, not an archive: bounded so state_dir never grows forever.
# The spans file is rotated to SPANS_FILE.1 at this size (so at most twice this is kept).
SPANS_MAX_BYTES = 2 * 1024 * 1024
LOG_MAX_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 3

_STATUS = {StatusCode.OK: "STATUS_CODE_OK", StatusCode.ERROR: "STATUS_CODE_ERROR"}


def page_span(task: str) -> tuple[str, dict[str, str]]:
    """Return the span name of a page task (its kind: "page trace", "page panel") and the
    task's own name as an attribute, so latency groups by kind of page, not one row a page."""
    return f"page {task.partition(' ')[0]}", {"page.name": task}


def _value(value: object) -> dict:
    """Encode an attribute value as an OTLP JSON AnyValue."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attrs: object) -> list[dict]:
    return [{"key": k, "value": _value(v)} for k, v in dict(attrs or {}).items()]


def otlp_json(spans: Sequence[ReadableSpan]) -> dict:
    """Encode finished SDK spans as one OTLP JSON ``{"resourceSpans": [...]}`` document."""
    by_resource: dict[int, tuple[Resource, list[ReadableSpan]]] = {}
    for span in spans:
        by_resource.setdefault(id(span.resource), (span.resource, []))[1].append(span)
    resource_spans = []
    for resource, group in by_resource.values():
        encoded = []
        for s in group:
            ctx = s.context
            item = {
                "traceId": f"{ctx.trace_id:032x}",
                "spanId": f"{ctx.span_id:016x}",
                "name": s.name,
                "kind": int(s.kind.value) + 1,  # the SDK's enum is the OTLP value minus one
                "startTimeUnixNano": str(s.start_time),
                "endTimeUnixNano": str(s.end_time),
                "attributes": _attributes(s.attributes),
                "status": {"code": _STATUS.get(s.status.status_code, "STATUS_CODE_UNSET")},
            }
            if s.status.description:
                item["status"]["message"] = s.status.description
            if s.parent is not None:
                item["parentSpanId"] = f"{s.parent.span_id:016x}"
            if s.events:
                item["events"] = [
                    {
                        "timeUnixNano": str(e.timestamp),
                        "name": e.name,
                        "attributes": _attributes(e.attributes),
                    }
                    for e in s.events
                ]
            encoded.append(item)
        resource_spans.append(
            {
                "resource": {"attributes": _attributes(resource.attributes)},
                "scopeSpans": [{"scope": {"name": SERVICE}, "spans": encoded}],
            }
        )
    return {"resourceSpans": resource_spans}


class _BufferExporter(SpanExporter):
    """Keeps finished spans until the cycle flushes them to the spans file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self._spans.extend(spans)
        return SpanExportResult.SUCCESS

    def take(self) -> list[ReadableSpan]:
        with self._lock:
            spans, self._spans = self._spans, []
        return spans


def rotated(path: Path) -> Path:
    """Return where a rotated file goes: ``NAME.1``, as the log handler names it."""
    return path.with_name(path.name + ".1")


def _rotate(path: Path, max_bytes: int, adding: int) -> None:
    """Move a file to NAME.1 (replacing the older one) when `adding` bytes would pass max_bytes.

    Renamed, never rewritten: a reader following the file by its inode finishes the old one
    where it was and reads the new one from its start, so no span is read twice.
    """
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size + adding > max_bytes:
            os.replace(path, rotated(path))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the current trace and span ids when there is a span."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            out["trace_id"] = f"{ctx.trace_id:032x}"
            out["span_id"] = f"{ctx.span_id:016x}"
        out.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class _StateLog(logging.handlers.RotatingFileHandler):
    """The JSON log in state_dir; while it cannot be written (a full disk), each record goes
    to stderr instead, with a line when that starts and one when it ends."""

    # logging's own handleError printed a traceback of some 35 lines a record: a cycle a
    # second on a full disk wrote hundreds of lines a second to stderr (the journal, under
    # systemd), and its records nowhere.
    failing = False  # the last record could not be written to the file
    _failed = False  # the record being written could not

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)  # calls handleError on failure
        if self.failing and not self._failed:
            self.failing = False
            _say(f"sitegen: writing its log {self.baseFilename} again")

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)
            return
        self._failed = True
        if not self.failing:
            self.failing = True
            _say(f"sitegen: cannot write its log {self.baseFilename} ({exc}); "
                 "its records come here until it can")  # fmt: skip
        # The stream still holds what it could not write, to be written (part of it, out of
        # order) with a later record: closed, it is opened anew for the next one.
        if self.stream is not None:
            with contextlib.suppress(OSError):
                self.stream.close()
            self.stream = None
        _say(self.format(record))

    def _open(self):
        stream = super()._open()
        # Reopened after a failure: a write cut short left a line without its end, which the
        # next record would be glued to, and lost with it.
        if self.failing and stream.tell() and not _ends_a_line(self.baseFilename):
            stream.write("\n")
        return stream


def _ends_a_line(path: str) -> bool:
    """Say whether a file's last byte ends a line."""
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _say(line: str) -> None:
    """Write a line to stderr, if there is one to write to."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class Telemetry:
    """The tracer and logger of one sitegen process, writing into state_dir."""

    def __init__(self, state_dir: Path, hostname: str = "", otlp_endpoint: str = "") -> None:
        self.state_dir = state_dir
        self.spans_path = state_dir / SPANS_FILE
        self.log_path = state_dir / LOG_FILE
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        resource = Resource.create(
            {
                "service.name": SERVICE,
                "service.version": __version__,
                "host.name": hostname,
                "process.pid": os.getpid(),
            }
        )
        self._buffer = _BufferExporter()
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(SimpleSpanProcessor(self._buffer))
        if otlp_endpoint:
            # Batched, in a thread of the SDK's own: a slow or absent collector costs
            # dropped spans, never a slower cycle. Imported here: it costs a tenth of a
            # second to load, and most runs export nowhere.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces", timeout=5)
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer(SERVICE, __version__)
        self.logger = logging.getLogger(SERVICE)
        self.logger.setLevel(logging.INFO)
        self._handler = _StateLog(
            self.log_path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        self._handler.setFormatter(JsonFormatter())
        self.logger.addHandler(self._handler)

    def flush(self) -> int:
        """Append the spans finished since the last flush to the spans file; return how many."""
        spans = self._buffer.take()
        if spans:
            line = json.dumps(otlp_json(spans), separators=(",", ":")) + "\n"
            _rotate(self.spans_path, SPANS_MAX_BYTES, len(line))
            with naming(self.spans_path), self.spans_path.open("a", encoding="utf-8") as f:
                f.write(line)
        return len(spans)

    def close(self) -> None:
        """Flush spans and detach the log handler."""
        self.flush()
        self.provider.shutdown()
        self.logger.removeHandler(self._handler)
        self._handler.close()


def log(logger: logging.Logger, level: int, msg: str, **fields: object) -> None:
    """Log msg with structured fields that the JSON formatter puts beside it."""
    logger.log(level, msg, extra={"fields": fields})

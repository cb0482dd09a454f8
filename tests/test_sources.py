"""Sources: each fails alone and falls back to its last good data; files are followed."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

from sitegen.charts import line_chart
from sitegen.config import Config
from sitegen.history import History
from sitegen.model import Figure, Panel
from sitegen.sources import collect_all, logs, traces
from sitegen.sources.base import MIN_WINDOW_SECONDS, MetricDef, Part, SourceContext, history_part
from sitegen.state import LastGood
from sitegen.tail import Tailer
from sitegen.telemetry import Telemetry
from sitegen.traces.otlp import parse_lines
from sitegen.traces.spans import assemble

TRACER = TracerProvider().get_tracer("test")
LOGGER = logging.getLogger("sitegen.test")


def context(cfg: Config, seconds: float = 5.0) -> SourceContext:
    state = cfg.site.state_dir
    history = History(state, 86400)
    deadline = time.monotonic() + seconds
    return SourceContext(
        cfg=cfg, history=history, state_dir=state, now=time.time(), deadline=deadline
    )


def good(ctx: SourceContext) -> Part:
    return Part(panels=(Panel("p", "q", "", "good", ()),), detail="fine")


def test_a_failing_source_falls_back_to_its_last_good_data(cfg: Config) -> None:
    ctx = context(cfg)
    last_good = LastGood(cfg.site.state_dir)
    first = collect_all(ctx, [("a", good)], last_good, TRACER, LOGGER)
    assert first.statuses[0].ok and first.part.panels[0].stale_since is None

    def broken(ctx: SourceContext) -> Part:
        raise ConnectionRefusedError("connection refused")

    later = collect_all(ctx, [("a", broken), ("b", good)], last_good, TRACER, LOGGER)
    a, b = later.statuses
    assert not a.ok and a.error == "ConnectionRefusedError: connection refused"
    assert a.stale_since == ctx.now
    assert b.ok
    stale = [p for p in later.part.panels if p.stale_since]
    assert len(stale) == 1 and len(later.part.panels) == 2


def test_a_source_gets_its_last_good_part_in_its_context_read_from_disk_once(
    cfg: Config,
) -> None:
    import pickle

    from sitegen.sources import Previous

    seen: list[Part | None] = []

    def remembers(ctx: SourceContext) -> Part:
        seen.append(ctx.previous)
        return Part(figures=(Figure("n", float(len(seen)), "", ()),))

    state = cfg.site.state_dir
    (state / "cache").mkdir(parents=True)
    (state / "cache" / "a.pickle").write_bytes(pickle.dumps(5))  # parses, wrong shape
    memory = Previous(LastGood(state))
    collect_all(context(cfg), [("a", remembers)], memory, TRACER, LOGGER)
    assert seen == [None]
    moved = set((state / "cache").glob("a.pickle.corrupt-*"))  # the 5, moved aside
    (state / "cache" / "a.pickle").write_bytes(b"not read again: held in memory")
    collect_all(context(cfg), [("a", remembers)], memory, TRACER, LOGGER)
    assert seen[1].figures[0].value == 1.0
    assert set((state / "cache").glob("a.pickle.corrupt-*")) == moved  # the file was not read
    # A new process reads what the last one saved: at the latest, at its exit.
    memory.flush()
    collect_all(context(cfg), [("a", remembers)], Previous(LastGood(state)), TRACER, LOGGER)
    assert seen[2].figures[0].value == 2.0


def test_last_good_parts_are_written_once_a_period_and_at_exit(tmp_path: Path) -> None:
    from sitegen.sources import SAVE_SECONDS, Previous

    written: list[tuple[str, float]] = []

    class Disk(LastGood):
        def save(self, name: str, value: object) -> None:
            written.append((name, value[0]))
            super().save(name, value)

    now = [0.0]
    memory = Previous(Disk(tmp_path), clock=lambda: now[0])
    for cycle in range(10):  # ten cycles a second apart: the first is written at once
        now[0] = float(cycle)
        memory.save("a", (float(cycle), Part()))
    assert written == [("a", 0.0)] and memory.load("a")[0] == 9.0  # the newest, in memory
    now[0] = SAVE_SECONDS
    memory.save("a", (SAVE_SECONDS, Part()))
    memory.save("b", (SAVE_SECONDS, Part()))  # another source's first: at once
    assert written[1:] == [("a", SAVE_SECONDS), ("b", SAVE_SECONDS)]
    now[0] += 1
    memory.save("a", (now[0], Part()))
    memory.flush()  # at exit: only what is not on disk yet
    memory.flush()
    assert written[3:] == [("a", now[0])]
    assert LastGood(tmp_path).load("a")[0] == now[0]


def test_a_hanging_source_cannot_hold_the_cycle(cfg: Config) -> None:
    def hangs(ctx: SourceContext) -> Part:
        time.sleep(3)
        return Part()

    start = time.monotonic()
    got = collect_all(
        context(cfg, seconds=0.5),
        [("slow", hangs), ("ok", good)],
        LastGood(cfg.site.state_dir),
        TRACER,
        LOGGER,
    )
    assert time.monotonic() - start < 2
    assert [s.ok for s in got.statuses] == [False, True]
    assert "timed out" in got.statuses[0].error


def test_a_corrupt_cache_is_moved_aside(cfg: Config) -> None:
    last_good = LastGood(cfg.site.state_dir)
    last_good.save("x", (1.0, Part()))
    path = cfg.site.state_dir / "cache" / "x.pickle"
    path.write_bytes(b"garbage")
    assert last_good.load("x") is None
    assert not path.exists()
    assert list(path.parent.glob("x.pickle.corrupt-*"))


def test_files_are_followed_through_appends_truncation_and_rotation(tmp_path: Path) -> None:
    state = tmp_path / "offsets.json"
    log = tmp_path / "app.log"
    log.write_text("a\nb\npartial")

    def read() -> list[str]:
        paths = sorted(tmp_path.glob("app.log*"))
        return [line.decode() for c in Tailer(state).read(paths, 1 << 20) for line in c.lines]

    assert read() == ["a", "b"]  # the unfinished last line waits
    with log.open("a") as f:
        f.write(" line\nc\n")
    assert read() == ["partial line", "c"]
    assert read() == []  # nothing new, nothing again
    log.rename(tmp_path / "app.log.1")  # logrotate: rename, then a new file
    with (tmp_path / "app.log.1").open("a") as f:
        f.write("d\n")  # the writer still had the old file open
    log.write_text("e\n")
    assert sorted(read()) == ["d", "e"]
    log.write_text("f\n")  # truncated and rewritten (copytruncate)
    assert read() == ["f"]


def test_a_backlog_is_skipped_to_its_newest_part(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"{i:09d}\n" for i in range(100_000)))  # 1 MB
    (chunk,) = Tailer(tmp_path / "offsets.json").read([log], 100_000)
    assert chunk.skipped >= 900_000 and chunk.lines[-1] == b"000099999"
    assert len(chunk.lines) <= 10_000


def test_own_spans_round_trip_through_the_otlp_reader(cfg: Config) -> None:
    tel = Telemetry(cfg.site.state_dir, hostname="h")
    with (
        tel.tracer.start_as_current_span("cycle"),
        tel.tracer.start_as_current_span("collect") as span,
    ):
        span.set_attribute("n", 3)
        span.set_attribute("url", "https://bob:hunter2@example.com/x")
        span.add_event("retry", {"attempt": 2})
        span.record_exception(ValueError("boom"))
        span.set_status(StatusCode.ERROR, "boom")
        tel.logger.info("inside")
    assert tel.flush() == 2
    tel.close()
    lines = (cfg.site.state_dir / "spans.jsonl").read_bytes().splitlines()
    parsed = parse_lines(lines)
    assert parsed.bad_docs == 0 and {s.name for s in parsed.spans} == {"cycle", "collect"}
    (trace,) = assemble(parsed.spans, 10).traces
    assert trace.root.name == "cycle" and trace.root.service == "sitegen"
    collect = next(s for s in trace.spans if s.name == "collect")
    assert collect.parent_id == trace.root.span_id and ("n", "3") in collect.attributes
    assert ("url", "https://bob:[REDACTED]@example.com/x") in collect.attributes
    assert collect.status == "error" and trace.root.status == "unset"
    retry, exception = collect.events
    assert retry.name == "retry" and retry.attributes == (("attempt", "2"),)
    assert exception.name == "exception" and ("exception.message", "boom") in exception.attributes
    assert collect.start_ns <= retry.ts_ns <= exception.ts_ns <= collect.end_ns
    # The log line written inside the span carries its trace id.
    log_line = json.loads((cfg.site.state_dir / "logs/sitegen.jsonl").read_text().splitlines()[-1])
    assert log_line["trace_id"] == trace.trace_id and log_line["msg"] == "inside"


def test_traces_source_skips_bad_lines_and_keeps_the_newest(cfg: Config, tmp_path: Path) -> None:
    doc = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": f"{i:032x}",
                                "spanId": f"{i:016x}",
                                "name": f"op{i}",
                                "startTimeUnixNano": str(i * 10**9),
                                "endTimeUnixNano": str(i * 10**9 + 5),
                                "status": {"code": 2 if i == 3 else 0},
                            }
                            for i in range(1, 5)
                        ]
                    }
                ],
            }
        ]
    }
    f = tmp_path / "otel.json"
    f.write_text(json.dumps(doc) + "\nnot json\n")
    cfg = cfg.__class__(**{**cfg.__dict__, "traces": cfg.traces.__class__((str(f),), 2)})
    part = traces.collect(context(cfg))
    assert [t.root.name for t in part.traces] == ["op4", "op3"]
    assert part.traces[1].has_error
    bad_at = len(json.dumps(doc)) + 1
    assert part.problems == (f"{f} at byte {bad_at}: not JSON (Expecting value)",)


def test_history_keeps_points_across_handles_and_drops_old_ones(tmp_path: Path) -> None:
    now = time.time()
    History(tmp_path, 3600).add([("m", (("a", "1"),), now - 7200, 1.0)])
    h = History(tmp_path, 3600)
    h.add([("m", (("a", "1"),), now, 2.0)])
    (series,) = h.series("m", 0)
    assert series.points == ((now, 2.0),)


def test_local_history_charts_span_the_history_and_dot_only_a_short_one(cfg: Config) -> None:
    ctx = context(cfg)
    cpu = MetricDef("CPU", "cpu", "percent")

    def chart(seconds: int) -> tuple[Panel, str]:
        # One sample a second (a 1 s interval) over the last `seconds`.
        ctx.history.add([("cpu", (), ctx.now - seconds + i, float(i % 7)) for i in range(seconds)])
        (panel,) = history_part(ctx, (cpu,), "self").panels
        now = ctx.now
        return panel, str(
            line_chart("CPU", panel.series, "percent", t0=now - panel.range_seconds, t1=now)
        )

    short, svg = chart(60)
    assert short.range_seconds == MIN_WINDOW_SECONDS
    assert "points so far" in svg and 'class="dot"' in svg  # half the range: fitted, dotted
    # Ten minutes of history: the chart spans it all, and reads as the full chart it is.
    full, svg = chart(600)
    assert full.range_seconds == 600
    assert len(full.series[0].points) > 50  # buckets of many samples each
    assert "so far" not in svg and 'class="dot"' not in svg


def test_a_corrupt_history_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "history.sqlite").write_bytes(b"not a database" * 100)
    h = History(tmp_path, 3600)
    h.add([("m", (), time.time(), 1.0)])
    assert len(h.series("m", 0)) == 1
    assert list(tmp_path.glob("history.sqlite.corrupt-*"))


def test_own_spans_are_exported_to_a_collector_over_otlp(cfg: Config) -> None:
    import http.server
    import threading

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[bytes] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert self.path == "/v1/traces"
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        tel = Telemetry(cfg.site.state_dir, hostname="h", otlp_endpoint=url)
        with tel.tracer.start_as_current_span("cycle"):
            pass
        tel.close()  # shutting the provider down flushes the batch
    finally:
        server.shutdown()
    request = ExportTraceServiceRequest.FromString(b"".join(received))
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == ["cycle"]


def test_spans_of_one_trace_arriving_in_two_cycles_come_together(cfg: Config, tmp_path) -> None:
    def doc(span_id: str, parent: str | None, service: str) -> str:
        span = {"traceId": "ab" * 16, "spanId": span_id, "name": span_id,
                "startTimeUnixNano": "1000", "endTimeUnixNano": "2000"}  # fmt: skip
        if parent:
            span["parentSpanId"] = parent
        resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
        scope = {"resource": resource, "scopeSpans": [{"spans": [span]}]}
        return json.dumps({"resourceSpans": [scope]}) + "\n"

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(doc("c" * 16, "d" * 16, "api"))  # the child first: an orphan for now
    cfg = cfg.__class__(
        **{**cfg.__dict__, "traces": cfg.traces.__class__((str(tmp_path / "*.json"),), 10)}
    )
    ctx = context(cfg)
    first = traces.collect(ctx)
    ctx = dataclasses.replace(ctx, previous=first)  # as collect_all does
    (orphan,) = [t for t in first.traces if t.trace_id == "ab" * 16]
    assert len(orphan.spans) == 1
    b.write_text(doc("d" * 16, None, "web"))  # the root arrives later, in another file
    with a.open("a") as f:
        f.write(doc("c" * 16, "d" * 16, "api"))  # and the child again: counted once
    second = traces.collect(ctx)
    (whole,) = [t for t in second.traces if t.trace_id == "ab" * 16]
    assert len(whole.spans) == 2 and whole.root.service == "web"


def test_top_errors_group_alike_messages_and_levels_are_counted_per_cycle(cfg: Config) -> None:
    from sitegen.logs.stats import top_errors
    from sitegen.model import LogRecord

    logs_ = (
        *(
            LogRecord(i, "error", f"timeout after {i} ms to 10.0.0.{i % 3}", "app")
            for i in range(6)
        ),
        LogRecord(9, "error", "disk full", "app"),
        LogRecord(10, "info", "fine", "app"),
    )
    (first, count), second = top_errors(logs_)
    assert count == 6 and first.startswith("timeout after # ms to #") and second == ("disk full", 1)

    ctx = context(cfg)
    log = cfg.site.state_dir / "app.log"
    log.write_text('{"level": "error", "msg": "x"}\n{"level": "info", "msg": "y"}\n')
    found = cfg.__class__(**{**cfg.__dict__, "logs": cfg.logs.__class__((str(log),))})
    part = logs.collect(SourceContext(found, ctx.history, ctx.state_dir, ctx.now, ctx.deadline))
    (panel,) = part.panels
    last = {dict(s.labels)["level"]: s.last for s in panel.series}
    assert last["error"] == 1 and last["info"] >= 1 and last["debug"] == 0

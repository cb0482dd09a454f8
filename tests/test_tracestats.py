"""Latency breakdown, service dependencies and the critical path of traces."""

from __future__ import annotations

from sitegen.charts import depmap
from sitegen.model import Span, Trace
from sitegen.traces.stats import breakdown, critical_path, dependencies, self_time

MS = 1_000_000


def span(sid: str, parent: str | None, svc: str, name: str, a: int, b: int, st: str = "ok"):
    return Span("t" * 32, sid, parent, name, svc, a * MS, b * MS, st)


TRACE = Trace("t" * 32, (
    span("a", None, "frontend", "GET /", 0, 100),
    span("b", "a", "cart", "get", 10, 40),
    span("c", "a", "payments", "charge", 30, 90, "error"),
    span("d", "c", "db", "insert", 35, 60),
))  # fmt: skip


def test_self_time_is_what_children_do_not_cover() -> None:
    kids = [s for s in TRACE.spans if s.parent_id == "a"]
    # Children cover 10..90 (overlapping 30..40 counted once): 80 of 100 ms.
    assert self_time(TRACE.spans[0], kids) == 20 * MS


def test_breakdown_per_service_and_operation() -> None:
    stats = {(s.service, s.operation): s for s in breakdown([TRACE, TRACE])}
    charge = stats[("payments", "charge")]
    assert charge.count == 2 and charge.p50_ns == charge.p99_ns == 60 * MS
    assert charge.self_ns == 35 * MS and charge.errors == 2
    assert next(iter(breakdown([TRACE]))).operation == "GET /"  # slowest first


def test_dependencies_count_calls_and_errors_between_services() -> None:
    edges = {(e.caller, e.callee): (e.calls, e.errors) for e in dependencies([TRACE, TRACE])}
    assert edges == {
        ("frontend", "cart"): (2, 0), ("frontend", "payments"): (2, 2), ("payments", "db"): (2, 0),
    }  # fmt: skip


def test_critical_path_follows_the_child_that_ends_last() -> None:
    assert critical_path(TRACE) == {"a", "c", "d"}


def test_dependency_map_is_deterministic_and_escaped() -> None:
    edges = dependencies([TRACE])
    services = sorted({s.service for s in TRACE.spans})
    svg = str(depmap(services, edges))
    assert svg == str(depmap(services, edges))
    assert svg.count('class="edge') == 3 and 'class="edge err"' in svg and "100% errors" in svg
    evil = str(depmap(["<script>x</script>"], []))
    assert "<script>" not in evil and "&lt;script&gt;" in evil

"""Latency breakdown, service dependencies and the critical path of traces."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen.charts import depmap
from sitegen.model import Span, Trace
from sitegen.traces.stats import (
    Edge,
    OpStats,
    PerTrace,
    breakdown,
    critical_sections,
    dependencies,
    on_path,
    self_time,
)

MS = 1_000_000


def critical_path(trace: Trace) -> frozenset[str]:
    return on_path(critical_sections(trace))


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


def trace_of(*spans: Span) -> Trace:
    return Trace("t" * 32, tuple(sorted(spans, key=lambda s: s.start_ns)))


def test_sequential_children_all_lie_on_the_critical_path_down_to_the_leaves() -> None:
    trace = trace_of(
        span("cycle", None, "sitegen", "cycle", 0, 100),
        span("collect", "cycle", "sitegen", "collect", 0, 29),
        span("source", "collect", "sitegen", "source", 2, 28),
        span("render", "cycle", "sitegen", "render", 30, 69),
        span("page1", "render", "sitegen", "page", 31, 50),
        span("page2", "render", "sitegen", "page", 32, 65),
        span("write", "cycle", "sitegen", "write", 70, 95),
    )
    # page1 ran beside page2 and finished first: render waited for page2, not for it.
    assert critical_path(trace) == {"cycle", "collect", "source", "render", "page2", "write"}
    sections = [(s.span_id, s.start_ns // MS, s.end_ns // MS) for s in critical_sections(trace)]
    assert sections == [
        ("cycle", 95, 100), ("write", 70, 95), ("cycle", 69, 70), ("render", 65, 69),
        ("page2", 32, 65), ("render", 30, 32), ("cycle", 29, 30), ("collect", 28, 29),
        ("source", 2, 28), ("collect", 0, 2),
    ]  # fmt: skip


def test_overlapping_children_only_the_one_finished_before_the_next_started() -> None:
    trace = trace_of(
        span("root", None, "web", "GET /", 0, 100),
        span("long", "root", "db", "scan", 10, 60),  # the longest, but still running at 50
        span("early", "root", "cache", "get", 20, 45),
        span("last", "root", "api", "call", 50, 90),
    )
    assert critical_path(trace) == {"root", "last", "early"}


def test_a_child_outliving_its_parent_is_cut_to_it() -> None:
    trace = trace_of(
        span("root", None, "web", "GET /", 0, 100),
        span("p", "root", "web", "handle", 10, 50),
        span("q", "p", "queue", "publish", 20, 80),  # outlives p: counts only to 50
        span("after", "p", "queue", "ack", 55, 58),  # starts after p ended: not waited for
        span("r", "root", "web", "respond", 60, 70),
    )
    assert critical_path(trace) == {"root", "r", "p", "q"}
    sections = {(s.span_id, s.start_ns // MS, s.end_ns // MS) for s in critical_sections(trace)}
    assert ("q", 20, 50) in sections and ("root", 70, 100) in sections


def test_the_critical_path_of_a_deep_chain_does_not_recurse() -> None:
    chain = [span("s0", None, "x", "op", 0, 200_000)]
    chain += [span(f"s{i}", f"s{i - 1}", "x", "op", i, 200_000 - i) for i in range(1, 50_000)]
    assert len(critical_path(trace_of(*chain))) == 50_000


def test_dependency_map_is_deterministic_and_escaped() -> None:
    edges = dependencies([TRACE])
    services = sorted({s.service for s in TRACE.spans})
    svg = str(depmap(services, edges))
    assert svg == str(depmap(services, edges))
    assert svg.count('class="edge') == 3 and 'class="edge err"' in svg and "100% errors" in svg
    evil = str(depmap(["<script>x</script>"], []))
    assert "<script>" not in evil and "&lt;script&gt;" in evil


def test_breakdown_walks_only_the_traces_new_since_the_last(monkeypatch) -> None:
    from dataclasses import replace

    from sitegen.traces import stats

    other = Trace("o" * 32, tuple(replace(s, trace_id="o" * 32) for s in TRACE.spans))
    first = breakdown([TRACE, other])
    walked: list[str] = []  # the traces whose spans were walked for their part
    real = stats._part

    def counting(trace: Trace) -> tuple:
        walked.append(trace.trace_id)
        return real(trace)

    monkeypatch.setattr(stats, "_part", counting)
    assert breakdown([TRACE, other]) == first and not walked
    late = span("e", "a", "cart", "get", 50, 95)
    grown = Trace(TRACE.trace_id, (*TRACE.spans, late))
    stats_now = {(s.service, s.operation): s for s in breakdown([grown, other])}
    assert walked == [TRACE.trace_id]
    assert stats_now[("cart", "get")].count == 3


def test_breakdown_counts_anew_when_most_traces_came_or_went(monkeypatch) -> None:
    from sitegen.synthetic import Workload, snapshot
    from sitegen.traces import stats

    first, second = (
        snapshot(Workload(panels=1, points=10, traces=40, spans_per_trace=5, log_lines=1),
                 seed=seed).traces
        for seed in (1, 2)
    )  # fmt: skip
    moved: list[int] = []
    real = stats._add_ops
    monkeypatch.setattr(stats, "_add_ops", lambda part, n: moved.append(n) or real(part, n))
    breakdown(first)
    # Every trace replaced: made anew (each operation's values sorted once), not 40 traces
    # taken out value by value and 40 put in.
    assert breakdown(second) == naive_breakdown(list(second)) and not moved
    # One trace replaced of 40: moved by its two parts.
    assert breakdown((*second[:-1], first[0])) == naive_breakdown([*second[:-1], first[0]])
    assert sorted(moved) == [-1, 1]


def naive_breakdown(traces: list[Trace]) -> list[OpStats]:
    """Every span walked again, with the statistics module's quantiles and median."""
    found: dict[tuple[str, str], tuple[list[int], list[int], list[bool]]] = {}
    for t in traces:
        for s in t.spans:
            kids = [c for c in t.spans if c.parent_id == s.span_id]
            d, own, e = found.setdefault((s.service, s.name), ([], [], []))
            d.append(s.duration_ns)
            own.append(self_time(s, kids))
            e.append(s.status == "error")

    def q(values: list[int], p: float) -> int:
        if len(values) == 1:
            return values[0]
        return int(statistics.quantiles(values, n=100, method="inclusive")[round(p * 100) - 1])

    stats = []
    for (svc, op), (d, own, e) in found.items():
        p50, p95, p99 = q(d, 0.5), q(d, 0.95), q(d, 0.99)
        stats.append(OpStats(svc, op, len(d), p50, p95, p99, int(statistics.median(own)), sum(e)))
    return sorted(stats, key=lambda s: (-s.p95_ns, s.service, s.operation))


def naive_dependencies(traces: list[Trace]) -> list[Edge]:
    calls: Counter[tuple[str, str]] = Counter()
    errors: Counter[tuple[str, str]] = Counter()
    for t in traces:
        service_of = {s.span_id: s.service for s in t.spans}
        for s in t.spans:
            caller = service_of.get(s.parent_id or "")
            if caller is not None and caller != s.service:
                calls[caller, s.service] += 1
                errors[caller, s.service] += s.status == "error"
    return [Edge(a, b, calls[a, b], errors[a, b]) for a, b in sorted(calls)]


TRACE_IDS = itertools.count(1)


@st.composite
def trace_states(draw: st.DrawFn) -> list[list[Trace]]:
    """Cycles of traces: some gone, some new, some shown twice, some grown by late spans.

    A trace's spans never change, more may arrive: each id has its spans, and a trace shows
    the first k of them (what tells its states apart: count, bounds and error flag).
    """
    grown: list[list[Trace]] = []
    for _ in range(4):
        # Ids new to this run: the statistics keep traces from call to call, across examples.
        tid, spans = f"{next(TRACE_IDS):032x}", []
        for i in range(draw(st.integers(1, 6))):
            parent = draw(st.sampled_from([None, *(s.span_id for s in spans)]))
            a = draw(st.integers(0, 1000))
            spans.append(Span(tid, f"s{i}", parent, draw(st.sampled_from("ab")),
                              draw(st.sampled_from(("web", "db", "queue"))), a,
                              a + draw(st.integers(0, 500)),
                              draw(st.sampled_from(("ok", "error")))))  # fmt: skip
        grown.append([Trace(tid, tuple(sorted(spans[:k], key=lambda s: s.start_ns)))
                      for k in range(1, len(spans) + 1)])  # fmt: skip
    states = [t for versions in grown for t in versions]
    return draw(st.lists(st.lists(st.sampled_from(states), max_size=8), min_size=1, max_size=4))


@settings(max_examples=200, deadline=None)
@given(trace_states())
def test_breakdown_and_dependencies_kept_from_call_to_call_equal_them_from_scratch(
    cycles: list[list[Trace]],
) -> None:
    for shown in cycles:  # traces coming and going, repeated, grown, as cycles pass
        assert breakdown(shown) == naive_breakdown(shown)
        assert dependencies(shown) == naive_dependencies(shown)


def test_what_the_statistics_keep_per_trace_is_left_alone_by_the_garbage_collector() -> None:
    import gc

    from sitegen.synthetic import Workload, snapshot

    # A part kept per trace in lists and dicts made every full collection walk ~80 objects
    # per trace: at 10,000 traces, 0.4 s. Tuples of numbers and strings are untracked. What
    # is kept per operation (its sorted values) is not per trace: the same for both sizes.
    small, large = (
        snapshot(Workload(panels=1, points=10, traces=n, spans_per_trace=10, log_lines=1)).traces
        for n in (1000, 2000)
    )
    for t in (*small, *large):
        t.state  # noqa: B018 - the trace's own cached bounds are not the statistics' to answer for

    def kept(traces: tuple) -> int:
        breakdown(())
        dependencies(())
        for _ in range(5):  # nested tuples are untracked a level per collection
            gc.collect()
        before = len(gc.get_objects())
        breakdown(traces)
        dependencies(traces)
        for _ in range(5):
            gc.collect()
        return len(gc.get_objects()) - before

    assert kept(large) - kept(small) < (len(large) - len(small)) // 2


class LookedUp(Trace):
    """A trace that says each time its state is asked for."""

    asked: list[str] = []  # noqa: RUF012 - one list for the test that reads it

    @property
    def state(self) -> tuple:  # type: ignore[override]
        LookedUp.asked.append(self.trace_id)
        return super().state


def test_per_trace_derives_for_new_states_and_looks_up_only_new_objects_by_state() -> None:
    from dataclasses import replace

    a = LookedUp(TRACE.trace_id, TRACE.spans)
    b = LookedUp("b" * 32, tuple(replace(s, trace_id="b" * 32) for s in TRACE.spans))
    derived: list[str] = []
    per = PerTrace(lambda t: derived.append(t.trace_id) or {"id": t.trace_id})
    first = per.each([a, b])
    assert derived == [a.trace_id, b.trace_id]
    LookedUp.asked.clear()
    again = per.each([b, a, a])  # the same objects: found by identity, state never asked
    assert again[0] is first[1] and again[1] is again[2] is first[0]
    assert LookedUp.asked == [] and derived == [a.trace_id, b.trace_id]
    rebuilt = LookedUp(a.trace_id, a.spans)  # a new object of the same state
    assert per.each([rebuilt, b])[0] is first[0]
    assert derived == [a.trace_id, b.trace_id]
    assert set(LookedUp.asked) == {a.trace_id}  # the new one and the one it replaced
    late = span("e", "a", "cart", "get", 50, 95)
    grown = LookedUp(a.trace_id, (*a.spans, late))  # a new state: derived anew
    assert per.each([grown, b])[0] == {"id": a.trace_id}
    assert derived == [a.trace_id, b.trace_id, a.trace_id]
    per.each([b, b])  # grown went (b shown twice): what was derived for it is let go
    assert per.each([grown])[0] == {"id": a.trace_id}
    assert derived == [a.trace_id, b.trace_id, a.trace_id, a.trace_id]


def test_the_statistics_tell_the_traces_that_stay_by_identity_not_state() -> None:
    from dataclasses import replace

    a = LookedUp("c" * 32, tuple(replace(s, trace_id="c" * 32) for s in TRACE.spans))
    b = LookedUp("d" * 32, tuple(replace(s, trace_id="d" * 32) for s in TRACE.spans))
    first = breakdown([a, b]), dependencies([a, b])
    LookedUp.asked.clear()
    assert (breakdown([b, a]), dependencies([b, a])) == first
    assert LookedUp.asked == []


def test_a_call_that_fails_part_way_leaves_no_wrong_totals(monkeypatch) -> None:
    from dataclasses import replace

    from sitegen.traces import stats

    other = Trace("o" * 32, tuple(replace(s, trace_id="o" * 32) for s in TRACE.spans))
    breakdown([TRACE])
    real = stats.self_time

    def failing(span: Span, children: list[Span]) -> int:
        if span.trace_id == other.trace_id:
            raise ValueError("a span the statistics cannot read")
        return real(span, children)

    monkeypatch.setattr(stats, "self_time", failing)
    with pytest.raises(ValueError):
        breakdown([other])  # TRACE's part taken away, then other's part fails
    monkeypatch.setattr(stats, "self_time", real)
    assert breakdown([TRACE, other]) == naive_breakdown([TRACE, other])

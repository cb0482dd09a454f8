"""What many traces say together: latency per service and operation, who calls whom."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from sitegen.model import Span, Trace


@dataclass(frozen=True)
class OpStats:
    """Latency of one operation of one service over the traces shown."""

    service: str
    operation: str
    count: int
    p50_ns: int
    p95_ns: int
    p99_ns: int
    self_ns: int  # median time spent in the span itself, not waiting for its children
    errors: int


@dataclass(frozen=True)
class Edge:
    """Calls from one service to another: how many, and how many ended in error."""

    caller: str
    callee: str
    calls: int
    errors: int


def _quantile(values: list[int], q: float) -> int:
    if len(values) == 1:
        return values[0]
    return int(statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1])


def _children(trace: Trace) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = {}
    for span in trace.spans:
        if span.parent_id:
            out.setdefault(span.parent_id, []).append(span)
    return out


def self_time(span: Span, children: list[Span]) -> int:
    """Return the part of a span's time not covered by any of its children."""
    covered, cursor = 0, span.start_ns
    for child in sorted(children, key=lambda c: c.start_ns):
        start, end = max(child.start_ns, cursor), min(child.end_ns, span.end_ns)
        if end > start:
            covered += end - start
            cursor = end
    return max(0, span.duration_ns - covered)


def breakdown(traces: Iterable[Trace]) -> list[OpStats]:
    """Return latency percentiles and self time per (service, operation), slowest first."""
    durations: dict[tuple[str, str], list[int]] = {}
    selves: dict[tuple[str, str], list[int]] = {}
    errors: dict[tuple[str, str], int] = {}
    for trace in traces:
        children = _children(trace)
        for span in trace.spans:
            key = (span.service, span.name)
            durations.setdefault(key, []).append(span.duration_ns)
            selves.setdefault(key, []).append(self_time(span, children.get(span.span_id, [])))
            errors[key] = errors.get(key, 0) + (span.status == "error")
    stats = []
    for (svc, op), found in durations.items():
        d = sorted(found)
        p50, p95, p99 = (_quantile(d, q) for q in (0.5, 0.95, 0.99))
        middle_self = int(statistics.median(selves[(svc, op)]))
        stats.append(OpStats(svc, op, len(d), p50, p95, p99, middle_self, errors[(svc, op)]))
    return sorted(stats, key=lambda s: (-s.p95_ns, s.service, s.operation))


def dependencies(traces: Iterable[Trace]) -> list[Edge]:
    """Return the service-to-service calls: a child span in another service is a call."""
    calls: dict[tuple[str, str], list[int]] = {}
    for trace in traces:
        by_id = {s.span_id: s for s in trace.spans}
        for span in trace.spans:
            parent = by_id.get(span.parent_id or "")
            if parent is not None and parent.service != span.service:
                tally = calls.setdefault((parent.service, span.service), [0, 0])
                tally[0] += 1
                tally[1] += span.status == "error"
    return [Edge(a, b, n, e) for (a, b), (n, e) in sorted(calls.items())]


def critical_path(trace: Trace) -> set[str]:
    """Return the span ids of the critical path: from the root, the child that ends last."""
    children = _children(trace)
    path, span = set(), trace.root
    while True:
        path.add(span.span_id)
        kids = children.get(span.span_id)
        if not kids:
            return path
        span = max(kids, key=lambda c: (c.end_ns, c.span_id))

"""A deterministic synthetic snapshot: the reference workload of the benchmark and the tests.

The default sizes are the reference workload of scripts/bench: 24 panels x 720 points,
200 traces x 25 spans and 10,000 log lines.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sitegen.model import (
    Figure,
    HostInfo,
    LogRecord,
    Panel,
    Series,
    Snapshot,
    SourceStatus,
    Span,
    Trace,
    labels_of,
)

SERVICES = ("frontend", "checkout", "cart", "payments", "inventory", "shipping")
OPERATIONS = ("GET /", "POST /cart", "SELECT orders", "charge", "reserve", "quote", "render")
TRACE_EPOCH = 1_795_300_000.0
UNITS = ("req/s", "seconds", "bytes", "percent", "bytes/s", "")


@dataclass(frozen=True)
class Workload:
    """How big the synthetic snapshot is."""

    panels: int = 24
    points: int = 720
    series_per_panel: int = 3
    traces: int = 200
    spans_per_trace: int = 25
    log_lines: int = 10_000
    step_seconds: float = 30.0


def _panel(rng: random.Random, i: int, w: Workload, now: float) -> Panel:
    unit = UNITS[i % len(UNITS)]
    series = []
    for j in range(w.series_per_panel):
        base, amp = rng.uniform(10, 100), rng.uniform(1, 30)
        points = tuple(
            (
                now - (w.points - k) * w.step_seconds,
                max(0.0, base + amp * math.sin(k / 37 + j) + rng.gauss(0, amp / 5)),
            )
            for k in range(w.points)
        )
        labels = labels_of({"service": SERVICES[j % len(SERVICES)], "instance": f"10.0.0.{j}"})
        series.append(Series(labels=labels, points=points, step=w.step_seconds))
    return Panel(
        title=f"Synthetic panel {i}",
        query=f'sum by (service) (rate(metric_{i}_total{{job="synthetic"}}[5m]))',
        unit=unit,
        source="synthetic",
        series=tuple(series),
        range_seconds=w.points * w.step_seconds,
        kind="area" if i % 4 == 3 else "line",
    )


def _trace(seed: int, i: int, w: Workload) -> Trace:
    # Each trace from its own seed and number: the same i is the same trace in every
    # snapshot, so a sliding window of traces keeps the pages of those it still shows.
    rng = random.Random(seed * 1_000_003 + i)
    trace_id = f"{rng.getrandbits(128):032x}"
    start = int((TRACE_EPOCH + i * 17) * 1e9)
    spans: list[Span] = []
    for k in range(w.spans_per_trace):
        parent = spans[rng.randrange(len(spans))] if spans else None
        s0 = (
            parent.start_ns + rng.randrange(0, max(1, parent.duration_ns // 2)) if parent else start
        )
        limit = parent.end_ns - s0 if parent else 400_000_000
        duration = max(1000, int(limit * rng.uniform(0.1, 0.6)))
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=f"{rng.getrandbits(64):016x}",
                parent_id=parent.span_id if parent else None,
                name=OPERATIONS[(i + k) % len(OPERATIONS)],
                service=SERVICES[k % len(SERVICES)],
                start_ns=s0,
                end_ns=s0 + duration,
                status="error" if rng.random() < 0.02 else "ok",
            )
        )
    return Trace(trace_id=trace_id, spans=tuple(sorted(spans, key=lambda s: s.start_ns)))


def snapshot(
    w: Workload = Workload(), now: float = 1_795_340_562.0, seed: int = 42, first_trace: int = 0
) -> Snapshot:
    """Return a deterministic snapshot of the given size, traces first_trace onwards."""
    rng = random.Random(seed)
    panels = tuple(_panel(rng, i, w, now) for i in range(w.panels))
    traces = tuple(_trace(seed, i, w) for i in range(first_trace, first_trace + w.traces))
    levels = ("debug", "info", "info", "info", "warning", "error")
    logs = tuple(
        LogRecord(
            ts=now - (w.log_lines - k) * 0.5,
            level=levels[k % len(levels)],
            message=f"{OPERATIONS[k % len(OPERATIONS)]} took {rng.uniform(1, 900):.1f} ms",
            source=SERVICES[k % len(SERVICES)],
            trace_id=traces[k % len(traces)].trace_id if traces and k % 10 == 0 else None,
            fields=labels_of({"request_id": f"r{k:06d}"}),
        )
        for k in range(w.log_lines)
    )
    figures = tuple(
        Figure(p.title[:12], p.series[0].last, p.unit, p.series[0].points, step=p.series[0].step)
        for p in panels[:6]
    )
    return Snapshot(
        generated_at=now,
        title="sitegen synthetic",
        base_url="",
        interval_seconds=30,
        host=HostInfo("bench-host", "Linux", "6.1", "x86_64", "3.11", 2, 24 << 30, now - 86400),
        sources=(SourceStatus("synthetic", True, detail="generated"),),
        figures=figures,
        panels=panels,
        traces=traces,
        logs=logs,
        version="bench",
    )

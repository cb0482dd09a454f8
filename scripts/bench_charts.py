"""Benchmark the charts: render time per chart kind, bytes per point, what downsampling keeps.

Run through `scripts/bench --charts`. Every chart is drawn from the synthetic reference data
in this process, RUNS times; medians are printed (times vary between machines, bytes don't).
"""

from __future__ import annotations

import gzip
import math
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sitegen.charts import depmap, gantt, hbars, heatmap, line_chart, sparkline, waterfall
from sitegen.charts.heatmap import buckets
from sitegen.model import Series, Span, TaskRecord, Trace, labels_of
from sitegen.render.environment import bar_items
from sitegen.synthetic import Workload, snapshot
from sitegen.traces.stats import critical_path, dependencies
from sitegen.traces.tree import span_rows

RUNS = 15
NOW = 1_795_340_562.0


def _wave(n: int, span: float, seed: int) -> tuple[tuple[float, float], ...]:
    step = span / n
    return tuple(
        (NOW - span + i * step, 50 + 30 * math.sin(i / (n / 20) + seed) + (i * 7919 + seed) % 13)
        for i in range(n)
    )


def _histogram(n: int) -> list[Series]:
    bounds = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")
    return [
        Series(
            labels_of({"le": le}),
            tuple(
                (NOW - 3600 + i * 3600 / n,
                 sum(10 * math.exp(-((j - 4 - 2 * math.sin(i / 40)) ** 2) / 2)
                     for j in range(k + 1)))
                for i in range(n)
            ),
        )
        for k, le in enumerate(bounds)
    ]  # fmt: skip


def _big_trace(spans: int) -> Trace:
    out = [Span("b" * 32, "root", None, "batch", "jobs", 0, 10**10)]
    for i in range(spans - 1):
        start = i * 10**6
        out.append(Span("b" * 32, f"s{i}", "root", "SELECT", "db", start, start + 500_000))
    return Trace("b" * 32, tuple(out))


def _time(draw: Callable[[], object]) -> tuple[float, str]:
    times, svg = [], ""
    for _ in range(RUNS):
        start = time.perf_counter()
        svg = str(draw())
        times.append(time.perf_counter() - start)
    return statistics.median(times), svg


def _path_points(svg: str) -> int:
    """Count the points the chart's series paths draw (one per coordinate pair)."""
    count = 0
    for d in re.findall(r'<g class="s\d+">(?:<title>[^<]*</title>)?<path d="([^"]+)"', svg):
        count += len(re.findall(r"-?\d+", d)) // 2
    return count


def main(argv: list[str] | None = None) -> None:
    """Print render time and size per chart kind, and bytes per point of line charts."""
    snap = snapshot(Workload(traces=20))
    panel = snap.panels[0]
    trace = snap.traces[0]
    big = _big_trace(10_000)
    tasks = tuple(
        TaskRecord(f"page {i}", 100 + i % 2, i * 3_000_000, i * 3_000_000 + 2_500_000)
        for i in range(230)
    )
    raw = [Series(labels_of({"i": str(j)}), _wave(11_000, 3600, j)) for j in range(3)]
    charts: dict[str, tuple[Callable[[], object], int]] = {
        "line, 3 x 720 points": (
            lambda: line_chart("l", panel.series, panel.unit, t0=NOW - 21600, t1=NOW), 3 * 720),
        "line, 3 x 11,000 points": (
            lambda: line_chart("l", raw, "", t0=NOW - 3600, t1=NOW), 3 * 11_000),
        "area, 3 x 720 points": (
            lambda: line_chart("a", panel.series, "", t0=NOW - 21600, t1=NOW, stacked=True),
            3 * 720),
        "heatmap, 10 buckets x 720": (
            lambda: heatmap("h", buckets(_histogram(720)), "seconds", t0=NOW - 3600, t1=NOW),
            10 * 720),
        "bars, 3 series": (lambda: hbars(panel.title, bar_items(panel.series), panel.unit), 3),
        "sparkline, 720 points": (lambda: sparkline(panel.series[0].points), 720),
        "waterfall, 25 spans": (
            lambda: waterfall(trace, critical=frozenset(critical_path(trace))), 25),
        "waterfall, 10,000 spans folded": (
            lambda: waterfall(big, rows=span_rows(big, keep=frozenset(critical_path(big)))),
            10_000),
        "gantt, 230 tasks": (lambda: gantt(tasks), 230),
        "service map, 20 traces": (
            lambda: depmap([], dependencies(snap.traces)), 20 * 25),
    }  # fmt: skip
    print(f"charts, median of {RUNS} renders each (one process, no pool):")
    print(f"  {'chart':<32} {'time':>9} {'bytes':>8} {'gzipped':>8} {'input':>7} {'B/input':>8}")
    for name, (draw, inputs) in charts.items():
        seconds, svg = _time(draw)
        data = svg.encode()
        gz = len(gzip.compress(data, 6))
        print(
            f"  {name:<32} {seconds * 1000:7.2f}ms {len(data):>8} {gz:>8} {inputs:>7} "
            f"{gz / inputs:>8.2f}"
        )
    print("bytes per point of line charts (the series paths: integer relative coordinates):")
    for name, series, t0 in (
        ("3 x 720", panel.series, NOW - 21600),
        ("3 x 11,000", raw, NOW - 3600),
    ):
        svg = str(line_chart("l", series, "", t0=t0, t1=NOW))
        paths = "".join(
            re.findall(r'<g class="s\d+">(?:<title>[^<]*</title>)?<path d="[^"]+"', svg)
        )
        drawn = _path_points(svg)
        points = sum(len(s.points) for s in series)
        gz = len(gzip.compress(paths.encode(), 6))
        print(
            f"  {name:>10} points in, {drawn} drawn ({drawn / 3:.0f} per series for 566 columns): "
            f"{len(paths) / drawn:.2f} B per drawn point raw, {gz / drawn:.2f} gzipped; "
            f"{gz / points:.3f} gzipped B per input point"
        )  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])

"""Charts: golden SVGs for each kind, plus the behaviours the goldens can't show alone."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from sitegen.charts import (
    depmap,
    downsample,
    gantt,
    hbars,
    heatmap,
    line_chart,
    nice_ticks,
    sparkline,
    waterfall,
)
from sitegen.charts.axes import time_ticks, unit_ticks
from sitegen.charts.heatmap import buckets
from sitegen.charts.line import BOTTOM, TOP
from sitegen.model import Series, Span, TaskRecord, Trace, labels_of
from sitegen.traces.stats import Edge, critical_sections, dependencies, on_path
from sitegen.traces.tree import span_rows

GOLDEN = Path(__file__).parent / "golden" / "charts"
T0 = 1_795_340_400.0


def wave(n: int, step: float = 30.0, phase: float = 0.0) -> tuple[tuple[float, float], ...]:
    return tuple((T0 + i * step, 50 + 40 * math.sin(i / 7 + phase)) for i in range(n))


def trace() -> Trace:
    def span(sid: str, parent: str | None, name: str, svc: str, a: int, b: int, st: str = "ok"):
        return Span("t" * 32, sid, parent, name, svc, 10**18 + a * 10**6, 10**18 + b * 10**6, st)

    return Trace(
        "t" * 32,
        (
            span("a", None, "GET /checkout", "frontend", 0, 120),
            span("b", "a", "POST /cart", "cart", 5, 40),
            span("c", "b", "SELECT cart", "db", 10, 30),
            span("d", "a", "charge", "payments", 45, 110, "error"),
        ),
    )


def fan_out(batches: int = 3, queries: int = 2000) -> Trace:
    """A batch job: a root, `batches` children, each running `queries` queries with a fetch."""
    spans = [Span("f" * 32, "root", None, "nightly job", "jobs", 0, 10**10)]
    for b in range(batches):
        spans.append(Span("f" * 32, f"b{b}", "root", "batch", "jobs", b * 10**9, (b + 3) * 10**9))
        for q in range(queries):
            start = b * 10**9 + q * 10**5
            sid = f"q{b}-{q}"
            status = "error" if q % 500 == 7 else "ok"
            spans.append(
                Span("f" * 32, sid, f"b{b}", "SELECT", "db", start, start + 90_000, status)
            )
            spans.append(Span("f" * 32, f"{sid}f", sid, "fetch", "db", start, start + 10_000))
    return Trace("f" * 32, tuple(sorted(spans, key=lambda s: s.start_ns)))


BOUNDS = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")


def histogram(n: int = 120) -> list[Series]:
    """Cumulative bucket rates of a latency histogram whose middle shifts over time."""
    out = []
    for k, le in enumerate(BOUNDS):
        points = tuple(
            (T0 + i * 30, sum(10 * math.exp(-((j - 2 - i / 60) ** 2)) for j in range(k + 1)))
            for i in range(n)
        )
        out.append(Series(labels_of({"le": le}), points))
    return out


TASKS = tuple(
    TaskRecord(f"page {i}", 100 + i % 2, 10**9 + i * 3_000_000, 10**9 + i * 3_000_000 + 2_500_000)
    for i in range(8)
)

CHARTS = {
    "line": lambda: line_chart(
        "Requests",
        [Series(labels_of({"service": "api"}), wave(120)),
         Series(labels_of({"service": "web"}), wave(120, phase=1))],
        "req/s", t0=T0, t1=T0 + 3600, thresholds=[85.0],
    ),
    "area": lambda: line_chart(
        "Memory",
        [Series(labels_of({"state": "used"}), wave(60, 60)),
         Series(labels_of({"state": "free"}), wave(60, 60, 2))],
        "bytes", t0=T0, t1=T0 + 3600, stacked=True,
    ),
    "empty": lambda: line_chart("Nothing", [], "", t0=T0, t1=T0 + 600),
    "sparkline": lambda: sparkline(wave(40), title="cpu"),
    "waterfall": lambda: waterfall(
        trace(), critical=on_path(critical_sections(trace())), sections=critical_sections(trace())
    ),
    "gantt": lambda: gantt(TASKS),
    "bars": lambda: hbars(
        "this cycle, by stage", [("collect", 0.25), ("render", 0.18), ("write", 0.002)], "seconds"
    ),
    "waterfall-folded": lambda: waterfall(
        fan_out(3, 20),
        critical=frozenset({"root", "b2"}),
        rows=span_rows(fan_out(3, 20), limit=12, keep=frozenset({"root", "b2"})),
    ),
    "heatmap": lambda: heatmap("Latency", buckets(histogram()), "seconds", t0=T0, t1=T0 + 3600),
    "depmap": lambda: depmap(["frontend", "cart", "db", "payments"], dependencies([trace()])),
}  # fmt: skip


def pretty(svg: str) -> str:
    """Return SVG markup one element a line, as golden files are kept (a diff reviews well).

    Text content is escaped, so every ">" followed by "<" is between two tags."""
    return re.sub(r">(?=<)", ">\n", svg).rstrip("\n") + "\n"


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_matches_its_reviewed_golden_file(name: str) -> None:
    svg = str(CHARTS[name]())
    golden = GOLDEN / f"{name}.svg"
    if os.environ.get("SITEGEN_UPDATE_GOLDEN"):
        golden.write_text(pretty(svg))
    expected = pretty(golden.read_text())
    assert pretty(svg) == expected, f"{name} changed: regenerate and review the golden file"
    assert svg == str(CHARTS[name]())  # deterministic
    assert re.match(
        r'<svg class="(chart|chart heat|spark)" role="img" viewBox="[^"]+"[^>]*><title>', svg
    )


def test_downsampling_keeps_spikes_and_bounds_points_per_column() -> None:
    points = [(T0 + i, 1.0) for i in range(11_000)]
    points[5000] = (T0 + 5000, 999.0)
    points[7000] = (T0 + 7000, -999.0)
    out = downsample(points, 640, T0, T0 + 11_000)
    assert len(out) <= 4 * 640
    values = [v for _, v in out]
    assert 999.0 in values and -999.0 in values
    assert [t for t, _ in out] == sorted(t for t, _ in out)


def absolute(d: str) -> list[tuple[int, int]]:
    """Return the points of compact path data ("M x y l dx dy ...") in absolute pixels."""
    points: list[tuple[int, int]] = []
    for move, numbers in re.findall(r"([Ml])([-\d ]+)", d):
        values = [int(n) for n in re.findall(r"-?\d+", numbers)]
        pairs = list(zip(values[::2], values[1::2], strict=True))
        if move == "M":
            points.append(pairs[0])
        else:
            for dx, dy in pairs:
                points.append((points[-1][0] + dx, points[-1][1] + dy))
    return points


def test_a_drawn_line_keeps_two_points_per_pixel_column_and_its_spikes() -> None:
    values = [50 + (i % 17) for i in range(11_000)]
    values[5000], values[7000] = 999, -999
    series = Series((), tuple((T0 + i, float(v)) for i, v in enumerate(values)))
    svg = str(line_chart("dense", [series], "", t0=T0, t1=T0 + 11_000))
    (d,) = re.findall(r'<g class="s0"><title>[^<]*</title><path d="([^"]+)"', svg)
    points = absolute(d)
    per_column = {}
    for x, _ in points:
        per_column[x] = per_column.get(x, 0) + 1
    assert max(per_column.values()) <= 2 and len(points) <= 2 * 566 + 2
    ys = [y for _, y in points]
    assert min(ys) == TOP and max(ys) == 220 - BOTTOM  # both spikes reach the plot edges


def test_a_chart_wider_than_any_page_draws_its_long_moves_whole() -> None:
    # A line across a 10,000-pixel plot moves further than any default chart: its path
    # numbers must still be the true distances, from the first sample to the last.
    series = Series((), ((T0, 1.0), (T0 + 1800, 3.0), (T0 + 3600, 1.0)))
    svg = str(line_chart("wide", [series], "", t0=T0, t1=T0 + 3600, width=10_000))
    (x, pw) = re.search(r'<rect class="frame" x="(\d+)" y="\d+" width="(\d+)"', svg).groups()
    (d,) = re.findall(r'<g class="s0"><title>[^<]*</title><path d="([^"]+)"', svg)
    points = absolute(d)
    assert [p[0] for p in points] == [int(x), int(x) + int(pw) // 2, int(x) + int(pw)]
    assert points[0][1] == points[2][1] > points[1][1]  # down, then back up to the same pixel


def test_samples_outside_the_time_range_are_drawn_at_its_edges() -> None:
    # A query may return a sample a little before t0 or after t1 (its step's alignment):
    # the line runs to the plot's edge, never past it into the margin.
    series = Series((), ((T0 - 60, 1.0), (T0 + 1800, 1.0), (T0 + 3660, 1.0)), step=1800.0)
    svg = str(line_chart("edges", [series], "", t0=T0, t1=T0 + 3600))
    (x, pw) = re.search(r'<rect class="frame" x="(\d+)" y="\d+" width="(\d+)"', svg).groups()
    (d,) = re.findall(r'<g class="s0"><title>[^<]*</title><path d="([^"]+)"', svg)
    assert [p[0] for p in absolute(d)] == [int(x), int(x) + int(pw) // 2, int(x) + int(pw)]


def test_nan_and_time_gaps_break_the_line() -> None:
    pts = [(T0 + i * 30, float(i)) for i in range(10)]
    pts[4] = (pts[4][0], math.nan)
    gap = [(T0 + i * 30, 1.0) for i in range(5)] + [(T0 + 3000 + i * 30, 1.0) for i in range(5)]
    for points, t1 in ((pts, T0 + 270), (gap, T0 + 3200)):
        svg = str(line_chart("g", [Series((), tuple(points))], "", t0=T0, t1=t1))
        (d,) = re.findall(r'<g class="s0"><title>[^<]*</title><path d="([^"]+)"', svg)
        assert d.count("M") == 2


def test_a_single_sample_is_still_visible() -> None:
    svg = str(line_chart("one", [Series((), ((T0, 5.0),))], "", t0=T0 - 60, t1=T0))
    assert re.search(r'<path d="M[\d.]+ [\d.]+h1"', svg)


def test_infinite_values_do_not_break_the_axes() -> None:
    pts = ((T0, 1.0), (T0 + 30, math.inf), (T0 + 60, -math.inf), (T0 + 90, 2.0))
    svg = str(line_chart("edge", [Series((), pts)], "", t0=T0, t1=T0 + 90))
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    assert svg.count("M") >= 2  # the line is broken around the infinite points


def test_hostile_text_is_escaped_in_every_chart() -> None:
    evil = '"><svg onload=alert(1)><script>alert(2)</script>'
    series = [Series(labels_of({evil: evil}), wave(10))]
    span = Span("x" * 32, "s", None, evil, evil, 0, 10, "error")
    out = "".join(
        str(svg)
        for svg in (
            line_chart(evil, series, evil, t0=T0, t1=T0 + 300),
            sparkline(wave(5), title=evil),
            waterfall(Trace("x" * 32, (span,))),
            gantt([TaskRecord(evil, 1, 0, 10)]),
            hbars(evil, [(evil, 1.0)], evil),
        )
    )
    assert "<script" not in out and "onload=" not in out.replace("svg onload=alert", "")
    assert "&lt;script&gt;" in out and "&#34;&gt;&lt;svg onload=alert(1)&gt;" in out


def test_waterfall_orders_spans_depth_first_and_marks_errors() -> None:
    order = [(r.span.name, r.depth) for r in span_rows(trace()).rows]
    assert order == [("GET /checkout", 0), ("POST /cart", 1), ("SELECT cart", 2), ("charge", 1)]
    svg = str(waterfall(trace()))
    assert svg.count('class="svc') == 4 and svg.count(' err"') == 1 and "! " in svg


def test_gantt_has_one_lane_per_worker() -> None:
    svg = str(gantt(TASKS))
    assert svg.count('class="lane"') == 2 and "pid 100" in svg and "pid 101" in svg
    # Lanes in pid order, as the table of workers lists them, whichever worker started first.
    late = [TaskRecord("t", 7, 10**9, 2 * 10**9), TaskRecord("t", 5, 3 * 10**9, 4 * 10**9)]
    assert re.findall(r">pid (\d+)<", str(gantt(late))) == ["5", "7"]


def test_a_timeline_of_many_tasks_joins_a_lanes_tasks_into_bars_counting_each_once() -> None:
    from sitegen.charts.gantt import MAX_BARS

    # A first cycle renders hundreds of pages: a bar each outweighed the page's budget.
    step, t0 = 1_000_000, 10**9
    many = [TaskRecord(f"trace {i}", 100 + i % 2, t0 + i * step, t0 + i * step + 900_000)
            for i in range(1000)]  # fmt: skip
    many.append(TaskRecord("logs", 100, t0 + 1000 * step, t0 + 1200 * step))
    svg = str(gantt(many))
    hovers = re.findall(r'<g class="svc\d"><title>([^<]*)</title>', svg)
    assert 2 < len(hovers) <= MAX_BARS
    joined = [
        m for h in hovers if (m := re.match(r"(\d+) tasks \((\d+) trace\) · pid 10[01] · ", h))
    ]
    alone = [h for h in hovers if not h[0].isdigit()]
    assert len(joined) + len(alone) == len(hovers) and len(joined) > len(alone)
    assert all(m.group(1) == m.group(2) for m in joined)  # of the kinds it names
    assert sum(int(m.group(1)) for m in joined) + len(alone) == len(many)  # each task, once
    assert "logs · pid 100 · 200 ms" in alone  # a long task keeps its own bar
    assert "joined into bars of at most" in svg
    # As many tasks as bars, or fewer: each its own, nothing joined.
    assert "joined" not in str(gantt(many[:MAX_BARS]))
    assert str(gantt(many[:MAX_BARS])).count("<rect x=") == MAX_BARS


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]), (0, 97, [0, 20, 40, 60, 80, 100]), (3, 3, [3, 4, 5, 6])],
)
def test_nice_ticks(lo: float, hi: float, expected: list[float]) -> None:
    assert nice_ticks(lo, hi, 5) == expected


def test_heatmap_buckets_are_the_differences_of_cumulative_counts() -> None:
    cumulative = [
        Series(labels_of({"le": "+Inf"}), ((T0, 10.0), (T0 + 30, 12.0))),
        Series(labels_of({"le": "0.1"}), ((T0, 4.0), (T0 + 30, math.nan))),
        Series(labels_of({"le": "0.5"}), ((T0, 9.0), (T0 + 30, 11.0))),
    ]
    rows = buckets(cumulative)
    assert [(b.lo, b.hi) for b in rows] == [(0, 0.1), (0.1, 0.5), (0.5, math.inf)]
    assert rows[0].points == ((T0, 4.0),)  # the NaN sample is missing, not zero
    assert rows[1].points == ((T0, 5.0), (T0 + 30, 11.0))  # nothing below at T0+30 to subtract
    assert rows[2].points == ((T0, 1.0), (T0 + 30, 1.0))


def test_heatmap_shades_follow_the_counts_and_merge_runs() -> None:
    svg = str(heatmap("Latency", buckets(histogram()), "seconds", t0=T0, t1=T0 + 3600))
    shades = [int(n) for n in re.findall(r'<g class="h(\d)">', svg)]
    assert shades == sorted(shades) and shades[-1] == 8 and len(shades) >= 6
    cells = len(re.findall(r"h-?\d+z", svg))
    assert cells < 6 * (576 // 8)  # equal neighbours merged, fewer rects than cells
    assert "≤ 50 ms" in svg and "&gt; 1 s" in svg  # rows labelled with their bucket bounds
    empty = str(heatmap("none", [], "seconds", t0=T0, t1=T0 + 60))
    assert "no data" in empty


def test_depmap_places_callers_left_of_callees_and_labels_every_call() -> None:
    svg = str(CHARTS["depmap"]())
    x = {m[1]: float(m[0]) for m in re.findall(r'<rect x="([\d.]+)"[^>]*/><text[^>]*>. (\w+)', svg)}
    assert x["frontend"] < x["cart"] < x["db"] and x["frontend"] < x["payments"]
    assert svg.count("1 calls, 100% errors</text>") == 1 and svg.count("1 calls</text>") == 2


def test_depmap_keeps_a_dense_cyclic_graph_narrow_and_its_labels_apart() -> None:
    names = [f"svc{i}" for i in range(10)]
    edges = [Edge(a, b, 10 + i, i % 3) for i, (a, b) in enumerate(
        (names[i], names[(i * 7 + k) % 10]) for i in range(10) for k in (1, 3, 4))
        if a != b]  # fmt: skip
    edges = sorted({(e.caller, e.callee): e for e in edges}.values(), key=lambda e: e.caller)
    svg = str(depmap(names, edges))
    columns = {float(x) for x in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="150"', svg)}
    assert len(columns) <= 4  # call distance, not the longest path through every cycle
    assert_map_labels_clear(svg, len(edges))


def test_a_trace_of_thousands_of_spans_is_folded_on_the_server() -> None:
    trace = fan_out()
    crit = on_path(critical_sections(trace))
    tree = span_rows(trace, keep=crit)
    assert tree.folded and not tree.hidden and len(tree.rows) <= 12
    groups = {(len(r.spans), r.span.name) for r in tree.rows}
    # The batches off the critical path share a row, their 4,000 queries another, their
    # fetches a third; the last batch and its sequential queries lie on the critical path
    # (each waited for the one before), so they are folded apart, marked as on it.
    assert (2, "batch") in groups and (4000, "SELECT") in groups and (4000, "fetch") in groups
    assert (1, "batch") in groups and (2000, "SELECT") in groups and (2000, "fetch") in groups
    assert sum(len(r.spans) for r in tree.rows) == len(trace.spans)  # nothing lost
    assert all(len({s.span_id in crit for s in r.spans}) == 1 for r in tree.rows)
    svg = str(waterfall(trace, critical=crit, rows=tree))
    assert "» ● ×2000 SELECT" in svg and "! " in svg  # folded rows keep their errors visible
    assert len(svg) < 20_000


def test_a_chain_of_100000_spans_is_cut_at_the_row_limit_without_recursion() -> None:
    spans = tuple(
        Span("c" * 32, f"s{i}", f"s{i - 1}" if i else None, f"step {i}", "svc", i, 10**6 - i)
        for i in range(100_000)
    )
    tree = span_rows(Trace("c" * 32, spans))
    assert len(tree.rows) == 200 and tree.hidden == 100_000 - 200
    assert [r.depth for r in tree.rows] == list(range(200))
    assert "… 99800 more spans not drawn" in str(waterfall(Trace("c" * 32, spans), rows=tree))


def plotted(svg: str, cls: str = "band") -> list[str]:
    """Return the path data of every path of class `cls` in a chart."""
    return re.findall(rf'<path class="{cls}" d="([^"]+)"', svg)


def test_a_stacked_band_stops_at_a_gap_in_the_data_as_its_line_does() -> None:
    # Samples every 30 s, then 24 minutes without one, then samples again.
    stamps = [T0 + i * 30 for i in range(20)] + [T0 + 2040 + i * 30 for i in range(20)]
    cpu = [
        Series(labels_of({"mode": "user"}), tuple((t, 60.0) for t in stamps)),
        Series(labels_of({"mode": "system"}), tuple((t, 40.0) for t in stamps)),
    ]
    svg = str(line_chart("CPU", cpu, "percent", t0=T0, t1=T0 + 2640, stacked=True))
    for band in plotted(svg):
        assert band.count("Z") == 2, "a band bridges the gap"
    lines = re.findall(r'<path d="([^"]+)"', svg)
    assert [d.count("M") for d in lines] == [2, 2]


def test_two_samples_a_known_30_s_apart_step_and_25_minutes_apart_are_two_marks() -> None:
    # The only two samples of a history sampled every 30 s, 25 minutes apart: nothing in the
    # points tells the gap from the usual step, but the source knows the step.
    two = ((T0 + 1800, 2.0), (T0 + 3300, 3.0))

    def drawn(step: float, stacked: bool) -> str:
        series = [Series(labels_of({"k": k}), two, step=step) for k in ("a", "b")]
        return str(line_chart("two", series, "", t0=T0, t1=T0 + 3600, stacked=stacked))

    for stacked in (False, True):
        svg = drawn(30.0, stacked)
        lines = re.findall(r'<path d="([^"]+)"', svg)
        assert [d.count("M") for d in lines] == [2, 2], "a line bridges the gap"
        assert all(d.count("h1") == 2 for d in lines)  # each sample its own dash, no segment
        assert [len(re.findall("h0", d)) for d in plotted(svg, "dot")] == [2, 2]
        if stacked:
            assert [d.count("Z") for d in plotted(svg)] == [2, 2], "a band bridges the gap"
        # Unknown step: one step can't be judged from the points, so they are joined.
        joined = re.findall(r'<path d="([^"]+)"', drawn(0, stacked))
        assert [d.count("M") for d in joined] == [1, 1]
    cumulative = [
        Series(labels_of({"le": le}), ((T0 + 1800, 1.0), (T0 + 3300, 1.0)), step=30.0)
        for le in ("0.1", "+Inf")
    ]
    svg = str(heatmap("two", buckets(cumulative), "seconds", t0=T0, t1=T0 + 3600))
    (cells,) = re.findall(r'<g class="h8"><title>[^<]*</title><path d="([^"]+)"', svg)
    assert cells.count("M") == 2, "a heatmap row is filled across the gap"
    # Each sample fills its slice and the next (within 2.5 steps), whole pixels: no more.
    assert all(int(w) <= 2 * 8 + 1 for w in re.findall(r"h(\d+)v", cells))


def test_samples_sparser_than_the_known_step_still_draw_a_line() -> None:
    # `sitegen render` from cron every 5 minutes with the default 30 s interval: the measured
    # step (300 s) is the usual one, so five samples make one line, not five dots.
    every_5_min = tuple((T0 + 300 * k, float(k)) for k in range(5))
    svg = str(line_chart("cron", [Series(labels_of({"k": "a"}), every_5_min, step=30.0)], "",
                         t0=T0, t1=T0 + 3600))  # fmt: skip
    (line,) = re.findall(r'<path d="([^"]+)"', svg)
    assert line.count("M") == 1, "samples of a slower schedule are drawn apart"


def tick_labels(svg: str) -> list[tuple[float, str]]:
    """Return (x, text) of the y-axis labels (right-aligned ticks) of a chart."""
    found = re.findall(r'<text x="([\d.]+)" y="[\d.]+" class="tick" text-anchor="end">([^<]*)', svg)
    return [(float(x), label) for x, label in found]


@pytest.mark.parametrize(
    ("unit", "top"), [("req/s", 1234.5), ("bytes", 3.3e9), ("seconds", 5000.0), ("", 0.001)]
)
def test_the_left_margin_holds_the_widest_tick_label_at_the_phone_font(unit, top) -> None:
    series = [Series((), tuple((T0 + i * 30, top * i / 100) for i in range(101)))]
    svg = str(line_chart("wide", series, unit, t0=T0, t1=T0 + 3000))
    labels = tick_labels(svg)
    assert len(labels) >= 3 and len({label for _, label in labels}) == len(labels)
    for x, label in labels:
        # 17 px monospace (charts.css on a phone): 0.6 em a character, right-aligned at x.
        assert x - len(label) * 17 * 0.6 >= 0, f"{label!r} is clipped at the left edge"


def test_duration_axes_tick_at_round_seconds_minutes_and_hours() -> None:
    assert unit_ticks(0, 97, "seconds", 4) == [0, 30, 60, 90, 120]
    assert unit_ticks(0, 200, "seconds", 4) == [0, 60, 120, 180, 240]
    assert unit_ticks(0, 5000, "seconds", 4) == [0, 1800, 3600, 5400]
    assert unit_ticks(0, 20_000, "seconds", 4) == [0, 7200, 14400, 21600]
    series = [Series((), tuple((T0 + i * 30, i * 2.0) for i in range(100)))]
    svg = str(line_chart("durations", series, "seconds", t0=T0, t1=T0 + 3000))
    assert [label for _, label in tick_labels(svg)] == ["0 s", "1m", "2m", "3m", "4m"]


def test_a_duration_axis_past_weeks_ticks_at_whole_weeks_and_any_value_finishes() -> None:
    week = 604_800
    assert unit_ticks(0, 3 * week, "seconds", 4) == [0, week, 2 * week, 3 * week]
    # Twenty years: a tick every week made a thousand of them; now a few at whole weeks.
    years = unit_ticks(0, 20 * 365 * 86400, "seconds", 4)
    assert 3 <= len(years) <= 6 and all(t % week == 0 for t in years)
    # A duration of 1e20 s (bad input) made 1e14 weekly ticks and never returned.
    series = [Series((), ((T0, 0.0), (T0 + 30, 1e20)))]
    svg = str(line_chart("durations", series, "seconds", t0=T0, t1=T0 + 60))
    assert 3 <= len([1 for _, label in tick_labels(svg) if label.endswith(" s")]) <= 6


def test_a_time_axis_of_the_longest_range_ticks_at_whole_weeks_as_few_as_asked() -> None:
    week, start = 604_800, 1_700_000_000
    first = math.ceil(start / week) * week
    assert [t for t, _ in time_ticks(start, start + 3 * week, 4)] == [
        first + k * week for k in range(3)
    ]
    # 90 days, the longest range a panel may have: a tick a week made 13 labels where 4 fit.
    # Just past as many weeks as ticks: two weeks a tick.
    assert {t % (2 * week) for t, _ in time_ticks(start, start + 4 * week + 1, 4)} == {0}
    ticks = time_ticks(start, start + 90 * 86400, 4)
    assert 2 <= len(ticks) <= 5 and all(t % week == 0 for t, _ in ticks)
    assert all(re.fullmatch(r"\d\d-\d\d \d\d:\d\d", label) for _, label in ticks)


@pytest.mark.parametrize("total_ms", [15, 14.99, 15.01, 1000, 7])
def test_a_timeline_keeps_every_tick_label_inside_the_chart(total_ms: float) -> None:
    from sitegen.charts.svg import CHAR_W

    # A tick on the axis's very end (15 ms, 5 ms a step) put its label half past the chart.
    end = int(total_ms * 1e6)
    svg = str(gantt([TaskRecord("a", 1, 0, end), TaskRecord("b", 2, end // 3, end)], width=960))
    found = re.findall(r'<text x="([\d.]+)" y="12" class="tick" text-anchor="middle">([^<]*)', svg)
    assert len(found) >= 2 and found[0][1] == "0 s"
    for x, label in found:
        half = len(label) * CHAR_W / 2
        assert float(x) - half >= 0 and float(x) + half <= 960, label


def test_count_axes_tick_at_whole_numbers() -> None:
    assert unit_ticks(0, 1, "lines", 4) == [0, 1]
    assert unit_ticks(0, 3, "count", 4) == [0, 1, 2, 3]
    assert unit_ticks(0, 1, "", 4) == [0, 0.5, 1]  # a ratio may tick at halves
    series = [Series((), ((T0, 0.0), (T0 + 30, 1.0), (T0 + 60, 1.0)))]
    svg = str(line_chart("lines", series, "lines", t0=T0, t1=T0 + 60))
    assert [label for _, label in tick_labels(svg)] == ["0 lines", "1 line"]


def test_a_short_history_fits_the_time_axis_dots_its_samples_and_says_so() -> None:
    three = [Series((), ((T0 + 3540, 1.0), (T0 + 3570, 3.0), (T0 + 3600, 2.0)))]
    svg = str(line_chart("new", three, "", t0=T0, t1=T0 + 3600))
    (dots,) = plotted(svg, "dot")
    xs = [int(x) for x in re.findall(r"M(\d+) \d+h0", dots)]
    assert len(xs) == 3 and xs[0] < 200 and xs[-1] == 630  # spread over the plot, not one pixel
    assert ">3 points so far</text>" in svg
    # The axis spans the last minute and a little before; the end tick at 10:40:00 would not
    # fit a phone's font at the right edge, so it goes.
    assert re.findall(r'middle">([\d:]+)<', svg) == ["10:39:00", "10:39:15", "10:39:30", "10:39:45"]
    # Two samples seconds apart still spread across the plot.
    close = [Series((), ((T0 + 3597, 1.0), (T0 + 3600, 2.0)))]
    xs = re.findall(
        r"M(\d+) \d+h0", plotted(str(line_chart("c", close, "", t0=T0, t1=T0 + 3600)), "dot")[0]
    )
    assert int(xs[0]) < 640 / 3
    full = str(CHARTS["line"]())
    assert "so far" not in full and not plotted(full, "dot")  # a full history: lines only
    spark = str(sparkline(((T0, 1.0), (T0 + 30, 2.0))))
    assert len(re.findall(r"h0", "".join(plotted(spark, "dot")))) == 2
    # One sample, a 25-minute gap, two more: the gap breaks the line even with three samples.
    gapped = ((T0, 1.0), (T0 + 1500, 2.0), (T0 + 1530, 3.0))
    spark = str(sparkline(gapped))
    assert re.search(r'<path d="([^"]+)"', spark)[1].count("M") == 2
    svg = str(line_chart("gap", [Series((), gapped)], "", t0=T0 - 3600, t1=T0 + 1530))
    assert re.search(r'<path d="([^"]+)"', svg)[1].count("M") == 2


def test_values_at_the_float_limits_are_drawn_clamped_with_the_true_value_in_the_hover() -> None:
    points = ((T0, 1.7e308), (T0 + 30, 5e-324), (T0 + 60, math.nan), (T0 + 90, 1e308),
              (T0 + 120, -1e308))  # fmt: skip
    for stacked in (False, True):
        svg = str(line_chart("limits", [Series((), points)], "", t0=T0, t1=T0 + 120,
                             stacked=stacked))  # fmt: skip
        assert "no data" not in svg and "inf" not in svg.lower() and "nan" not in svg.lower()
        (line,) = re.findall(r'<path d="([^"]+)"', svg)
        # Every point is drawn; the NaN breaks a line (a stack counts it as nothing added).
        assert line.count("M") == (1 if stacked else 2)
        assert len(absolute(line)) == (5 if stacked else 4)
        assert ">value: -1e+308</title>" in svg
        assert all(len(label) <= 8 for _, label in tick_labels(svg)), tick_labels(svg)
        frame = re.search(r'<rect class="frame" x="(\d+)"', svg)
        assert frame and int(frame[1]) < 120


def test_bar_labels_and_values_keep_clear_of_their_bars() -> None:
    items = [("a rather long stage name that gets cut", 3.0), ("short", 1.5)]
    svg = str(hbars("stages", items, "seconds", width=640))
    for rect_x, width, value_x in re.findall(
        r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*/><text x="([\d.]+)"', svg
    ):
        assert float(value_x) >= float(rect_x) + float(width)
        assert float(rect_x) >= 22 * 17 * 0.6  # the cut label (22 characters) fits before it
        assert float(value_x) + len("3 s") * 17 * 0.6 <= 640


def _bezier(curve: list[tuple[float, float]], t: float) -> tuple[float, float]:
    w = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3)
    return (sum(k * p[0] for k, p in zip(w, curve, strict=True)),
            sum(k * p[1] for k, p in zip(w, curve, strict=True)))  # fmt: skip


def assert_map_labels_clear(svg: str, calls: int) -> None:
    """Every call's label is on its own curve, inside the map, over no box or other label."""
    view = [float(v) for v in re.search(r'viewBox="([^"]+)"', svg)[1].split()]
    corners = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="150" height="26"', svg)
    nodes = [(float(x), float(y), float(x) + 150, float(y) + 26) for x, y in corners]
    curves = {
        int(n): [tuple(map(float, c[i : i + 2])) for i in range(0, 8, 2)]
        for n, *c in re.findall(r"<title>(\d+): [^<]*</title><path d=\"M([\d.-]+) ([\d.-]+)C"
                                + " ".join([r"([\d.-]+)"] * 6), svg)
    }  # fmt: skip
    assert sorted(curves) == list(range(1, calls + 1))  # numbered as the calls table
    boxes = []
    for x, y, label in re.findall(
        r'<text x="([\d.]+)" y="([\d.]+)" class="tick halo[^"]*" text-anchor="middle">([^<]*)<', svg
    ):
        n, x, y, w = int(label.split(":")[0]), float(x), float(y) - 4, len(label) * 6.7 + 6
        box = (x - w / 2, y - 6.5, x + w / 2, y + 6.5)
        assert view[0] <= box[0] and box[2] <= view[2] and box[1] >= 0 and box[3] <= view[3]
        near = min(math.dist((x, y), _bezier(curves[n], k / 50)) for k in range(51))
        assert near <= 4 * 13 + 6, f"label {label!r} is {near:.0f} px from its call"
        for other in nodes + boxes:
            apart = box[2] <= other[0] or other[2] <= box[0] or box[3] <= other[1]
            assert apart or other[3] <= box[1], f"label {label!r} covers a box or a label"
        boxes.append(box)
    assert len(boxes) == calls


def test_a_dense_mesh_of_six_services_and_thirty_calls_keeps_every_label_on_its_call() -> None:
    names = ["frontend", "cart", "checkout", "payments", "ledger", "db"]
    pairs = [(a, b) for a in names for b in names if a != b]
    edges = [Edge(a, b, 10 + 7 * i, (i % 4 == 0) * (i + 1)) for i, (a, b) in enumerate(pairs)]
    svg = str(depmap(names, edges))
    assert_map_labels_clear(svg, 30)
    # Arcs from one column spread apart instead of lying on each other.
    paths = re.findall(r'<path d="(M[^"]+)" marker-end', svg)
    assert len(set(paths)) == 30
    few = str(CHARTS["depmap"]())
    assert_map_labels_clear(few, 3)
    assert ">2: 1 calls</text>" in few  # a sparse map says what each call is on the curve

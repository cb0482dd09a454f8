"""Rendering: no JavaScript anywhere, hostile input escaped, the pool really parallel."""

from __future__ import annotations

import dataclasses
import gzip
import html.parser
import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from sitegen.model import (
    Incident,
    LogRecord,
    Panel,
    Series,
    SourceStatus,
    Span,
    SpanEvent,
    Trace,
    labels_of,
)
from sitegen.render import tasks as tasks_module
from sitegen.render.environment import trace_path
from sitegen.render.finished import FinishedPages
from sitegen.render.keys import Reuse
from sitegen.render.pool import RenderPool
from sitegen.render.rounds import pack, render_site
from sitegen.render.tasks import (
    PAGE_BUDGET,
    Common,
    PageTask,
    is_still,
    panel_tasks,
    render_batch,
    render_page,
    report_tasks,
    still_copy,
    still_path,
    summary_tasks,
    trace_task,
    with_still_copies,
)
from sitegen.render.tasks import render_all as render_here
from sitegen.site.optimize import build_assets
from sitegen.site.output import write_site
from sitegen.synthetic import Workload, snapshot
from sitegen.units import format_value
from tests.test_charts import fan_out, histogram

HOSTILE = (
    "<script>alert(1)</script>",
    '"><svg onload=alert(2)>',
    "javascript:alert(3)",
    "' onmouseover='alert(4)",
    "</pre><img src=x onerror=alert(5)>",
)
# Anything that would run script in a browser: a script element, an event-handler attribute
# (quoted or not, as a minifier may leave it), or a javascript: URL in an attribute.
SCRIPT = re.compile(
    r"<script|<[^>]*\son[a-z]+\s*=|(?:href|src|action)\s*=\s*[\"']?\s*javascript:", re.I
)


def common(css: str = "assets/site.css") -> Common:
    return Common("t", 1_795_340_562.0, 30, None, css, "", "test", "host", (), ())


def page_tasks(snap, c: Common) -> list[PageTask]:
    """Every page task drawn from the snapshot's data: the summaries, then one per item."""
    traces, _kept = FinishedPages().start(snap.traces, c)
    return summary_tasks(snap, c) + panel_tasks(snap, c) + traces


def _no_reports(_records, _kept) -> list:
    return []


def hostile_snapshot():
    snap = snapshot(Workload(panels=2, points=50, traces=2, spans_per_trace=4, log_lines=20))
    evil = " ".join(HOSTILE)
    panel = Panel(
        title=evil,
        query=evil,
        unit=evil,
        source=evil,
        series=(
            Series(
                labels_of({"service": evil, evil: "x"}),
                ((snap.generated_at - 60, 1.0), (snap.generated_at, 2.0)),
            ),
        ),
        error=evil,
    )
    span = Span(
        "ab" * 16,
        "cd" * 8,
        None,
        evil,
        evil,
        10**18,
        10**18 + 10**6,
        "error",
        labels_of({evil: evil}),
    )
    trace = Trace("<script>x", (dataclasses.replace(span, trace_id="<script>x"),))
    log = LogRecord(snap.generated_at, "error", evil, evil, "ab" * 16, labels_of({evil: evil}))
    return dataclasses.replace(
        snap,
        title=evil,
        panels=(panel, *snap.panels),
        traces=(trace, *snap.traces),
        logs=(*snap.logs, log),
    )


def render_all(snap, css_gzip: int = 0) -> dict[str, bytes]:
    done = render_site(
        render_here,
        snap,
        common(),
        css_gzip,
        lambda records, kept: report_tasks(
            snap, common(), records, (), 0, "test", {"assets/site.css": b"body{}"}, kept
        ),
    )
    failed = [(r.name, r.error) for r in done.records if r.error]
    assert not failed, failed  # a template fault shows as an error page: never let it pass
    return {p.path: p.body for p in done.pages}


def test_hostile_strings_come_out_escaped() -> None:
    files = render_all(hostile_snapshot())
    for path, body in files.items():
        text = body.decode()
        assert not SCRIPT.search(text), (path, SCRIPT.search(text).group(0))
    metrics = files["metrics/index.html"].decode()
    assert "&lt;script>alert(1)&lt;/script>" in metrics or "&lt;script&gt;" in metrics
    assert "alert(2)" in metrics  # shown as text, not dropped


class _Columns(html.parser.HTMLParser):
    """The tables of a page: each one's column headings and its body's cells, as (text, is it
    a figure: class "num")."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[list[tuple[str, bool]], list[list[tuple[str, bool]]]]] = []
        self._cell: tuple[list[tuple[str, bool]], bool] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        num = "num" in (dict(attrs).get("class") or "").split()
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("th", "td") and self.tables:
            head, body = self.tables[-1]
            row = head if self._in_head else body[-1]
            row.append(("", num))
            self._cell = (row, num)

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("th", "td"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell:
            row, num = self._cell
            row[-1] = (row[-1][0] + data.strip(), num)


def test_every_column_of_figures_is_aligned_under_a_heading_aligned_with_it() -> None:
    # A heading at the left of a column whose figures sit at its right stood over nothing on a
    # wide table (the latency table's p50 over the gap between two columns).
    snap = snapshot(Workload(panels=4, points=60, traces=3, log_lines=300))
    heat = Panel("Latency", "h", "seconds", "test", tuple(histogram()), kind="heatmap")
    now = snap.generated_at
    snap = dataclasses.replace(
        snap,
        panels=(heat, *snap.panels),
        sources=(SourceStatus("host", True, duration_s=0.012, detail="7 charts"),),
        incidents=(
            Incident(
                "a" * 16, "k1", "HighLatency", "page", "p99 over 1 s", labels_of({}), now - 90
            ),
            Incident("b" * 16, "k2", "DiskFull", "", "", labels_of({}), now - 900, now - 600),
        ),
    )
    files = render_all(snap)
    checked: set[str] = set()
    for path, body in files.items():
        parser = _Columns()
        parser.feed(body.decode())
        for head, rows in parser.tables:
            for i, (name, heading_num) in enumerate(head):
                cells = [row[i] for row in rows if len(row) == len(head) and row[i][0]]
                if not cells:
                    continue
                figures = all(num for _, num in cells)
                assert heading_num == figures, (path, name, cells[:3])
                if figures:
                    checked.add(name)
    # Figures of every kind of table: latency, trace and task durations, log counts, a
    # heatmap's buckets, a panel's series, an incident's length, a source's time, page sizes.
    assert {"p50", "duration", "took", "lines", "peak", "last", "lasted", "gzipped"} <= checked


# 24 panels, the reference workload's; 60 made pages of up to 14,413 bytes with the CSS,
# when their frame (the contents listing every panel, the pager every page) was a guess.
@pytest.mark.parametrize("panels", [24, 60])
def test_metrics_pages_each_fit_the_budget_with_the_css(panels: int) -> None:
    assets = build_assets()
    snap = snapshot(Workload(traces=2, log_lines=10, panels=panels))
    files = render_all(snap, assets.css_gzip)
    # The still copy of the first page (no refresh) shows the same panels: not counted twice.
    metrics = sorted(p for p in files if p.startswith("metrics/") and p != "metrics/still.html")
    assert 1 < len(metrics) < len(snap.panels)  # packed several to a page, not one each
    for path in metrics:
        assert len(gzip.compress(files[path], 6)) + assets.css_gzip <= PAGE_BUDGET, path
    shown = [re.findall(r'<section class="panel" id="p(\d+)"', files[p].decode()) for p in metrics]
    numbers = sorted(int(n) for found in shown for n in found)
    assert numbers == list(range(1, len(snap.panels) + 1))  # every panel once, none lost
    index = files["metrics/index.html"].decode()
    assert index.count("<li><a href=") == len(snap.panels)  # the contents list them all
    assert f'href="page-{len(metrics)}.html#p{len(snap.panels)}"' in index


def test_a_trace_of_twelve_thousand_spans_makes_a_page_within_the_budget() -> None:
    assets = build_assets()
    trace = fan_out()
    snap = dataclasses.replace(snapshot(Workload(panels=1, traces=0, log_lines=1)), traces=(trace,))
    page = render_all(snap)[trace_path(trace.trace_id)]
    assert len(gzip.compress(page, 6)) + assets.css_gzip <= PAGE_BUDGET
    assert "×4000 SELECT" in page.decode() and "12004 spans are too many" in page.decode()


def test_the_concurrency_page_of_thousands_of_tasks_keeps_within_the_budget() -> None:
    from sitegen.model import TaskRecord

    # A first cycle of a site of thousands of traces: a bar and a row each had made the page
    # grow with them (the reference workload's 330 tasks were 12 KB gzipped, with the CSS over).
    snap = snapshot(Workload(panels=1, traces=1, log_lines=1))
    t0 = 10**18
    records = tuple(
        TaskRecord(f"trace {i:032x}", 7 + i % 2, t0 + i * 300_000, t0 + i * 300_000 + 250_000
                   + i * 7919 % 3000 * 10, size=13_000 + i)  # each a time of its own
        for i in range(3000)
    )  # fmt: skip
    page = next(t for t in report_tasks(snap, common(), records, (), 1, "test", {})
                if t.name == "concurrency")  # fmt: skip
    html = render_page(page).body
    assert len(gzip.compress(html, 6)) + build_assets().css_gzip <= PAGE_BUDGET
    text = html.decode()
    assert "tasks: the 40 longest of 3000, in the order they started" in text
    listed = re.findall(r"<tr><td>trace ([0-9a-f]{32})</td>", text)
    assert {int(i, 16) * 7919 % 3000 for i in listed} == set(range(2960, 3000))  # the longest
    assert listed == sorted(listed)  # in the order they started
    # Each kind's count and times stand for them all: none is lost.
    assert '<tr><td>trace</td><td class="num">3000</td>' in text


def test_a_long_tail_of_logs_is_paged_newest_first_each_page_within_the_budget() -> None:
    assets = build_assets()
    snap = snapshot(Workload(panels=1, traces=2, log_lines=10_000))
    files = render_all(snap, assets.css_gzip)
    index = files["logs/index.html"].decode()
    older = re.findall(r'<li><a href="(before-[0-9a-f]{16}(?:-\d+)?\.html)">', index)
    pages = ["logs/index.html", *(f"logs/{name}" for name in older)]
    assert len(pages) > 5
    assert set(pages) == {p for p in files if p.startswith("logs/") and not is_still(p)}
    shown = []
    for k, path in enumerate(pages):
        page = files[path].decode()
        assert len(gzip.compress(files[path], 6)) + assets.css_gzip <= PAGE_BUDGET, path
        tail = re.search(r'<pre class="tail"[^>]*>(.*?)</pre>', page, re.S)
        shown.append(re.findall(r"request_id=</span>(r\d+)", tail.group(1)))
        if k:  # an older page links the newest lines and the page before it, if any
            after = older[k] if k < len(older) else None
            assert 'href="index.html">newest lines' in page
            assert (f'href="{after}">older lines' in page) if after else "oldest lines" in page
    # Newest first, on the live page and on every page after: every line once.
    assert [r for page in shown for r in page] == [f"r{k:06d}" for k in reversed(range(10_000))]
    assert (
        "most frequent errors" in index and "most frequent errors" not in files[pages[1]].decode()
    )


def test_older_logs_pages_keep_their_bytes_and_their_render_as_lines_come_and_go() -> None:
    # Cut from the newest line, every older page shifted by the lines of each cycle: all of
    # them were rendered and published again, every cycle, for lines that had not changed.
    reuse, css = Reuse(), build_assets().css_href
    snap = snapshot(Workload(panels=1, traces=3, log_lines=3000))

    def logs_pages(s) -> tuple[dict[str, bytes], set[str]]:
        c = dataclasses.replace(common(css), generated_at=s.generated_at)
        tasks = [t for t in page_tasks(s, c) if t.template.startswith("logs")]
        pages = reuse.cycle(render_batch)(tasks)
        return {p.path: p.body for p in pages}, {p.path for p in pages if not p.record.reused}

    first, _ = logs_pages(snap)
    new = tuple(LogRecord(snap.generated_at + k, "info", f"line {k}", "app") for k in range(40))
    # 30 s later: the tail holds the same lines (the same objects), 40 new, the 40 oldest gone.
    later = dataclasses.replace(
        snap, logs=snap.logs[40:] + new, generated_at=snap.generated_at + 30
    )
    second, ran = logs_pages(later)
    older = re.findall(r'<li><a href="(before-[^"]+)">', second["logs/index.html"].decode())
    assert len(older) > 5
    oldest = f"logs/{older[-1]}"  # it lost its 40 oldest lines, and keeps its name
    both = first.keys() & second.keys() - {"logs/index.html"}
    assert {p for p in both if first[p] != second[p]} <= {oldest}
    assert ran <= {"logs/index.html", oldest} | (second.keys() - first.keys())
    assert len(both) >= len(first) - 3


def test_pack_measures_parts_compressed_together() -> None:
    alike = [b"<p>the same words again</p>" * 200] * 6
    assert pack(alike, 400) == [[0, 1, 2, 3, 4, 5]]  # repeats cost almost nothing together
    noise = [random.Random(i).randbytes(300) for i in range(6)]
    assert pack(noise, 700) == [[0, 1], [2, 3], [4, 5]]
    big = random.Random(9).randbytes(1200)
    assert pack([big, noise[1]], 700) == [[0], [1]]  # too big alone: a page of its own


def test_a_page_whose_data_breaks_its_template_says_so_and_the_rest_renders() -> None:
    from sitegen.render.tasks import PageTask

    snap = snapshot(Workload(panels=1, traces=1, log_lines=1))
    broken_trace = PageTask("trace x", "traces/x.html", "trace.html", {"now": 0.0}, common())
    broken_panel = dataclasses.replace(broken_trace, name="panel 9", fragment=True,
                                       template="panel.html")  # fmt: skip
    page, panel = render_page(broken_trace), render_page(broken_panel)
    assert "UndefinedError" in page.record.error and "could not be rendered" in page.body.decode()
    assert b"<!doctype html>" in page.body and b'href="../index.html"' in page.body
    assert panel.body.startswith(b'<section class="panel">') and panel.record.error
    good = render_page(page_tasks(snap, common())[0])
    assert good.record.error is None


def test_a_page_records_its_gzipped_size_and_a_panel_or_copy_is_measured_as_its_page() -> None:
    snap = snapshot(Workload(panels=2, points=50, traces=1, log_lines=3))
    done = render_site(render_here, snap, common(), 0, _no_reports)
    panels = [p for p in done.records if p.fragment]
    assert len(panels) == 2 and all(r.gzip_size == 0 and r.size > 0 for r in panels)
    copies = [p for p in done.pages if is_still(p.path)]
    pages = [p for p in done.pages if not is_still(p.path)]
    assert copies and all(p.record.gzip_size == 0 and p.record.size > 0 for p in copies)
    assert pages and all(p.record.gzip_size == len(gzip.compress(p.body, 6)) for p in pages)
    # The about page lists the largest pages, not their still copies (unmeasured).
    records = tuple(p.record for p in done.pages)
    about = next(
        t for t in report_tasks(snap, common(), records, (), 0, "t", {}) if t.name == "about"
    )
    listed = {r.name for r in about.data["largest"]}
    assert listed == {p.record.name for p in pages}
    assert about.data["page_count"] == len(done.pages)


def test_hostile_trace_id_gets_a_safe_file_name() -> None:
    path = trace_path("../../etc/<script>")
    assert re.fullmatch(r"traces/[0-9a-f]{32}\.html", path)
    assert (
        trace_path("0af7651916cd43dd8448eb211c80319c")
        == "traces/0af7651916cd43dd8448eb211c80319c.html"
    )


def test_no_javascript_in_any_built_file(tmp_path: Path) -> None:
    snap = hostile_snapshot()
    assets = build_assets()
    files = {**assets.files, **render_all(snap)}
    written = write_site(tmp_path / "public", files, "now")
    checked = 0
    for path in written.path.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not SCRIPT.search(text), path
            assert "<script" not in text.lower()
            checked += 1
    assert checked == len(files) + 1  # + manifest.json


# The pages whose content changes every cycle; each has a still copy beside it.
LIVE = ("index.html", "metrics/index.html", "traces/index.html", "logs/index.html",
        "concurrency/index.html", "about/index.html", "incidents/index.html")  # fmt: skip


def test_every_page_has_csp_and_accessible_charts_and_only_live_pages_refresh() -> None:
    files = render_all(snapshot(Workload(panels=40, points=100, traces=3, log_lines=2000)))
    assert "metrics/page-2.html" in files and any(p.startswith("logs/before-") for p in files)
    for path, body in files.items():
        html = body.decode()
        assert "script-src 'none'" in html, path
        refreshes = re.search(r"<meta http-equiv=\"?refresh", html)
        assert bool(refreshes) == (path in LIVE), path  # never a trace, an older page, 404
        assert re.search(r'<meta name="description" content="[^"]{20,}', html), path
        if path in LIVE:  # says its period and links the copy that stays still
            assert re.search(r'refreshes every 30 s · <a href="still.html">stop refreshing', html)
            still = files[path.replace("index.html", "still.html")].decode()
            assert (
                not re.search(r"<meta http-equiv=\"?refresh", still)
                and 'content="noindex"' in still
            )
            assert '<a href="index.html">refresh every 30 s</a>' in still
        for svg in re.findall(r"<svg[^>]*>", html):
            assert re.search(r"role=\"?img", svg), (path, svg)


def test_each_still_copy_is_made_of_its_live_page_and_is_the_copy_rendered_in_full(
    monkeypatch,
) -> None:
    # Data that prints the very tags a copy swaps, as a log line and a title: escaped, it
    # never matches them.
    tags = '<meta http-equiv="refresh" content="30"> <p class="dim refresh">refreshes every'
    snap = hostile_snapshot()
    line = LogRecord(snap.generated_at, "info", "app", tags, None, ())
    snap = dataclasses.replace(snap, logs=(*snap.logs, line), title=f"{snap.title} {tags}")
    batches, rendered = [], []
    real_batch, real_page = tasks_module.render_batch, tasks_module.render_page

    def batch(tasks: list[PageTask]) -> list:
        pages = real_batch(tasks)
        batches.append((list(tasks), pages))
        return pages

    monkeypatch.setattr(tasks_module, "render_batch", batch)
    monkeypatch.setattr(tasks_module, "render_page", lambda t: rendered.append(t) or real_page(t))
    files = render_all(snap)
    made = [pair for tasks, pages in batches for pair in zip(tasks, pages, strict=True)]
    copies = [(t, p) for t, p in made if t.refresh == "still"]
    assert sorted(p.path for _, p in copies) == sorted(still_path(path) for path in LIVE)
    assert not {t.path for t in rendered} & {t.path for t, _ in copies}  # none rendered
    for task, page in copies:
        assert page.body == real_page(task).body and files[page.path] == page.body
        assert page.record.error is None and page.record.name == task.name
        assert page.record.gzip_size == 0  # measured as its live page
    assert b"&lt;meta http-equiv=&#34;refresh&#34;" in files["logs/still.html"]


def test_a_still_copy_is_rendered_in_full_unless_its_live_page_is_the_same_page() -> None:
    index = summary_tasks(snapshot(Workload(panels=1, traces=1, log_lines=3)), common())[0]
    assert (index.path, index.refresh) == ("index.html", "live")
    live, copy = with_still_copies([index])
    full = render_page(copy)
    # Alone in its batch, or after a live page that failed: rendered, the same bytes.
    assert render_batch([copy])[0].body == full.body
    broken = dataclasses.replace(live, data={})
    failed, again = render_batch([broken, dataclasses.replace(copy, data=broken.data)])
    assert failed.record.error and again.record.error and b"not refreshing" in again.body
    page = render_page(live)
    assert still_copy(copy, live, page).body == full.body
    # Not made of another page's bytes, nor of bytes where a swapped tag is not once.
    assert still_copy(copy, dataclasses.replace(live, common=common("x.css")), page) is None
    assert still_copy(copy, dataclasses.replace(live, data={**live.data, "x": 1}), page) is None
    twice = dataclasses.replace(page, body=page.body + page.body)
    assert still_copy(copy, live, twice) is None


@pytest.mark.parametrize("workers", [2])
def test_the_pool_uses_more_than_one_process(workers: int) -> None:
    snap = snapshot(Workload(panels=4, points=200, traces=40, spans_per_trace=25, log_lines=200))
    tasks = page_tasks(snap, common())
    with RenderPool(workers) as pool:
        # As Runtime.start does: otherwise a fast first worker may take every task while
        # the second is still starting, and the test would measure start-up, not the pool.
        pids = pool.warm_up()
        assert len(pids) == workers
        pages = pool.render(tasks)
    assert [p.path for p in pages] == [t.path for t in tasks]  # order kept
    # Every worker took a share, and this process rendered one while it waited.
    assert {p.record.pid for p in pages} == {*pids, os.getpid()}


def test_the_pool_learns_what_tasks_cost_and_batches_the_cheap_ones() -> None:
    snap = snapshot(Workload(panels=1, points=20_000, traces=80, spans_per_trace=5, log_lines=9))
    tasks = page_tasks(snap, common())
    with RenderPool(2) as pool:
        pool.warm_up()
        # Nothing learned: tasks taken to cost alike, in order, fewer a batch towards the end.
        blind = pool.batches(tasks)
        assert [i for b in blind for i in b] == list(range(len(tasks)))
        assert len(blind[0]) > len(blind[-1]) == 1
        first = pool.render(tasks)
        batches = pool.batches(tasks)
        assert sorted(i for b in batches for i in b) == list(range(len(tasks)))  # none lost
        assert len(batches) < len(tasks) / 4  # 80 trace pages don't take 80 round trips
        panel = next(i for i, t in enumerate(tasks) if t.name == "panel 1")
        assert batches[0] == [panel]  # the heaviest goes alone, and first
        traces = [i for b in batches for i in b if tasks[i].name.startswith("trace ")]
        assert traces == sorted(traces)  # tasks of one kind cost alike and keep their order
        again = pool.render(tasks)
    assert [p.body for p in again] == [p.body for p in first]


def test_sequential_and_pool_render_the_same_bytes() -> None:
    snap = snapshot(Workload(panels=2, points=100, traces=5, log_lines=30))
    tasks = page_tasks(snap, common())
    with RenderPool(0) as inline, RenderPool(2) as pool:
        workers = set(pool.warm_up())
        pooled = pool.render(tasks)
        assert {p.record.pid for p in pooled} <= {*workers, os.getpid()}
        assert [p.body for p in inline.render(tasks)] == [p.body for p in pooled]


def test_a_killed_worker_is_replaced_and_the_render_retried() -> None:
    import os
    import signal

    snap = snapshot(Workload(panels=2, points=50, traces=6, log_lines=20))
    tasks = page_tasks(snap, common())
    made = []  # what the round made of its panels, however many workers it lost on the way

    def then(fragments):
        made.append([p.path for p in fragments])
        return [PageTask("made", "made.html", "404.html", {}, common())]

    with RenderPool(2) as pool:
        before = pool.warm_up()
        os.kill(before[0], signal.SIGKILL)
        pages = pool.render(tasks, then=then)
        assert pool.restarts == 1
        assert [p.path for p in pages] == [*(t.path for t in tasks), "made.html"]
        assert before[0] not in {p.record.pid for p in pages}
        assert made == [[t.path for t in tasks if t.fragment]]


def test_a_stuck_worker_is_killed_and_the_pool_started_again() -> None:
    import os
    import signal
    import time

    snap = snapshot(Workload(panels=2, points=50, traces=6, log_lines=20))
    tasks = page_tasks(snap, common())
    with RenderPool(2) as pool:
        stuck = pool.warm_up()
        for pid in stuck:
            os.kill(pid, signal.SIGSTOP)  # frozen: takes tasks, never answers
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"longer than 1\.5s"):
            pool.render(tasks, timeout=1.5)
        assert time.monotonic() - started < 10 and pool.restarts == 1
        pages = pool.render(tasks, timeout=30)
        assert len(pages) == len(tasks)
        assert not {p.record.pid for p in pages} & set(stuck)


def test_when_shows_the_date_off_today_and_the_year_past_a_year() -> None:
    import calendar

    from sitegen.render.environment import when

    now = float(calendar.timegm((2026, 11, 22, 10, 22, 42)))
    assert when(now - 60, now) == "10:21:42"
    assert when(now - 86400, now) == "11-21 10:22:42"
    assert when(now - 2 * 365 * 86400, now) == "2024-11-22 10:22:42"
    assert when(None, now) == "–"
    assert when(1e20, now) == "out of range"


def test_value_range_leaves_out_nan_and_infinities_and_keeps_1_7e308() -> None:
    from sitegen.render.environment import value_range

    nan, inf = float("nan"), float("inf")
    points = [(1.0, nan), (2.0, -3.5), (3.0, inf), (4.0, 1.7e308), (5.0, 2.0), (6.0, -inf)]
    assert value_range(points) == (-3.5, 1.7e308)  # a true value, drawn clamped, shown whole
    assert value_range([(1.0, nan), (2.0, inf)]) == (None, None)
    assert value_range([]) == (None, None)
    # The table under a panel shows them: min and max of the finite values, "–" for none.
    drawable = tuple(p for p in points if p[1] != 1.7e308)  # drawn: not the table's concern
    panel = Panel(title="p", query="q", unit="", source="prometheus",
                  series=(Series(labels_of({"a": "b"}), drawable),))  # fmt: skip
    task = page_tasks(snapshot(Workload(panels=1, traces=1, log_lines=1)), common())[0]
    body = render_page(dataclasses.replace(task, template="panel.html", fragment=True,
                                           data={"p": panel, "n": 1, "now": 6.0})).body  # fmt: skip
    assert (
        b'<tr><td class="text">a=b</td><td class="num">-Inf</td><td class="num">-3.5</td>'
        b'<td class="num">2</td><td class="num">5</td></tr>'
    ) in body


def _rendering_site(reuse, snap, c):
    """Render a site through `reuse`; return its files and the names of the tasks rendered."""
    names: list[str] = []

    def render(tasks, then=None, more=None):
        names.extend(t.name for t in tasks)
        return render_here(tasks, then and (lambda fragments: noted(then(fragments))),
                           more and (lambda: noted(more())))  # fmt: skip

    def noted(tasks):
        names.extend(t.name for t in tasks)
        return tasks

    def reports(records, kept):
        return report_tasks(snap, c, records, (), 0, "test", {}, kept)

    done = render_site(reuse.cycle(render), snap, c, 0, reports, reuse.finished)
    return done.files(), names


def test_a_cycle_renders_what_changed_and_a_finished_trace_once() -> None:
    from sitegen.render.keys import Reuse

    reuse = Reuse()
    w = Workload(panels=2, points=50, traces=4, spans_per_trace=5, log_lines=30)
    snap = snapshot(w, now=1_795_340_562.0)
    first, ran = _rendering_site(reuse, snap, common())
    assert sum(n.startswith("trace ") for n in ran) == 4
    # Thirty seconds on: the same traces, so their pages are not rendered again; every
    # page that prints the cycle's time is.
    later = dataclasses.replace(snap, generated_at=snap.generated_at + 30)
    again, ran = _rendering_site(
        reuse, later, dataclasses.replace(common(), generated_at=later.generated_at)
    )
    assert not [n for n in ran if n.startswith("trace ")]
    assert {"index", "traces", "logs", "concurrency", "about"} <= set(ran)
    assert again.keys() == first.keys()
    # Trace pages, not the traces index and its still copy, which change every cycle.
    finished = [p for p in first if p.startswith("traces/") and p.rsplit("/", 1)[1]
                not in ("index.html", "still.html")]  # fmt: skip
    assert finished and all(again[p] == first[p] for p in finished)
    # Nor the 404 page, which prints no time of the cycle (nor its alerts).
    assert "404" not in ran and again["404.html"] == first["404.html"]
    assert b"shows no data" in first["404.html"] and b"<time" not in first["404.html"]
    assert b"were not rendered again" in again["concurrency/index.html"]
    # The trace pages kept out of the round still count among the pages the about page sums
    # up: those of round one, every page but the reports.
    about = again["about/index.html"].decode()
    counted = [body for path, body in again.items()
               if not path.startswith(("about/", "concurrency/"))]  # fmt: skip
    total = sum(map(len, counted))
    assert f"{len(counted)} pages, {format_value(total, 'bytes')} of HTML" in about, about
    # And among the largest pages it lists, as when they were rendered in the round.
    listed = re.findall(rb"trace [0-9a-f]{8}", first["about/index.html"])
    assert listed and re.findall(rb"trace [0-9a-f]{8}", again["about/index.html"]) == listed
    # A span more in one trace re-renders that trace's page alone.
    t = later.traces[0]
    grown = dataclasses.replace(
        t, spans=(*t.spans, dataclasses.replace(t.spans[-1], span_id="f" * 16))
    )
    _, ran = _rendering_site(
        reuse, dataclasses.replace(later, traces=(grown, *later.traces[1:])), common()
    )
    assert [n for n in ran if n.startswith("trace ")] == [f"trace {t.trace_id[:8]}"]
    # Another stylesheet changes every page.
    _, ran = _rendering_site(reuse, later, common("assets/site.0123.css"))
    assert sum(n.startswith("trace ") for n in ran) == 4 and "404" in ran


def test_a_timeless_page_is_rendered_without_the_cycles_state() -> None:
    # Keyed without the cycle's times, alerts and failed sources, such a page is reused
    # while they change: rendered with them, it would show a degraded cycle's banner for good.
    snap = snapshot(Workload(panels=1, points=10, traces=300, spans_per_trace=2, log_lines=5))
    degraded = dataclasses.replace(
        common(), generated_at=common().generated_at + 30, failed_sources=("prometheus",)
    )
    timeless = [t for t in page_tasks(snap, degraded) if t.timeless]
    assert {"404", "older-traces"} <= {t.name.split()[0] for t in timeless}
    for task in timeless:
        body = render_page(task).body
        assert b"degraded" not in body, task.name
        assert body == render_page(dataclasses.replace(task, common=common())).body, task.name


def test_a_page_of_a_new_cycle_time_is_keyed_without_digesting_its_data(monkeypatch) -> None:
    from sitegen.render import keys

    digested: list[str] = []
    real = keys.task_key
    monkeypatch.setattr(keys, "task_key", lambda t, s: digested.append(t.name) or real(t, s))
    reuse = keys.Reuse()
    snap = snapshot(Workload(panels=2, points=50, traces=2, spans_per_trace=3, log_lines=30))
    first, ran = _rendering_site(reuse, snap, common())
    assert {"index", "logs", "panel 1"} <= set(digested)  # a first cycle: all by their data
    # A cycle of its own time: its pages can't be the last cycle's, their data isn't digested.
    later = dataclasses.replace(snap, generated_at=snap.generated_at + 30)
    at_later = dataclasses.replace(common(), generated_at=later.generated_at)
    digested.clear()
    again, ran = _rendering_site(reuse, later, at_later)
    assert digested == [] and {"index", "logs", "panel 1", "metrics"} <= set(ran)
    assert again["index.html"] != first["index.html"]
    # The same time again (a render repeated): keyed by data, so a page whose data changed
    # is rendered again and the others are not, from the cycle after.
    _rendering_site(reuse, later, at_later)
    fewer = dataclasses.replace(later, logs=later.logs[:-1])
    digested.clear()
    pages, ran = _rendering_site(reuse, fewer, at_later)
    assert {"index", "logs"} <= set(digested) and {"index", "logs"} <= set(ran)
    assert "panel 1" not in ran and "404" not in ran
    assert pages["logs/index.html"] != again["logs/index.html"]


def test_a_template_edit_renders_every_page_again(tmp_path: Path, monkeypatch) -> None:
    import shutil

    from sitegen.render import keys
    from sitegen.render.environment import templates_dir

    copy = shutil.copytree(templates_dir(), tmp_path / "templates")
    monkeypatch.setattr(keys, "templates_dir", lambda: copy)
    reuse = keys.Reuse()
    snap = snapshot(Workload(panels=1, points=20, traces=2, spans_per_trace=3, log_lines=5))
    _, ran = _rendering_site(reuse, snap, common())
    _, ran_again = _rendering_site(reuse, snap, common())
    assert len(ran) > 5 and not [n for n in ran_again if n.startswith("trace ")]
    later = (copy / "trace.html").stat().st_mtime_ns + 10**9
    os.utime(copy / "trace.html", ns=(later, later))
    _, ran_after_edit = _rendering_site(reuse, snap, common())
    assert sorted(ran_after_edit) == sorted(ran)


def test_compiled_templates_are_kept_for_the_next_process_and_a_bad_file_costs_a_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import tempfile

    import jinja2

    from sitegen.render import environment

    compiled: list[str] = []
    compile_ = jinja2.Environment.compile

    def counted(self, source, name=None, *args, **kwargs):
        compiled.append(name)
        return compile_(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    snap = snapshot(Workload(panels=2, points=20, traces=2, spans_per_trace=3, log_lines=5))
    tasks = page_tasks(snap, common())

    def new_process(meanwhile=lambda: None) -> tuple[list[str], dict[str, str]]:
        """Render every page with a new environment: the templates it compiled, the pages."""
        compiled.clear()
        environment.environment.cache_clear()
        environment.environment()
        meanwhile()
        pages = {t.path: render_page(t).body for t in tasks}
        return sorted(compiled), pages

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    try:
        first, pages = new_process()
        cache = tmp_path / f"_jinja2-cache-{os.getuid()}"
        files = sorted(cache.iterdir())
        assert len(first) >= 5 and len(files) == len(first)
        assert cache.stat().st_mode & 0o777 == 0o700
        assert new_process() == ([], pages)
        for file in files:  # cut short in its checksum: compiled again, and written over
            file.write_bytes(file.read_bytes()[: len(jinja2.bccache.bc_magic) + 3])
        assert new_process() == (first, pages)
        assert new_process() == ([], pages)
        # The directory gone once the environment has it (cleaned up): compiled, not kept.
        assert new_process(lambda: shutil.rmtree(cache)) == (first, pages)
        # No private directory to keep them in (here: none at all): compiled every time.
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
        assert new_process() == (first, pages)
        assert new_process() == (first, pages)
    finally:
        environment.environment.cache_clear()  # the next test's, in the usual directory


def test_a_finished_trace_page_does_not_depend_on_the_cycle_time() -> None:
    # Its task is keyed without the cycle's time: its template must not print that time.
    snap = snapshot(Workload(panels=1, traces=1, spans_per_trace=4, log_lines=1))
    task = next(t for t in page_tasks(snap, common()) if t.name.startswith("trace "))
    assert task.timeless
    moved = dataclasses.replace(task.common, generated_at=2_000_000_000.0, next_run=2_000_000_030.0)
    assert render_page(task).body == render_page(dataclasses.replace(task, common=moved)).body


def _span_table(trace: Trace) -> list[str]:
    """Return the rows of a trace page's table of spans, one string a row."""
    page = render_page(trace_task(common(), trace))
    assert page.record.error is None, page.record.error
    text = page.body.decode()
    assert not SCRIPT.search(text), SCRIPT.search(text).group(0)  # the waterfall's texts too
    body = re.search(r"<summary>spans</summary>.*?<tbody>\n(.*?)</tbody>", text, re.S)
    return re.findall(r"<tr>.*?</tr>", body.group(1), re.S)


def test_a_trace_pages_table_of_spans_cuts_long_values_and_shows_them_as_text() -> None:
    evil = " ".join(HOSTILE)
    hostile = [(f"e{k}", evil) for k in range(7)]
    event = SpanEvent(evil, 10**18 + 2 * 10**6, (("cookie?", "x" * 170), *hostile))
    attributes = (("a.long", "v" * 130), ("b.ctrl", "1\x1b[31m\n2"))
    attributes += tuple((f"k{k:02}", evil) for k in range(12))
    root = Span("ab" * 16, "cd" * 8, None, "GET /cart", "shop", 10**18, 10**18 + 10**7, "error",
                attributes, (event,) * 14)  # fmt: skip
    # Stopped before it started (a clock went back): its duration is 0, not negative.
    backwards = Span("ab" * 16, "ef" * 8, "cd" * 8, "late", "shop", 10**18 + 5 * 10**6, 10**18)
    first, second = _span_table(Trace("ab" * 16, (root, backwards)))
    assert first.startswith(
        "<tr><td>GET /cart</td><td>shop</td>"
        '<td class="num">+0 s</td><td class="num">10 ms</td>'
        '<td><span class="err">✗ error</span></td>\n'
        '<td class="text"><span class="dim">a.long=</span>'
    )
    # The first 12 attributes (sorted, as read) and events; values cut at 120 and 160 with "…".
    assert f'<span class="dim">a.long=</span>{"v" * 119}… ' in first and "v" * 120 not in first
    assert '<span class="dim">b.ctrl=</span>1\\x1b[31m⏎2 ' in first
    assert first.count('<span class="dim">k') == 10 and "k09=" in first and "k10=" not in first
    assert first.count('<span class="ev">◆ +2 ms &lt;script&gt;alert(1)') == 12
    assert first.count(f'<span class="dim">cookie?=</span>{"x" * 159}…') == 12
    assert first.count('<span class="dim">e') == 12 * 5 and "e5=" not in first
    assert not SCRIPT.search(first) and "&lt;script&gt;alert(1)&lt;/script&gt;" in first
    assert second == (
        "<tr><td>late</td><td>shop</td>"
        '<td class="num">+5 ms</td><td class="num">0 s</td>'
        '<td>unset</td>\n<td class="text"></td></tr>'
    )


def test_a_trace_pages_table_of_spans_folds_alike_siblings_into_a_row() -> None:
    rows = _span_table(fan_out(batches=1, queries=600))
    # Past 200 spans, the 600 queries share a row and their 600 fetches another.
    assert rows[2] == (
        "<tr><td>×600 SELECT</td><td>db</td>"
        '<td class="num">+0 s</td><td class="num">60 ms</td>'
        '<td><span class="err">✗ 2 errors</span></td><td class="dim">600 spans folded</td></tr>'
    )
    assert rows[3].startswith("<tr><td>×600 fetch</td>") and "<td>unset</td>" in rows[3]
    assert len(rows) == 4
    one = _span_table(fan_out(batches=1, queries=300))[2]  # one query of 300 failed
    assert '<td><span class="err">✗ 1 error</span></td><td class="dim">300 spans folded' in one


def _gone(pids: list[int], seconds: float) -> list[int]:
    """Wait (bounded) for the processes to end; return those still running."""
    import psutil

    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def test_closing_a_pool_with_frozen_workers_is_bounded() -> None:
    snap = snapshot(Workload(panels=1, points=20, traces=2, log_lines=5))
    pool = RenderPool(2)
    pids = pool.warm_up()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # frozen: a plain shutdown would wait for them forever
    started = time.monotonic()
    pool.close(wait_seconds=0.5)
    assert time.monotonic() - started < 10
    assert _gone(pids, 10) == []
    # A closed pool renders what it is still asked in this process, never starting workers.
    page = pool.render(page_tasks(snap, common())[:1])[0]
    assert page.record.pid == os.getpid()


def test_the_pools_processes_end_when_the_parent_is_killed(tmp_path: Path) -> None:
    import subprocess
    import sys

    import psutil

    script = (
        "import sys\n"
        "from sitegen.render.pool import RenderPool\n"
        "pool = RenderPool(2)\n"
        "print(*pool.warm_up(), flush=True)\n"
        "sys.stdin.read()\n"  # until killed
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2
        # The forkserver and the resource tracker too: everything the pool started.
        helpers = [p.pid for p in psutil.Process(parent.pid).children(recursive=True)]
        assert set(workers) < set(helpers)
        parent.kill()
        parent.wait(timeout=10)
        assert _gone(helpers, 30) == []
    finally:
        parent.kill()
        for pid in _gone(helpers, 0):
            os.kill(pid, signal.SIGKILL)


def test_a_round_predicted_cheap_renders_here_and_one_that_pays_starts_the_pool() -> None:
    snap = snapshot(Workload(panels=1, points=20, traces=3, spans_per_trace=3, log_lines=5))
    tasks = page_tasks(snap, common())
    with RenderPool(2) as pool:
        # Nothing learned and no workers: rendered here, which teaches what tasks cost.
        first = pool.render(tasks)
        assert {p.record.pid for p in first} == {os.getpid()}
        # Milliseconds of work do not pay for starting workers (most of a second).
        assert {p.record.pid for p in pool.render(tasks)} == {os.getpid()}
        # As if each trace page had taken two seconds: the pool pays, is started and kept.
        pool._seconds["trace"] = 2.0
        pooled = pool.render(tasks)
        workers = set(pool.warm_up())
        assert len(workers) == 2 and {p.record.pid for p in pooled} & workers
        assert [p.body for p in pooled] == [p.body for p in first]


def test_a_finished_trace_is_keyed_without_pickling_its_spans(monkeypatch) -> None:
    from sitegen.render.keys import task_key

    snap = snapshot(Workload(panels=1, traces=1, spans_per_trace=6, log_lines=1))
    trace = snap.traces[0]

    def key_of(t: Trace) -> bytes:
        task = next(
            k for k in page_tasks(dataclasses.replace(snap, traces=(t,)), common())
            if k.name.startswith("trace ")
        )  # fmt: skip
        return task_key(task, b"stamp")

    def refuse(self: Trace) -> dict:
        raise AssertionError("a finished trace's spans were pickled for its key")

    monkeypatch.setattr(Trace, "__getstate__", refuse)
    unchanged = key_of(Trace(trace.trace_id, tuple(trace.spans)))
    assert unchanged == key_of(trace)
    late = dataclasses.replace(trace.spans[-1], span_id="f" * 16)
    assert key_of(dataclasses.replace(trace, spans=(*trace.spans, late))) != unchanged
    failed = dataclasses.replace(trace.spans[-1], status="error")
    assert not trace.has_error
    assert key_of(dataclasses.replace(trace, spans=(*trace.spans[:-1], failed))) != unchanged


def test_a_logs_line_is_made_once_while_shown_and_its_time_follows_the_cycle(monkeypatch) -> None:
    import pickle

    from sitegen.render import environment
    from sitegen.render.environment import log_tail, when
    from sitegen.render.memo import CycleMemo

    made: list[LogRecord] = []
    derive = environment._stamped_lines
    monkeypatch.setattr(environment, "_LINES", CycleMemo(lambda rs: made.extend(rs) or derive(rs)))
    dated: list[float] = []  # the lines whose time was written for the cycle
    monkeypatch.setattr(environment, "when", lambda ts, now: dated.append(ts) or when(ts, now))
    now = 1_795_340_562.0
    a, b, c = (
        LogRecord(now - k, "info", f"line {k}", "a.log", None, (("k", "<v>"),)) for k in (3, 2, 1)
    )
    first = log_tail([a, b], now, frozenset(), "../")
    assert made == [a, b]
    # Today's lines are made whole, their time included: the next cycle writes none again.
    assert log_tail([a, b, c], now + 1, frozenset(), "../").startswith(first)
    assert made == [a, b, c] and dated == []
    # A day on, the same lines and a new one: only the new one is made, and every time is
    # written as the new cycle writes it (with a date). A copy (as a pool worker unpickles)
    # is made anew, and is the same.
    later = now + 86400
    again = log_tail([a, b, c], later, frozenset(), "../")
    assert made == [a, b, c] and dated == [a.ts, b.ts, c.ts]
    copies = pickle.loads(pickle.dumps([a, b, c]))
    assert log_tail(copies, later, frozenset(), "../") == again and made == [a, b, c, *copies]
    fresh = CycleMemo(derive)
    monkeypatch.setattr(environment, "_LINES", fresh)
    assert again == log_tail([a, b, c], later, frozenset(), "../")
    # The same line, its time written for the later cycle.
    assert when(b.ts, later) != when(b.ts, now)
    assert again.split("\n")[1] == first.split("\n")[1].replace(when(b.ts, now), when(b.ts, later))
    # A page and its still copy hand in the same lines: built once. Other lines, or the
    # same ones for another page (links from another folder), are built anew.
    shown = [a, b, c]
    tail = log_tail(shown, later, frozenset(), "../")
    assert log_tail(shown, later, frozenset(), "../") is tail
    assert log_tail(list(shown), later, frozenset(), "../") == tail
    assert log_tail(shown, later, frozenset(), "") is not tail


def test_the_oldest_logs_page_makes_only_what_it_did_not_show_last_time(monkeypatch) -> None:
    from sitegen.render import environment
    from sitegen.render.environment import log_tail
    from sitegen.render.memo import LastRun

    made: list[LogRecord] = []
    derive = environment._lines_after_time
    monkeypatch.setattr(environment, "_lines_after_time", lambda rs: made.extend(rs) or derive(rs))
    monkeypatch.setattr(environment, "_OLDER_LINES", LastRun(environment._dated_lines))
    dated: list[float] = []  # the lines whose time was written
    when = environment.when
    monkeypatch.setattr(environment, "when", lambda ts, now: dated.append(ts) or when(ts, now))
    now = 1_795_340_562.0
    lines = [LogRecord(now - k, "info", f"line <{k}>", "a.log", None, ()) for k in range(6)]
    page = log_tail(lines, 0, frozenset(), "../")  # an older page: newest first, no cycle time
    assert made == lines
    assert dated == [r.ts for r in lines] and all(f"{when(r.ts, 0)}</span>" in page for r in lines)
    # A cycle on, the oldest page lost its two oldest lines: nothing is made or dated, the
    # rest is printed as before; built from scratch, the page is the same.
    made.clear()
    dated.clear()
    shorter = log_tail(lines[:4], 0, frozenset(), "../")
    assert made == dated == [] and page.startswith(shorter) and shorter.count("\n") == 4
    monkeypatch.setattr(environment, "_OLDER_LINES", LastRun(environment._dated_lines))
    assert log_tail(lines[:4], 0, frozenset(), "../") == shorter and made == lines[:4]
    # Another page (here its lines from the third on) makes the lines it does not share.
    made.clear()
    assert log_tail(lines[:2] + lines[3:], 0, frozenset(), "../") == page.replace(
        page.split("\n")[2] + "\n", ""
    )
    assert made == lines[3:]


def test_an_older_traces_page_makes_only_the_rows_it_did_not_list_last_time(monkeypatch) -> None:
    from sitegen.render import environment
    from sitegen.render.environment import trace_rows
    from sitegen.render.memo import LastRun

    made: list[dict] = []
    derive = environment._older_trace_rows
    monkeypatch.setattr(
        environment, "_OLDER_ROWS", LastRun(lambda ts: made.extend(ts) or derive(ts))
    )
    start = 1_795_340_562.0
    rows = [{"id": f"{k:032x}", "name": f"GET /<{k}>", "service": "web", "start": start - k,
             "duration_ns": 1_500_000, "spans": 3, "error": k == 2} for k in range(5)]  # fmt: skip
    page = trace_rows(rows, "../")  # an older traces page (newest first): no cycle time
    assert made == rows and page.count("</tr>") == 5 and "GET /&lt;4&gt;" in page
    # A cycle on, the page lost its two oldest traces: no row is made again.
    made.clear()
    assert page.startswith(trace_rows(rows[:3], "../")) and made == []
    # Another page, which starts with other traces, makes its rows.
    assert trace_rows(rows[1:], "../") == page.split("</tr>\n", 1)[1] and made == rows[1:]


def test_a_traces_row_is_made_once_while_listed_and_its_start_follows_the_cycle(
    monkeypatch,
) -> None:
    from sitegen.render import environment
    from sitegen.render.environment import iso, trace_rows, utc, when
    from sitegen.render.memo import CycleMemo

    made: list[dict] = []
    derive = environment._trace_rows
    monkeypatch.setattr(environment, "_ROWS", CycleMemo(lambda ts: made.extend(ts) or derive(ts)))
    dated: list[float] = []
    monkeypatch.setattr(environment, "when", lambda ts, now: dated.append(ts) or when(ts, now))
    now = 1_795_340_562.0
    bad = {"id": "4bf92f3577b34da6a3ce929d0e0e4736", "name": "</a><b>x\n", "service": "a&b",
           "start": now - 60, "duration_ns": 1_500_000, "spans": 3, "error": True}  # fmt: skip
    good = {**bad, "id": "../<x>", "name": "GET /", "service": "web", "error": False}
    rows = trace_rows([bad, good], "../", now).split("\n")
    assert rows[:2] == [
        '<tr><td><span class="err">✗ error</span></td>',
        f'<td><a href="../traces/{bad["id"]}.html">&lt;/a&gt;&lt;b&gt;x⏎</a></td><td>a&amp;b</td>',
    ]
    started = f'<td><time datetime="{iso(now - 60)}">'
    assert rows[2] == (
        f'<td class="num">1.5 ms</td><td class="num">3</td>{started}{when(now - 60, now)}</time>'
        "</td></tr>"
    )
    assert rows[3] == '<tr><td><span class="ok">✓ ok</span></td>'
    assert f'<a href="../{trace_path("../<x>")}">GET /</a>' in rows[4]
    assert made == [bad, good] and dated == []
    # The next cycle makes no row again, nor writes a start of today anew.
    again = trace_rows([good], "", now + 1)
    assert made == [bad, good] and dated == [] and again.count("<tr>") == 1
    # A day on, the start is written with its date; an older page writes whole UTC times.
    later = trace_rows([bad], "../", now + 86400)
    assert dated == [bad["start"]] and f"{started}{when(bad['start'], now + 86400)}</time>" in later
    assert "-" in when(bad["start"], now + 86400)
    older = trace_rows([bad], "../", None)
    assert older == later.replace(when(bad["start"], now + 86400), utc(bad["start"]))


def test_a_memo_keeps_what_its_last_generation_showed_and_forgets_the_rest() -> None:
    from sitegen.render.memo import GENERATION_CYCLES, CycleMemo

    made: list[str] = []
    memo = CycleMemo(
        lambda items: made.extend(items) or [item.upper() for item in items], GENERATION_CYCLES
    )
    assert memo.each(["a", "b", "c"], 1.0) == ["A", "B", "C"]
    assert memo.each(["b"], 1.0) == ["B"]
    # Two generations: b asked every cycle, c once in the second (not in the cycle before),
    # a never again.
    for cycle in range(2, 2 * GENERATION_CYCLES + 1):
        asked = ["b", "c"] if cycle == GENERATION_CYCLES + 2 else ["b"]
        assert memo.each(asked, cycle) == [item.upper() for item in asked]
    assert made == ["a", "b", "c"]  # nothing derived again
    # The third generation: a, asked in the first only, is gone; c, asked in the second, kept.
    assert memo.each(["a", "c"], 2 * GENERATION_CYCLES + 1.0) == ["A", "C"]
    assert made == ["a", "b", "c", "a"]


def test_a_run_asked_again_looks_up_only_the_items_it_did_not_hold() -> None:
    from sitegen.render.memo import CycleMemo

    @dataclasses.dataclass(frozen=True)
    class Line:  # equal copies are other lines: a memo finds items by identity
        text: str

    memo = CycleMemo(lambda items: [item.text.upper() for item in items])
    looked_up: list[list[str]] = []
    each = memo._each
    memo._each = lambda held: looked_up.append([i.text for i in held]) or each(held)

    def asked(items: list[Line], cycle: float, run: str = "tail") -> list[str]:
        looked_up.clear()
        out = memo.each(items, cycle, run=run)
        assert out == [item.text.upper() for item in items]  # what deriving each would give
        return [text for texts in looked_up for text in texts]

    a, b, c, d, e = map(Line, "abcde")
    assert asked([a, b, c], 1) == ["a", "b", "c"]
    assert asked([b, c, d], 2) == ["d"]  # one line gone at the start, one new at the end
    assert asked([b, c, e], 3) == ["e"]  # the newest replaced (a chart's bucket under way)
    assert asked([b, c, e], 3) == []  # asked again in the same cycle
    assert asked([Line("b"), c, e], 4) == ["b", "c", "e"]  # a copy: not the run it was
    assert asked([c, b], 5) == ["b"]  # out of order from the second item on
    assert asked([], 6) == [] and asked([a], 7) == ["a"]
    assert asked([d, e], 7, run="other") == ["d", "e"]  # runs are apart
    assert asked([a, d], 8) == ["d"]
    # Held through the next generation (here, of one cycle), forgotten after it.
    assert asked([a, d], 9) == [] and asked([d, e], 9, run="other") == ["d", "e"]


def test_the_logs_tail_escapes_shows_controls_and_links_only_known_traces() -> None:
    from sitegen.render.environment import log_tail

    now = 1_795_340_562.0
    known = "4bf92f3577b34da6a3ce929d0e0e4736"
    lines = [
        LogRecord(now - 5, "error", "</pre><b>x", "app<1>.log", known, (("k&", 'v"\n'),), 0.25),
        LogRecord(None, "verbose", "bidi \u202eevil", "a.log", "0af7651916cd43dd8448eb211c80319c"),
        LogRecord(now, "info", "nul\x00in it", "b.log", None, (("k", "\x00"), ("j", "<"))),
    ]
    tail = log_tail(lines, now, frozenset({known}), "../")
    first, second, third = tail.split("\n")[:3]
    assert first == (
        '<span class="dim">09:42:37</span> <span class="lv error">ERROR</span> '
        '<span class="dim">app&lt;1&gt;.log</span> &lt;/pre&gt;&lt;b&gt;x '
        '<span class="dim">took</span> 250 ms <span class="dim">k&amp;=</span>v&#34;⏎ '
        f'<a href="../traces/{known}.html">trace</a>'
    )
    # A time the line did not carry is unknown; a level it names oddly is none; an unknown
    # trace id links nowhere.
    assert second == (
        '<span class="dim">–</span> <span class="lv none">-    </span> '
        '<span class="dim">a.log</span> bidi \\u202eevil'
    )
    # A NUL byte in a value is shown as one and moves no value to another line or field.
    assert third == (
        '<span class="dim">09:42:42</span> <span class="lv info">INFO </span> '
        '<span class="dim">b.log</span> nul\\x00in it <span class="dim">k=</span>\\x00 '
        '<span class="dim">j=</span>&lt;'
    )
    assert tail.count("\n") == 3


def test_a_logs_page_task_carries_only_the_traces_its_lines_name() -> None:
    snap = snapshot(Workload(panels=1, traces=30, spans_per_trace=3, log_lines=3000))
    logs = [t for t in page_tasks(snap, common()) if t.template.startswith("logs")]
    assert len(logs) > 2
    every = {t.trace_id for t in snap.traces}
    for task in logs:
        named = {r.trace_id for r in task.data["logs"]}
        assert set(task.data["known_traces"]) == every & named  # what its links need, no more
    assert any(task.data["known_traces"] for task in logs)


def test_minify_folds_exactly_what_its_regular_expression_says() -> None:
    from sitegen.render.environment import minify

    # The definition: outside <pre> (up to its first </pre>, any case), every run of
    # whitespace holding a newline becomes one newline.
    pre = re.compile(r"(<pre\b.*?</pre>)", re.S | re.I)

    def folded(html: str) -> str:
        parts = pre.split(html)
        parts[::2] = [re.sub(r"[ \t\r]*\n\s*", "\n", p) for p in parts[::2]]
        return "".join(parts)

    alphabet = [" ", "\t", "\r", "\n", "\f", "\xa0", "\u2028", "\x1c", "a", "<", ">", "/",
                "<pre>", "</pre>", "<PRE class=x>", "</Pre>", "<prefix>", "x"]  # fmt: skip
    rng = random.Random(14)
    for _ in range(3000):
        html = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert minify(html) == folded(html), repr(html)
    page = "a \t\n \n\xa0 b\n<pre> x \n\n y </pre>\n  c \n"
    assert minify(page) == "a\nb\n<pre> x \n\n y </pre>\nc\n"


def test_a_task_key_follows_what_its_common_says_not_which_object_it_is() -> None:
    from sitegen.render.keys import task_key

    snap = snapshot(Workload(panels=1, points=20, traces=2, spans_per_trace=3, log_lines=5))
    first, again = page_tasks(snap, common()), page_tasks(snap, common())  # equal, not the same
    assert [task_key(t, b"s") for t in first] == [task_key(t, b"s") for t in again]
    later = dataclasses.replace(common(), generated_at=common().generated_at + 30)
    keys = {t.path: task_key(t, b"s") for t in page_tasks(snap, later)}
    # Thirty seconds on, only the pages that print no time of the cycle keep their keys.
    assert {t.path for t in first if keys[t.path] == task_key(t, b"s")} == {
        t.path for t in first if t.timeless
    }
    assert any(t.timeless for t in first) and not all(t.timeless for t in first)


def test_the_metrics_pages_are_made_in_the_round_of_their_panels_and_kept_with_them() -> None:
    from sitegen.render.keys import Reuse

    rounds: list[list[str]] = []

    def render(tasks, then=None, more=None):
        rounds.append([t.name for t in tasks])
        return render_here(
            tasks, then and (lambda f: noted(then(f))), more and (lambda: noted(more()))
        )

    def noted(tasks):
        rounds[-1].extend(t.name for t in tasks)
        return tasks

    def site(reuse, css_gzip=0):
        rounds.clear()
        render_reused = reuse.cycle(render)
        done = render_site(render_reused, snap, common(), css_gzip, _no_reports, reuse.finished)
        return {p.path: p.body for p in done.pages if p.path.startswith("metrics/")}

    snap = snapshot(Workload(panels=3, points=50, traces=2, spans_per_trace=3, log_lines=10))
    reuse = Reuse()
    first = site(reuse)
    # One round for pages, panels and the metrics pages made of them; none for no reports.
    assert len(rounds) == 1 and {"panel 1", "metrics", "metrics still"} <= set(rounds[0])
    assert first["metrics/index.html"].count(b"<svg") == 3
    # The same snapshot again: panels and metrics pages kept, and made of the kept panels.
    assert site(reuse) == first and rounds == []
    # A heavier stylesheet leaves less room: the kept panels are packed into more pages.
    later = site(reuse, css_gzip=PAGE_BUDGET - 2000)
    assert not [n for n in rounds[0] if n.startswith("panel")] and "metrics 2" in rounds[0]
    assert [later[f"metrics/{name}.html"].count(b"<svg") for name in
            ("index", "page-2", "page-3", "still")] == [1, 1, 1, 1]  # fmt: skip

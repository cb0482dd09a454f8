"""Page tasks: what each page of the site shows, and rendering one task into its bytes.

Page tasks carry only the slice of the snapshot their page needs, so pickling them into the
pool stays cheap; the charts are drawn inside the worker, where the CPU time is.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter, itemgetter

from sitegen.alerts.pages import incident_pages
from sitegen.logs.stats import LEVELS, level_class, level_rows, top_errors
from sitegen.model import (
    Alert,
    LogRecord,
    Snapshot,
    StageTiming,
    TaskRecord,
    Trace,
    by_kind,
)
from sitegen.render.environment import environment, minify, trace_path
from sitegen.render.listpages import marks, older_path, page_runs
from sitegen.render.memo import GENERATION_CYCLES, CycleMemo
from sitegen.traces.stats import PerTrace, breakdown, dependencies, newest_first

# The pages every site has, besides one page per trace.
MAIN_PAGES = (
    "index.html",
    "metrics/index.html",
    "traces/index.html",
    "logs/index.html",
    "concurrency/index.html",
    "about/index.html",
    "incidents/index.html",
)
# One TCP round trip (10 segments of ~1,400 bytes): a page plus its CSS, gzipped, should fit.
PAGE_BUDGET = 14_000
# Characters of log text on one logs page (message, source, fields; a line's markup and
# time count as LOG_LINE_TEXT): log text gzips about 3:1, so a page stays near 10 KB.
LOG_PAGE_TEXT = 27_000
LOG_LINE_TEXT = 24
# Lines between two boundaries of older logs pages, at least; one line in LOG_EVERY may start
# a page (see listpages): a page of about 130 lines, at most LOG_PAGE_TEXT.
LOG_PAGE_MIN = 32
LOG_EVERY = 128
# The largest pages the about page lists.
LARGEST = 20
# Tasks the concurrency page lists one by one, the longest: a row weighs about 15 bytes
# gzipped, and a first cycle runs hundreds; each kind's count and times stand for them all.
LISTED_TASKS = 40
# Older pages of traces the traces index links by their times (about 30 bytes gzipped each,
# 10,000 traces make about 100); those before are reached page by page.
OLDER_LISTED = 100


@dataclass(frozen=True)
class Common:
    """What every page shows: title, freshness, navigation targets, stylesheet."""

    title: str
    generated_at: float
    refresh_seconds: int
    next_run: float | None
    css_href: str
    icon_href: str
    version: str
    hostname: str
    stale_sources: tuple[str, ...]
    failed_sources: tuple[str, ...]
    alerts: tuple[tuple[Alert, str], ...] = ()  # firing, each with its incident's path
    feed: bool = False  # whether feed.atom exists (it needs base_url)


def timeless(common: Common) -> Common:
    """Return what a page that prints no time of the cycle shows of `common`: not the cycle's
    times, nor its alerts and failed sources (such a page leaves out the banner)."""
    return replace(
        common, generated_at=0.0, next_run=None, alerts=(), failed_sources=(), stale_sources=()
    )


@dataclass(frozen=True)
class PageTask:
    """One page to render: where it goes, which template, and the data it shows."""

    name: str
    path: str
    template: str
    data: dict
    common: Common
    absolute: bool = False  # links from the site root, for a page served at any path
    fragment: bool = False  # a part of a page (a metrics panel), not a file of the site
    refresh: str = ""  # "live": changes every cycle, refreshes; "still": its copy that doesn't
    twin: str = ""  # the file beside it: a live page's still copy, a still copy's live page
    timeless: bool = False  # prints no time of the cycle (a finished trace): reused across cycles


@dataclass(frozen=True)
class RenderedPage:
    """A rendered, minified page and the record of the task that made it."""

    path: str
    body: bytes
    record: TaskRecord


@dataclass(frozen=True)
class Kept:
    """The pages of finished traces kept from earlier cycles and still shown: not among the
    pages of the cycle's rounds."""

    files: Mapping[str, bytes]  # by path
    bytes: int  # their sizes, summed
    largest: tuple[TaskRecord, ...]  # of the LARGEST gzipped, largest first


NOTHING_KEPT = Kept({}, 0, ())


def render_page(task: PageTask) -> RenderedPage:
    """Render and minify one page; run in a pool worker (or inline when sequential).

    A page whose data breaks its template is replaced by one saying so: one bad trace or
    panel never costs the rest of the site its update.
    """
    start, cpu = time.time_ns(), time.thread_time_ns()
    root = "/" if task.absolute else "../" * task.path.count("/")
    env, error = environment(), None
    # A timeless page is keyed without the cycle's times, alerts and failed sources, and
    # reused while its key holds: it is rendered without them too, so it can't show stale ones.
    common = timeless(task.common) if task.timeless else task.common
    try:
        html = env.get_template(task.template).render(
            c=common,
            root=root,
            page=task.name,
            refresh=task.refresh,
            twin=task.twin,
            **task.data,
        )
    except Exception as exc:  # any fault of one page's data: report it, keep the site
        error = f"{type(exc).__name__}: {exc}"[:500]
        html = env.get_template("failed.html").render(
            c=common,
            root=root,
            page=task.name,
            refresh=task.refresh,
            twin=task.twin,
            error=error,
            fragment=task.fragment,
        )
    return _page(task, minify(html).encode("utf-8"), start, cpu, error)


def _page(task: PageTask, data: bytes, start: int, cpu: int, error: str | None) -> RenderedPage:
    """Return the task's page of `data`, measured, its record timed from `start` (time_ns)
    and `cpu` (thread_time_ns)."""
    # The gzipped size is what a reader downloads: the page budget is counted in it. A
    # fragment is measured in the page it is packed into (see rounds.pack), not alone: its
    # own measure was a millisecond a cycle of compression nobody read. A still copy is
    # measured as its live page: the same bytes but its refresh lines, a few dozen bytes;
    # measured too, each page that changes every cycle was compressed twice a cycle.
    gz = 0 if task.fragment or task.refresh == "still" else len(gzip.compress(data, 6))
    # The task ends after its measure too: its span covers all the CPU time it counts.
    cpu_ns = time.thread_time_ns() - cpu
    record = TaskRecord(task.name, os.getpid(), start, time.time_ns(), len(data), gz,
                        task.fragment, error, cpu_ns=cpu_ns)  # fmt: skip
    return RenderedPage(task.path, data, record)


def _refresh_lines(refresh: str, twin: str, common: Common) -> tuple[bytes, bytes]:
    """Return what base.html prints of a page's refresh: its <meta> and its line."""
    macros = environment().get_template("_macros.html").module
    meta, line = macros.refresh_meta(refresh, common), macros.refresh_line(refresh, twin, common)
    return str(meta).encode("utf-8"), str(line).encode("utf-8")


def still_copy(task: PageTask, live_task: PageTask, live: RenderedPage) -> RenderedPage | None:
    """Return the still copy `task` made from its live page, rendered from `live_task`: the
    same bytes but the refresh <meta> and line, which base.html prints with two macros;
    None if the live page is not the same page with the other refresh (render it instead).

    Rendering the copy in full cost as much as its live page, every cycle: a sixth of a
    cycle of `sitegen run` at a 1 s interval. Its name differs too ("index still"), which
    base.html reads only for the page's section, its first word.
    """
    start, cpu = time.time_ns(), time.thread_time_ns()
    # The same page but the refresh: the very task with_still_copies makes of the live one
    # (its data and Common compared by identity first, so the same objects cost nothing).
    # A page that is not live prints no live lines: the swaps below refuse it.
    if live.record.error is not None or task != _still_task(live_task):
        return None
    body = live.body
    swaps = zip(_refresh_lines("live", live_task.twin, task.common),
                _refresh_lines("still", task.twin, task.common), strict=True)  # fmt: skip
    for printed, instead in swaps:
        # Page data is escaped, so only base.html prints these tags; once each, or not ours.
        if body.count(printed) != 1:
            return None
        body = body.replace(printed, instead)
    return _page(task, body, start, cpu, None)


def render_batch(tasks: Sequence[PageTask]) -> list[RenderedPage]:
    """Render several tasks in one worker round trip, each timed on its own; a still copy
    that follows its live page in the batch is made from that page's bytes."""
    pages: list[RenderedPage] = []
    live: dict[str, tuple[PageTask, RenderedPage]] = {}  # the live pages rendered, by path
    for task in tasks:
        twin = live.get(twin_path(task)) if task.refresh == "still" else None
        page = (twin and still_copy(task, *twin)) or render_page(task)
        if task.refresh == "live":
            live[task.path] = (task, page)
        pages.append(page)
    return pages


# What a round makes of its fragments, all rendered and in task order: more tasks for the
# same round (the metrics pages, packed from the panels). In the pool it is made in a thread
# of its own while the round renders on: it must not touch what rendering does (the jinja
# environment, the memos of the pages).
Then = Callable[[list[RenderedPage]], list[PageTask]]
# What a round makes once under way: more tasks for the same round (pages, not fragments),
# made in the main process while the first ones render in the workers.
More = Callable[[], list[PageTask]]


def render_all(
    tasks: Sequence[PageTask], then: Then | None = None, more: More | None = None
) -> list[RenderedPage]:
    """Render the tasks here, one after another, then those `more` makes, then those `then`
    makes of the fragments among the first."""
    first = render_batch(tasks)
    pages = first + (render_batch(more()) if more is not None else [])
    if then is not None:
        pages += render_batch(then([p for p in first if p.record.fragment]))
    return pages


def still_path(path: str) -> str:
    """Return where the still copy of a live page goes: beside it, `still.html` for a
    folder's index, `<name>.still.html` for any other page."""
    folder, _, name = path.rpartition("/")
    still = "still.html" if name == "index.html" else name.removesuffix(".html") + ".still.html"
    return f"{folder}/{still}" if folder else still


def twin_path(task: PageTask) -> str:
    """Return the path of the page a live page or its still copy links as its twin."""
    folder = task.path.rpartition("/")[0]
    return f"{folder}/{task.twin}" if folder else task.twin


def is_still(path: str) -> bool:
    """Return whether a path is the still copy of a live page."""
    return path.rpartition("/")[2] == "still.html" or path.endswith(".still.html")


def with_still_copies(tasks: Sequence[PageTask]) -> list[PageTask]:
    """Return the tasks and, for each page that refreshes, a copy beside it that does not.

    A static site can't stop a <meta refresh> on request (a "?norefresh" query reaches the
    same file), and without scripts a reader has no other way: the refreshing page links
    its still copy and back. Only the few pages that change every cycle have one, so the
    cost is a handful of small files.
    """
    out = []
    for t in tasks:
        if t.refresh == "live":
            live = replace(t, twin=still_path(t.path).rpartition("/")[2])
            out += [live, _still_task(live)]  # the copy right after: made of its page's bytes
        else:
            out.append(t)
    return out


def _still_task(live: PageTask) -> PageTask:
    """Return the task of a live page's still copy, from the live page's (its twin set)."""
    return replace(live, name=f"{live.name} still", path=still_path(live.path), refresh="still",
                   twin=live.path.rpartition("/")[2])  # fmt: skip


def _trace_summary(t: Trace) -> dict:
    root = t.root
    return {
        "id": t.trace_id,
        "name": root.name,
        "service": root.service,
        "start": t.start_ns / 1e9,
        "duration_ns": t.duration_ns,
        "spans": len(t.spans),
        "error": t.has_error,
    }


# Each trace's summary: the same object each cycle for a finished trace, so the data of its
# page are the same objects, and the page's key is known without being digested again.
_SUMMARIES = PerTrace(_trace_summary)
# In C: a site of 10,000 traces asks each of them, or each summary, every cycle.
_ID, _ERROR, _TRACE_ID = itemgetter("id"), itemgetter("error"), attrgetter("trace_id")
_GZIP = attrgetter("gzip_size")


def trace_task(common: Common, t: Trace) -> PageTask:
    """Return the task of a trace's page, for pages that share `common` (a timeless one)."""
    return PageTask(f"trace {t.trace_id[:8]}", trace_path(t.trace_id), "trace.html",
                    {"trace": t, "summary": _trace_summary(t)}, common, timeless=True)  # fmt: skip


def _level_counts(logs: tuple[LogRecord, ...]) -> dict[str, int]:
    """Return the lines shown per level, "-" for those naming none: the badges, the level
    chart and its table all show these numbers."""
    counts = dict.fromkeys((*LEVELS, "-"), 0)
    for record in logs:
        level = record.level or "-"
        counts[level] = counts.get(level, 0) + 1
    return counts


def traces_tasks(snap: Snapshot, summaries: list[dict], common: Common) -> list[PageTask]:
    """Return the traces pages: the newest traces with what all of them say together (the
    live index), then the older ones in pages that never change (see listpages)."""
    oldest_first = summaries[::-1]
    runs = page_runs(marks(list(map(_ID, oldest_first))))
    pages = [oldest_first[r.start : r.stop][::-1] for r in runs] or [[]]  # each newest first
    # A page is named by the first trace of the page after it; its first trace names the one
    # before it (none before the oldest).
    paths = [older_path(after[-1]["id"]) for after in pages[1:]]
    tasks = [
        PageTask(
            f"older-traces {page[-1]['id'][:8]}",
            path,
            "traces_older.html",
            {
                "traces": page,
                "first": page[-1]["start"],
                "last": page[0]["start"],
                "older": paths[k - 1].removeprefix("traces/") if k else "",
            },
            common,
            timeless=True,  # its template prints no time of the cycle
        )
        for k, (page, path) in enumerate(zip(pages, paths, strict=False))
    ]
    older = [
        (path.removeprefix("traces/"), page[-1]["start"], page[0]["start"], len(page))
        for page, path in zip(pages, paths, strict=False)
    ][::-1]
    ops = breakdown(snap.traces)
    index = PageTask(
        "traces",
        "traces/index.html",
        "traces.html",
        {
            "traces": pages[-1],
            "older": older,
            "listed": OLDER_LISTED,
            "total": len(summaries),
            "ops": ops,
            "edges": dependencies(snap.traces),
            # Every span's service has its operations in the breakdown: no walk of every span.
            "services": sorted({o.service for o in ops}),
            "sources": snap.sources,
            "now": snap.generated_at,
        },
        common,
        refresh="live",
    )
    return [index, *tasks]


def panel_tasks(snap: Snapshot, common: Common) -> list[PageTask]:
    """Return the task of each metrics panel: a fragment, alone so that its weight is known
    before panels are packed into pages."""
    return [
        PageTask(
            f"panel {n}",
            f"metrics/panel-{n}",
            "panel.html",
            {"p": panel, "n": n, "now": snap.generated_at},
            common,
            fragment=True,
        )
        for n, panel in enumerate(snap.panels, 1)
    ]


def summary_tasks(snap: Snapshot, common: Common) -> list[PageTask]:
    """Return the tasks of the pages that sum up all the data: the index, the traces index
    and its older pages, the logs pages, the incidents. Their statistics and paging walk
    every trace and line shown."""
    traces = newest_first(snap.traces)
    summaries = _SUMMARIES.each(traces)
    known_traces = frozenset(map(_TRACE_ID, snap.traces))
    level_counts = _level_counts(snap.logs)
    errors = [r for r in snap.logs if r.level in ("error", "critical")]
    sources = snap.sources
    tasks = [
        PageTask(
            "index",
            "index.html",
            "index.html",
            {
                "figures": snap.figures,
                "sources": sources,
                "traces": summaries[:5],
                "trace_count": len(summaries),
                "error_traces": sum(map(_ERROR, summaries)),
                "level_rows": level_rows(level_counts),
                "recent_errors": errors[-5:][::-1],  # newest first, as on the logs pages
                "panel_count": len(snap.panels),
                "host": snap.host,
                "now": snap.generated_at,
                "days": snap.days,
                "incidents": snap.incidents,
            },
            common,
            refresh="live",
        ),
        # Served by the CDN in place of any missing path, so its links start at the root.
        # It prints no time of the cycle: rendered, written and published once, not each
        # cycle, until the templates, the stylesheet or the version change.
        PageTask("404", "404.html", "404.html", {}, common, absolute=True, timeless=True),
        *traces_tasks(snap, summaries, common),
    ]
    tasks += log_tasks(snap, common, level_counts, known_traces)
    tasks += [PageTask(**page, common=common) for page in incident_pages(snap)]
    return tasks


def guided_runs(costs: Sequence[float], share: float, least: float) -> list[list[int]]:
    """Split item indexes, in order, into runs each costing at most 1/`share` of what is left
    to split, and at least `least` (an item costing more gets a run of its own)."""
    runs: list[list[int]] = []
    left, used, budget = sum(costs), 0.0, -1.0  # -1: the first item opens a run
    for i, cost in enumerate(costs):
        if used + cost > budget:
            runs.append([])
            used, budget = 0.0, max(least, left / share)
        runs[-1].append(i)
        used += cost
        left -= cost
    return runs


def _line_text(r: LogRecord) -> int:
    """Return what a line weighs on a logs page: its text, and its markup and time."""
    return (
        LOG_LINE_TEXT
        + len(r.message)
        + len(r.source)
        + sum(len(k) + len(v) + 2 for k, v in r.fields)
    )


# Each line's weight, counted once while the line is shown (in this process: tasks are made
# here, not in the pool).
_LINE_TEXT = CycleMemo(lambda records: list(map(_line_text, records)), GENERATION_CYCLES)


def _line_key(r: LogRecord) -> str:
    """Return what tells a log line from the others: its time (or place), source and text."""
    return f"{r.order!r}\x1f{r.source}\x1f{r.message}"


# Whether each line may start an older logs page, told once while the line is shown.
_LINE_MARK = CycleMemo(lambda records: marks(list(map(_line_key, records)), LOG_EVERY),
                       GENERATION_CYCLES)  # fmt: skip


def log_pages(
    logs: Sequence[LogRecord], cycle: float, budget: int = LOG_PAGE_TEXT
) -> list[list[LogRecord]]:
    """Split the tail into pages of at most about `budget` characters of text (older pages,
    half that), newest first on every page and from page to page (a line longer than that
    gets a page of its own); for the cycle of time `cycle`.

    The lines choose where older pages begin (see listpages), so an older page keeps its
    lines, and its bytes, while new lines come and the oldest go: it is rendered and
    published once, not every cycle as when pages were cut from the newest line. The first
    page takes the newest of those runs of lines while they fit the budget together: it
    shows as many new lines as a page holds, and a run leaves it whole, for good.
    """
    # Asked oldest first, as the tail is held, so the lines it still holds are found as a run.
    weights = _LINE_TEXT.each(logs, cycle, run="logs")
    marked = _LINE_MARK.each(logs, cycle, run="logs")
    # Runs of at most half a page: the first page, made of whole runs, then always holds
    # at least half a page of the newest lines (once the tail has that many).
    runs = page_runs(marked, LOG_PAGE_MIN, budget / 2, weights) or [range(0)]
    first, weight = len(runs) - 1, sum(weights[i] for i in runs[-1])
    while first and weight + sum(weights[i] for i in runs[first - 1]) <= budget:
        first -= 1
        weight += sum(weights[i] for i in runs[first])
    pages = [range(runs[first].start, len(logs)), *reversed(runs[:first])]  # newest first
    return [[logs[i] for i in reversed(page)] for page in pages]


def older_log_paths(pages: Sequence[Sequence[LogRecord]]) -> list[str]:
    """Return the path of each older logs page (`pages` newest first, the live one first):
    named by the line that starts the page after it, as an older traces page is. Lines are
    not unique: a name already given gets a count after it."""
    paths, given = [], Counter[str]()
    for newer in pages[:-1]:
        key = _line_key(newer[-1]).encode("utf-8", "surrogatepass")
        name = hashlib.blake2b(key, digest_size=8).hexdigest()
        given[name] += 1
        paths.append(f"logs/before-{name}{f'-{given[name] - 1}' if given[name] > 1 else ''}.html")
    return paths


def log_tasks(
    snap: Snapshot, common: Common, level_counts: dict[str, int], known: frozenset[str]
) -> list[PageTask]:
    """Return the logs pages: the newest lines with the summaries (the live index), then the
    older lines in pages that never change while they are shown."""
    pages = log_pages(snap.logs, snap.generated_at)
    paths = older_log_paths(pages)
    rows = level_rows(level_counts)
    index = PageTask(
        "logs",
        "logs/index.html",
        "logs.html",
        {
            "logs": pages[0],
            "total": len(snap.logs),
            "older": [
                (path.removeprefix("logs/"), page[-1].ts, page[0].ts, len(page))
                for path, page in zip(paths, pages[1:], strict=True)
            ],
            "listed": OLDER_LISTED,
            "top_errors": top_errors(snap.logs),
            "level_rows": rows,
            "level_bars": [f"lv {level_class(level)}" for level, _ in rows],
            # Only the traces this page's lines name: less to send.
            "known_traces": known & {r.trace_id for r in pages[0]},
            "sources": snap.sources,
            "now": snap.generated_at,
        },
        common,
        refresh="live",
    )
    return [
        index,
        *(
            PageTask(
                f"older-logs {path[12:20]}",
                path,
                "logs_older.html",
                {
                    "logs": page,
                    "first": page[-1].ts,
                    "last": page[0].ts,
                    "older": paths[k + 1].removeprefix("logs/") if k + 1 < len(paths) else "",
                    # The traces its lines name that have a page: a tuple of the lines' own
                    # ids, the same objects each cycle, so the page's key is not digested
                    # again while it shows the same lines and links.
                    "known_traces": tuple(
                        sorted({r.trace_id for r in page if r.trace_id in known})
                    ),
                },
                common,
                timeless=True,  # its template prints no time of the cycle
            )
            for k, (path, page) in enumerate(zip(paths, pages[1:], strict=True))
        ),
    ]


def _took(record: TaskRecord) -> int:
    return record.end_ns - record.start_ns


def _kinds(records: Sequence[TaskRecord]) -> list[dict]:
    """Return each kind of task's count and times (all, median, longest), the costliest first."""
    took = by_kind(records, _took)
    kinds = [
        {"kind": kind, "tasks": len(ns), "busy_ns": sum(ns),
         "median_ns": int(statistics.median(ns)), "longest_ns": max(ns)}
        for kind, ns in took.items()
    ]  # fmt: skip
    return sorted(kinds, key=itemgetter("busy_ns"), reverse=True)


def _listed(records: Sequence[TaskRecord]) -> list[TaskRecord]:
    """Return the LISTED_TASKS longest tasks, in the order they started."""
    longest = sorted(records, key=_took, reverse=True)[:LISTED_TASKS]
    return sorted(longest, key=attrgetter("start_ns"))


def _utilisation(records: tuple[TaskRecord, ...]) -> dict:
    """Measure the pool's work: when it started, wall time, busy time per worker, and
    speedup over one worker."""
    if not records:
        return {"start_ns": 0, "wall_ns": 0, "busy_ns": 0, "speedup": 0.0, "workers": []}
    start = min(r.start_ns for r in records)
    wall = max(r.end_ns for r in records) - start
    busy: dict[int, int] = {}
    for r in records:
        busy[r.pid] = busy.get(r.pid, 0) + _took(r)
    total = sum(busy.values())
    workers = [
        {
            "pid": pid,
            "tasks": sum(1 for r in records if r.pid == pid),
            "busy_ns": ns,
            "share": 100.0 * ns / wall if wall else 0.0,
        }
        for pid, ns in sorted(busy.items())
    ]
    return {
        "start_ns": start,
        "wall_ns": wall,
        "busy_ns": total,
        # Task time summed over workers / wall time: what one worker would need, relatively.
        "speedup": total / wall if wall else 0.0,
        "workers": workers,
    }


def report_tasks(
    snap: Snapshot,
    common: Common,
    records: tuple[TaskRecord, ...],
    stages: tuple[StageTiming, ...],
    pool_workers: int,
    config_source: str,
    assets: dict[str, bytes],
    kept: Kept = NOTHING_KEPT,
) -> list[PageTask]:
    """Return the tasks for the pages about sitegen's own work in this cycle, whose rounds
    made `records` and kept the pages `kept` from earlier cycles."""
    ran = tuple(r for r in records if not r.reused)
    durations = list(map(_took, ran))
    pages = [r for r in records if not r.fragment]
    measured = [r for r in pages if r.gzip_size]  # not the still copies: their pages are
    largest = sorted((*measured, *kept.largest), key=_GZIP, reverse=True)[:LARGEST]
    asset_sizes = [(path, len(data), len(gzip.compress(data, 6))) for path, data in assets.items()]
    css_gzip = sum(gz for path, _, gz in asset_sizes if path.endswith(".css"))
    return [
        PageTask(
            "concurrency",
            "concurrency/index.html",
            "concurrency.html",
            {
                "records": ran,
                "listed": _listed(ran),
                "kinds": _kinds(ran),
                "reused": len(records) - len(ran) + len(kept.files),
                "use": _utilisation(ran),
                "pool_workers": pool_workers,
                # Not "here": base.html sets that name (the nav section) for every block.
                "in_main": all(r.pid == os.getpid() for r in ran),  # none went to the pool
                "main_pid": os.getpid(),
                "median_ns": int(statistics.median(durations)) if durations else 0,
                "now": snap.generated_at,
            },
            common,
            refresh="live",
        ),
        PageTask(
            "about",
            "about/index.html",
            "about.html",
            {
                "stage_items": [(s.name, s.seconds) for s in stages],
                "cycles": snap.cycles,  # the self source reads the ones the page lists
                "largest": largest,
                "assets": asset_sizes,
                "css_gzip": css_gzip,
                "budget": PAGE_BUDGET,
                "page_count": len(pages) + len(kept.files),
                "total_bytes": sum(r.size for r in pages) + kept.bytes,
                "sources": snap.sources,
                "host": snap.host,
                "config_source": config_source,
                "site": snap.site,
                "cdn_panels": [p for p in snap.panels if p.source == "cloudfront"],
                "now": snap.generated_at,
            },
            common,
            refresh="live",
        ),
    ]

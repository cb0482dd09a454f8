"""Snapshot -> pages: the jinja2 environment and the page tasks the pool runs.

Page tasks carry only the slice of the snapshot their page needs, so pickling them into the
pool stays cheap; the charts are drawn inside the worker, where the CPU time is.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import statistics
import time
from dataclasses import dataclass
from functools import cache

import jinja2

from sitegen import charts
from sitegen.logstats import LEVELS, top_errors
from sitegen.model import LogRecord, Snapshot, StageTiming, TaskRecord, Trace
from sitegen.paths import data_dir
from sitegen.tracestats import breakdown, critical_path, dependencies
from sitegen.units import format_duration_ns, format_value

TEMPLATES_DIR = data_dir("templates")
# The pages every site has, besides one page per trace.
MAIN_PAGES = (
    "index.html",
    "metrics/index.html",
    "traces/index.html",
    "logs/index.html",
    "concurrency/index.html",
    "about/index.html",
)
# One TCP round trip (10 segments of ~1,400 bytes): a page plus its CSS, gzipped, should fit.
PAGE_BUDGET = 14_000
_SAFE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.S | re.I)
_NEWLINE_RUN = re.compile(r"[ \t\r]*\n\s*")


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


@dataclass(frozen=True)
class PageTask:
    """One page to render: where it goes, which template, and the data it shows."""

    name: str
    path: str
    template: str
    data: dict
    common: Common
    absolute: bool = False  # links from the site root, for a page served at any path


@dataclass(frozen=True)
class RenderedPage:
    """A rendered, minified page and the record of the task that made it."""

    path: str
    body: bytes
    record: TaskRecord


def utc(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """Format UNIX seconds as UTC text."""
    if ts is None:
        return "–"
    return time.strftime(fmt, time.gmtime(ts))


def iso(ts: float) -> str:
    """Format UNIX seconds as an ISO 8601 UTC timestamp."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def ago(ts: float | None, now: float) -> str:
    """Say how long before `now` the time `ts` was, as "3m 20s ago"."""
    if ts is None:
        return "never"
    return format_value(max(0.0, now - ts), "seconds") + " ago"


def trace_path(trace_id: str) -> str:
    """Return the site path of a trace's page; hostile ids get a hash for a file name."""
    name = trace_id if _SAFE_ID.match(trace_id) else hashlib.sha256(trace_id.encode()).hexdigest()
    return f"traces/{name[:32]}.html"


@cache
def environment() -> jinja2.Environment:
    """Return this process's jinja2 environment: autoescaped, strict, with the chart helpers."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.environ.get("SITEGEN_TEMPLATES", TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=format_value, dur=format_duration_ns, utc=utc, iso=iso)
    env.globals.update(
        line_chart=charts.line_chart,
        sparkline=charts.sparkline,
        waterfall=charts.waterfall,
        gantt=charts.gantt,
        hbars=charts.hbars,
        depmap=charts.depmap,
        critical_path=critical_path,
        ago=ago,
        trace_path=trace_path,
        levels=LEVELS,
    )
    return env


def minify(html: str) -> str:
    """Fold every whitespace run holding a newline into one newline, except inside <pre>.

    Browsers render such a run like one space, so the page looks the same. A full minifier
    (minify-html) was tried: it also decodes entities (``&lt;`` inside <title> and attribute
    values becomes ``<``), which is valid HTML but defeats byte-level audits for markup.
    """
    parts = _PRE.split(html)
    parts[::2] = [_NEWLINE_RUN.sub("\n", p) for p in parts[::2]]
    return "".join(parts)


def render_page(task: PageTask) -> RenderedPage:
    """Render and minify one page; run in a pool worker (or inline when sequential)."""
    start = time.time_ns()
    root = "/" if task.absolute else "../" * task.path.count("/")
    html = (
        environment()
        .get_template(task.template)
        .render(c=task.common, root=root, page=task.name, **task.data)
    )
    data = minify(html).encode("utf-8")
    end = time.time_ns()
    # The gzipped size is what a reader downloads: the page budget is counted in it.
    gz = len(gzip.compress(data, 6))
    return RenderedPage(
        task.path, data, TaskRecord(task.name, os.getpid(), start, end, len(data), gz)
    )


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


def _level_counts(logs: tuple[LogRecord, ...]) -> dict[str, int]:
    counts = dict.fromkeys(LEVELS, 0)
    for record in logs:
        counts[record.level] = counts.get(record.level, 0) + 1
    return counts


def page_tasks(snap: Snapshot, common: Common) -> list[PageTask]:
    """Return the tasks for every page drawn from the snapshot's data."""
    summaries = [_trace_summary(t) for t in snap.traces]
    known_traces = frozenset(t.trace_id for t in snap.traces)
    level_counts = _level_counts(snap.logs)
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
                "error_traces": sum(1 for s in summaries if s["error"]),
                "level_counts": level_counts,
                "recent_errors": [r for r in snap.logs if r.level in ("error", "critical")][-5:],
                "panel_count": len(snap.panels),
                "host": snap.host,
                "now": snap.generated_at,
            },
            common,
        ),
        # Served by the CDN in place of any missing path, so its links start at the root.
        PageTask("404", "404.html", "404.html", {}, common, absolute=True),
        PageTask(
            "metrics",
            "metrics/index.html",
            "metrics.html",
            {"panels": snap.panels, "now": snap.generated_at},
            common,
        ),
        PageTask(
            "traces",
            "traces/index.html",
            "traces.html",
            {
                "traces": summaries,
                "ops": breakdown(snap.traces),
                "edges": dependencies(snap.traces),
                "services": sorted({s.service for t in snap.traces for s in t.spans}),
                "now": snap.generated_at,
            },
            common,
        ),
        PageTask(
            "logs",
            "logs/index.html",
            "logs.html",
            {
                "logs": snap.logs,
                "top_errors": top_errors(snap.logs),
                "level_panels": [p for p in snap.panels if p.query == "log_lines"],
                "level_counts": level_counts,
                "known_traces": known_traces,
                "sources": sources,
                "now": snap.generated_at,
            },
            common,
        ),
    ]
    tasks += [
        PageTask(
            f"trace {t.trace_id[:8]}",
            trace_path(t.trace_id),
            "trace.html",
            {"trace": t, "summary": s, "now": snap.generated_at},
            common,
        )
        for t, s in zip(snap.traces, summaries, strict=True)
    ]
    return tasks


def _utilisation(records: tuple[TaskRecord, ...]) -> dict:
    """Measure the pool's work: wall time, busy time per worker, and speedup over one worker."""
    if not records:
        return {"wall_ns": 0, "busy_ns": 0, "speedup": 0.0, "workers": []}
    start = min(r.start_ns for r in records)
    wall = max(r.end_ns for r in records) - start
    busy: dict[int, int] = {}
    for r in records:
        busy[r.pid] = busy.get(r.pid, 0) + (r.end_ns - r.start_ns)
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
) -> list[PageTask]:
    """Return the tasks for the pages about sitegen's own work in this cycle."""
    durations = [r.end_ns - r.start_ns for r in records]
    by_size = sorted(records, key=lambda r: -r.gzip_size)
    asset_sizes = [(path, len(data), len(gzip.compress(data, 6))) for path, data in assets.items()]
    css_gzip = sum(gz for path, _, gz in asset_sizes if path.endswith(".css"))
    return [
        PageTask(
            "concurrency",
            "concurrency/index.html",
            "concurrency.html",
            {
                "records": records,
                "use": _utilisation(records),
                "pool_workers": pool_workers,
                "median_ns": int(statistics.median(durations)) if durations else 0,
                "now": snap.generated_at,
            },
            common,
        ),
        PageTask(
            "about",
            "about/index.html",
            "about.html",
            {
                "stage_items": [(s.name, s.seconds) for s in stages],
                "cycles": snap.cycles[-20:],
                "largest": by_size[:20],
                "assets": asset_sizes,
                "css_gzip": css_gzip,
                "budget": PAGE_BUDGET,
                "page_count": len(records),
                "total_bytes": sum(r.size for r in records),
                "sources": snap.sources,
                "host": snap.host,
                "config_source": config_source,
                "site": snap.site,
                "cdn_panels": [p for p in snap.panels if p.source == "cloudfront"],
                "now": snap.generated_at,
            },
            common,
        ),
    ]

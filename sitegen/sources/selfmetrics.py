"""sitegen's own metrics: stage timings, site size and memory, from the history of its cycles."""

from __future__ import annotations

import time

import psutil

from sitegen.model import SiteStats, Uptime
from sitegen.sources.base import MetricDef, Part, SourceContext, history_part
from sitegen.units import counted

NAME = "self"
# The recent cycles the about page lists. Only those are read: 200 were read, decoded and
# cached every cycle, a cost that grew through a run's first 200 cycles for 20 rows shown.
CYCLES_SHOWN = 20

METRICS = (
    MetricDef(
        "sitegen cycle time by stage", "sitegen_cycle_seconds", "seconds", "area", figure="Cycle"
    ),
    MetricDef("sitegen memory (RSS)", "sitegen_rss_bytes", "bytes", figure="RSS"),
    MetricDef("Site size", "sitegen_site_bytes", "bytes"),
    MetricDef(
        "sitegen render tasks by duration",
        "sitegen_task_seconds_bucket",
        "seconds",
        "heatmap",
        counts="tasks per cycle",
    ),
)


def site_stats(ctx: SourceContext) -> SiteStats:
    """Return the public site's uptime, what recent publishes sent, the budget used."""
    from sitegen.site.publish import MONTHLY_PATH_BUDGET, PublishState  # botocore: if publishing

    uptime = tuple(
        Uptime(label, *ctx.history.uptime(ctx.now, hours))
        for label, hours in (("1 h", 1), ("24 h", 24), ("30 d", 720))
    )
    since = ctx.now - 86400

    def points(metric: str) -> tuple:
        series = ctx.history.series(metric, since, interval=ctx.cfg.site.interval_seconds)
        return series[0].points if series else ()

    month = time.strftime("%Y-%m", time.gmtime(ctx.now))
    used = PublishState(ctx.state_dir).load().get("invalidation_paths", {}).get(month, 0)
    return SiteStats(
        url=ctx.cfg.site.base_url,
        uptime=uptime,
        published_objects=points("sitegen_published_objects"),
        published_bytes=points("sitegen_published_bytes"),
        invalidation_paths=used,
        invalidation_budget=MONTHLY_PATH_BUDGET,
    )


def collect(ctx: SourceContext) -> Part:
    """Record this process's memory and return the self panels and recent cycles."""
    rss = psutil.Process().memory_info().rss
    ctx.history.add([("sitegen_rss_bytes", (), ctx.now, float(rss))])
    part = history_part(ctx, METRICS, source=NAME)
    cycles = ctx.history.cycles(CYCLES_SHOWN)
    return Part(
        site=site_stats(ctx) if ctx.cfg.publish.bucket else None,
        figures=part.figures,
        panels=part.panels,
        cycles=cycles,
        # A first render has none: "the last 0 cycles" was what a newcomer's first page said.
        detail=f"the last {counted(len(cycles), 'cycle')} read from history"
        if cycles
        else "no cycle in the history yet",
    )

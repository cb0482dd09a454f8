"""sitegen's own metrics: stage timings, site size and memory, from the history of its cycles."""

from __future__ import annotations

import psutil

from sitegen.sources.base import MetricDef, Part, SourceContext, history_part

NAME = "self"
CYCLES_SHOWN = 200

METRICS = (
    MetricDef(
        "sitegen cycle time by stage", "sitegen_cycle_seconds", "seconds", "area", figure="Cycle"
    ),
    MetricDef("sitegen memory (RSS)", "sitegen_rss_bytes", "bytes", figure="RSS"),
    MetricDef("Site size", "sitegen_site_bytes", "bytes"),
)


def collect(ctx: SourceContext) -> Part:
    """Record this process's memory and return the self panels and recent cycles."""
    rss = psutil.Process().memory_info().rss
    ctx.history.add([("sitegen_rss_bytes", (), ctx.now, float(rss))])
    part = history_part(ctx, METRICS, source=NAME)
    cycles = ctx.history.cycles(CYCLES_SHOWN)
    return Part(
        figures=part.figures,
        panels=part.panels,
        cycles=cycles,
        detail=f"{len(cycles)} cycles in history",
    )

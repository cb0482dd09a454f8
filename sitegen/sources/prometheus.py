"""Prometheus: one range query per [[panels]] entry, all panels in parallel, bounded.

The step is the range divided by the chart's width, aligned to the step, so a series has
about one point per pixel column and never comes near Prometheus' 11,000-point limit.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from prometheus_api_client import PrometheusConnect

from sitegen.config import PanelConfig, PrometheusConfig
from sitegen.model import Panel, Series, labels_of
from sitegen.sources.base import Part, SourceContext

NAME = "prometheus"
CHART_COLUMNS = 640
MAX_PARALLEL = 4  # queries in flight at once: enough to hide latency, gentle on the server


def client(cfg: PrometheusConfig) -> PrometheusConnect:
    """Return a client with the configured timeout and credentials."""
    headers = {"Authorization": f"Bearer {cfg.bearer_token}"} if cfg.bearer_token else None
    auth = (cfg.username, cfg.password) if cfg.username else None
    return PrometheusConnect(url=cfg.url, headers=headers, auth=auth, timeout=cfg.timeout_seconds)


def step_for(range_seconds: float) -> int:
    """Return the query step in whole seconds: about one point per chart column."""
    return max(1, math.ceil(range_seconds / CHART_COLUMNS))


def _series(result: list[dict]) -> tuple[Series, ...]:
    return tuple(
        Series(
            labels=labels_of(item.get("metric", {})),
            points=tuple((float(ts), float(v)) for ts, v in item.get("values", [])),
        )
        for item in result
    )


def query_panel(prom: PrometheusConnect, panel: PanelConfig, now: float) -> Panel:
    """Run one panel's range query; a failure is kept on the panel, not raised."""
    step = step_for(panel.range_seconds)
    end = math.floor(now / step) * step  # aligned, so consecutive cycles ask for the same points
    start = end - panel.range_seconds
    error, series = None, ()
    try:
        result = prom.custom_query_range(
            panel.query,
            start_time=datetime.fromtimestamp(start, UTC),
            end_time=datetime.fromtimestamp(end, UTC),
            step=str(step),
        )
        series = _series(result)
    except Exception as exc:  # the client raises many types; each is this panel's problem only
        error = f"{type(exc).__name__}: {exc}"
    return Panel(
        title=panel.title,
        query=panel.query,
        unit=panel.unit,
        source=NAME,
        series=series,
        range_seconds=panel.range_seconds,
        kind=panel.kind,
        error=error,
    )


def collect(ctx: SourceContext) -> Part:
    """Query every configured panel; raise when all of them failed (the server is down)."""
    prom = client(ctx.cfg.prometheus)
    panels = ctx.cfg.panels
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(panels))) as pool:
        done = list(pool.map(lambda p: query_panel(prom, p, ctx.now), panels))
    failed = [p for p in done if p.error]
    if failed and len(failed) == len(done):
        raise ConnectionError(failed[0].error)
    detail = (
        f"{len(done) - len(failed)} of {len(done)} panels queried from {ctx.cfg.prometheus.url}"
    )
    return Part(panels=tuple(done), detail=detail)

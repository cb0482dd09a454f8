"""Prometheus: the [[panels]] as range queries, all panels in parallel, bounded in time.

The step is the range divided by the chart's width, aligned to the step, so a series has
about one point per pixel column and never comes near Prometheus' 11,000-point limit; an
instant query at "now" adds each series' newest value. A panel that fails shows its last
good data labelled stale; only when every panel fails does the whole source fail.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from sitegen.charts.line import CHART_COLUMNS
from sitegen.config import PanelConfig, PrometheusConfig
from sitegen.model import Labels, Panel, Series, labels_of
from sitegen.retry import with_retries
from sitegen.sources.base import Part, SourceContext
from sitegen.state import LastGood

NAME = "prometheus"
PANEL_CACHE = "prometheus-panels"
MAX_PARALLEL = 4  # queries in flight at once: enough to hide latency, gentle on the server
_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)$", re.S)
_LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


class QueryError(Exception):
    """A query failed; `retry` says whether asking again may help."""

    def __init__(self, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel, and how its series are named."""

    promql: str
    extra: Labels = ()  # labels added to every series it returns (the quantile)
    legend: str = ""


def client(cfg: PrometheusConfig) -> PrometheusConnect:
    """Return a client with credentials and no retries of its own (we retry, bounded)."""
    headers = {"Authorization": f"Bearer {cfg.bearer_token}"} if cfg.bearer_token else None
    auth = (cfg.username, cfg.password) if cfg.username else None
    # The client's default Retry backs off for seconds per attempt, blind to our deadline.
    return PrometheusConnect(
        url=cfg.url,
        headers=headers,
        auth=auth,
        timeout=cfg.timeout_seconds,
        retry=Retry(0, read=False),
    )


def step_for(range_seconds: float) -> int:
    """Return the query step in whole seconds: about one point per chart column."""
    return max(1, math.ceil(range_seconds / CHART_COLUMNS))


def queries(panel: PanelConfig) -> list[Query]:
    """Return the PromQL a panel runs: its query, its histogram's buckets for a heatmap, or
    one query per percentile of its histogram."""
    if panel.query:
        return [Query(panel.query, legend=panel.legend)]
    name, brace, selector = panel.histogram.partition("{")
    by = ", ".join(("le", *panel.by))
    rate = f"{panel.rate_seconds}s"
    if panel.kind == "heatmap":
        # The buckets themselves, summed over everything but le: the chart differences them.
        buckets = f"sum by (le) (rate({name}_bucket{brace}{selector}[{rate}]))"
        return [Query(buckets, legend=panel.legend or "le {{le}}")]
    out = []
    for q in panel.percentiles:
        promql = (
            f"histogram_quantile({q:g}, sum by ({by}) "
            f"(rate({name}_bucket{brace}{selector}[{rate}])))"
        )
        default = f"p{q * 100:g}" + "".join(f" {{{{{label}}}}}" for label in panel.by)
        out.append(Query(promql, (("quantile", f"{q:g}"),), panel.legend or default))
    return out


def legend(template: str, labels: Labels) -> str:
    """Fill a legend template such as "{{service}} p95" from a series' labels."""
    values = dict(labels)
    return _LEGEND.sub(lambda m: values.get(m.group(1), ""), template).strip()


def _server_message(body: str) -> str:
    """Return Prometheus' own error text from a response body, or the body itself."""
    match = re.search(r'"error":"((?:[^"\\]|\\.)*)"', body)
    if not match:
        return body[:300]
    kind = re.search(r'"errorType":"([^"]*)"', body)
    text = json.loads(f'"{match.group(1)}"')
    return f"{kind.group(1)}: {text}" if kind else text


def _classify(exc: Exception, url: str, timeout: float) -> QueryError:
    if isinstance(exc, requests.Timeout):
        return QueryError(f"timed out after {timeout:g}s asking {url}", retry=True)
    if isinstance(exc, requests.ConnectionError):
        refused = "refused" in str(exc).lower()
        why = "connection refused" if refused else f"cannot connect ({type(exc).__name__})"
        return QueryError(f"{why}: {url}", retry=True)
    if isinstance(exc, PrometheusApiClientException) and (m := _STATUS.match(str(exc))):
        status, body = int(m.group(1)), m.group(2)
        body = body[2:-1].encode().decode("unicode_escape") if body[:2] in ("b'", 'b"') else body
        message = _server_message(body)
        if status in (400, 422):
            return QueryError(f"PromQL error ({message})", retry=False)
        return QueryError(f"HTTP {status} from {url}: {message}", retry=status >= 500)
    return QueryError(f"{type(exc).__name__}: {exc}", retry=False)


def ask(call: Callable[[float], Any], url: str, timeout: float, deadline: float) -> Any:
    """Run call(timeout) with retries, backoff and jitter, never past the deadline."""

    def attempt(seconds: float) -> Any:
        try:
            return call(seconds)
        except Exception as exc:  # the client raises requests' and its own types
            raise _classify(exc, url, seconds) from exc

    return with_retries(attempt, timeout, deadline, QueryError, url)


def _series(result: list[dict], query: Query) -> list[Series]:
    out = []
    for item in result:
        labels = labels_of({**item.get("metric", {}), **dict(query.extra)})
        values = item.get("values") or ([item["value"]] if "value" in item else [])
        out.append(
            Series(
                labels=labels,
                points=tuple((float(ts), float(v)) for ts, v in values),
                legend=legend(query.legend, labels) if query.legend else "",
            )
        )
    return out


def query_panel(
    prom: PrometheusConnect, cfg: PrometheusConfig, panel: PanelConfig, now: float, deadline: float
) -> Panel:
    """Run one panel's queries; a failure is kept on the panel, not raised."""
    step = step_for(panel.range_seconds)
    end = math.floor(now / step) * step  # aligned: consecutive cycles ask for the same points
    start = end - panel.range_seconds
    shown = queries(panel)
    series: list[Series] = []
    error = None
    try:
        for q in shown:
            ranged = ask(
                lambda t, q=q: prom.custom_query_range(
                    q.promql,
                    start_time=datetime.fromtimestamp(start, UTC),
                    end_time=datetime.fromtimestamp(end, UTC),
                    step=str(step),
                    timeout=t,
                ),
                cfg.url, cfg.timeout_seconds, deadline,
            )  # fmt: skip
            latest = ask(
                lambda t, q=q: prom.custom_query(q.promql, params={"time": now}, timeout=t),
                cfg.url, cfg.timeout_seconds, deadline,
            )  # fmt: skip
            newest = {s.labels: s.points for s in _series(latest, q)}
            for s in _series(ranged, q):
                # The instant value is the newest there is; the range ends at a step boundary.
                after = s.points[-1][0] if s.points else -math.inf
                extra = tuple(p for p in newest.get(s.labels, ()) if p[0] > after)
                series.append(replace(s, points=s.points + extra))
    except QueryError as exc:
        error, series = str(exc), []
    return Panel(
        title=panel.title,
        query="\n".join(q.promql for q in shown),
        unit=panel.unit,
        source=NAME,
        series=tuple(series),
        range_seconds=panel.range_seconds,
        kind=panel.kind,
        error=error,
        note=None if error or series else "the query returned no series",
        thresholds=panel.thresholds,
    )


def collect(ctx: SourceContext) -> Part:
    """Query every panel; a failed panel falls back alone; raise only when all failed."""
    cfg = ctx.cfg.prometheus
    prom = client(cfg)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ctx.cfg.panels))) as pool:
        done = list(
            pool.map(lambda p: query_panel(prom, cfg, p, ctx.now, ctx.deadline), ctx.cfg.panels)
        )
    cache = LastGood(ctx.state_dir)
    saved: dict = cache.load(PANEL_CACHE) or {}
    kept, panels = {}, []
    for panel in done:
        key = f"{panel.title}\n{panel.query}"
        if panel.error is None:
            kept[key] = (ctx.now, panel)
            panels.append(panel)
        elif key in saved:
            since, good = saved[key]
            kept[key] = saved[key]
            panels.append(replace(good, error=panel.error, stale_since=since))
        else:
            panels.append(panel)
    cache.save(PANEL_CACHE, kept)
    failed = [p for p in done if p.error]
    detail = f"{len(done) - len(failed)} of {len(done)} panels queried from {cfg.url}"
    # Every panel failing means the server is down or unreachable: the source failed.
    error = failed[0].error if failed and len(failed) == len(done) else None
    return Part(panels=tuple(panels), detail=detail, error=error)

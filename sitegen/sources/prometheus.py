"""Prometheus: the [[panels]] as range queries, all panels in parallel, bounded in time.

The step is the range divided by the chart's width, aligned to the step, so a series has
about one point per pixel column and never comes near Prometheus' 11,000-point limit; an
instant query at "now" adds each series' newest value. A panel that fails shows its last
good data labelled stale; only when every panel fails does the whole source fail.

The queries are prometheus-api-client's (PrometheusConnect), its requests sent through
httpapi.Session. What a server says is not trusted: every request is bounded in time as a
whole and in size (httpapi.fetch), an answer of the wrong shape is that panel's error, a
panel draws at most its `max_series` series (the rest are counted), label values are
redacted, label names and values are cut to MAX_LABEL_CHARS, and titles, queries and error
texts are redacted too.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect

from sitegen.charts.line import CHART_COLUMNS
from sitegen.config import PanelConfig, PrometheusConfig
from sitegen.model import Labels, Panel, Series
from sitegen.redact import redact
from sitegen.retry import with_retries
from sitegen.sources import httpapi
from sitegen.sources.base import Part, SourceContext
from sitegen.state import LastGood, is_time
from sitegen.units import counted

NAME = "prometheus"
PANEL_CACHE = "prometheus-panels"
MAX_PARALLEL = 4  # queries in flight at once: enough to hide latency, gentle on the server
# 50 series of 720 points take about 2 MB as JSON: an answer past this is not a chart.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
MAX_LABEL_CHARS = 120  # a label longer than this is cut (with "…") before it is kept anywhere
# How the library words a non-200 answer: "HTTP Status Code 400 (b'...body...')".
_STATUS = re.compile(r"HTTP Status Code (\d+) \((b(?:'.*'|\".*\"))\)$", re.S)
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


def client(cfg: PrometheusConfig, http: httpx.Client) -> PrometheusConnect:
    """Return the API client with the configured credentials, asking through `http`."""
    headers = {"Authorization": f"Bearer {cfg.bearer_token}"} if cfg.bearer_token else None
    auth = (cfg.username, cfg.password) if cfg.username else None
    session = httpapi.Session(http, MAX_ANSWER_BYTES)
    return PrometheusConnect(url=cfg.url, headers=headers, auth=auth, session=session)


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


def _server_message(body: bytes) -> str:
    """Return Prometheus' own error text from a response body, or the body's first line."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        kind = doc.get("errorType")
        return f"{kind}: {doc['error']}" if isinstance(kind, str) else doc["error"]
    return " ".join(body[:300].decode("utf-8", "replace").split())


def _refused(exc: PrometheusApiClientException, url: str) -> QueryError:
    """Return our error for the library's one for a non-200 answer, with the server's text."""
    match = _STATUS.match(str(exc))
    if not match:
        return QueryError(f"{url}: {exc}"[:300])
    status, body = int(match.group(1)), ast.literal_eval(match.group(2))
    if status in (400, 422):
        return QueryError(f"PromQL error ({_server_message(body)})")
    retry = status >= 500 or status == 429
    return QueryError(f"HTTP {status} from {url}: {_server_message(body)}", retry=retry)


def ask(call: Callable[[float], Any], cfg: PrometheusConfig, path: str, deadline: float) -> list:
    """Return call(seconds allowed)'s result list, a library query of `path`, with retries,
    backoff and jitter, never past the deadline."""
    url = f"{cfg.url}{path}"

    def attempt(seconds: float) -> list:
        try:
            result = call(seconds)
        except httpapi.ApiError as exc:  # from httpapi.Session: time, size, transport, JSON
            raise QueryError(str(exc), retry=exc.retry) from exc
        except PrometheusApiClientException as exc:
            raise _refused(exc, url) from exc
        except (KeyError, TypeError):  # the library reads answer["data"]["result"] unchecked
            result = None
        if not isinstance(result, list):
            raise QueryError(f"malformed answer from {url}: no data.result list")
        return result

    return with_retries(attempt, cfg.timeout_seconds, deadline, QueryError, url)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def _number(value: Any) -> float:
    # Sample values are strings ("0.5", "NaN", "+Inf"); timestamps are numbers.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"not a number: {value!r}"[:80])
    return float(value)


def _time(value: Any) -> float:
    ts = _number(value)
    if not math.isfinite(ts):
        raise ValueError(f"not a time: {value!r}"[:80])
    return ts


def _series(result: list, query: Query) -> list[Series]:
    """Turn a query's result into series (label values as sent: see _shown); raise
    QueryError when any item is malformed."""
    out = []
    for i, item in enumerate(result):
        try:
            metric = item.get("metric", {})
            values = item["values"] if "values" in item else [item["value"]]
            if not isinstance(metric, dict) or not isinstance(values, list):
                raise TypeError("metric must be an object, values an array")
            labels = tuple(
                sorted((_cut(str(k)), str(v)) for k, v in {**metric, **dict(query.extra)}.items())
            )
            points = tuple(sorted((_time(ts), _number(v)) for ts, v in values))
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise QueryError(f"malformed series #{i} in the answer: {exc}"[:200]) from None
        out.append(Series(labels=labels, points=points))
    return out


def _shown(series: Series, query: Query, patterns: tuple[str, ...]) -> Series:
    """Return a series as it may be shown: label values redacted, then cut, and its name.

    Done only for the series a panel keeps: redaction is the costly part of a big answer.
    """
    labels = tuple((k, _cut(redact(v, patterns))) for k, v in series.labels)
    name = legend(query.legend, labels) if query.legend else ""
    return replace(series, labels=labels, legend=name)


def _newest(series: Series) -> float:
    """The series' newest value for ranking, NaN (unknown) last."""
    value = series.points[-1][1] if series.points else math.nan
    return -math.inf if math.isnan(value) else value


def query_panel(
    prom: PrometheusConnect,
    cfg: PrometheusConfig,
    panel: PanelConfig,
    now: float,
    deadline: float,
    patterns: tuple[str, ...] = (),
) -> Panel:
    """Run one panel's queries; a failure is kept on the panel, not raised.

    `patterns` are the [redact] patterns, applied to label values, the title and any error.
    """
    step = step_for(panel.range_seconds)
    end = math.floor(now / step) * step  # aligned: consecutive cycles ask for the same points
    start = end - panel.range_seconds
    shown = queries(panel)
    found: list[tuple[Series, Query]] = []
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
                cfg, "/api/v1/query_range", deadline,
            )  # fmt: skip
            latest = ask(
                lambda t, q=q: prom.custom_query(q.promql, params={"time": now}, timeout=t),
                cfg, "/api/v1/query", deadline,
            )  # fmt: skip
            newest = {s.labels: s.points for s in _series(latest, q)}
            for s in _series(ranged, q):
                # The instant value is the newest there is; the range ends at a step boundary.
                after = s.points[-1][0] if s.points else -math.inf
                extra = tuple(p for p in newest.get(s.labels, ()) if p[0] > after)
                found.append((replace(s, points=s.points + extra, step=step), q))
    except QueryError as exc:
        error, found = redact(str(exc), patterns), []
    hidden, note = len(found) - panel.max_series, None
    if hidden > 0:  # the largest newest values are the ones a reader looks for
        found = sorted(found, key=lambda f: _newest(f[0]), reverse=True)[: panel.max_series]
        note = f"{hidden} more series not shown (max_series = {panel.max_series})"
    series = [_shown(s, q, patterns) for s, q in found]
    return Panel(
        title=redact(panel.title, patterns),
        query=redact("\n".join(q.promql for q in shown), patterns),
        unit=panel.unit,
        source=NAME,
        series=tuple(series),
        range_seconds=panel.range_seconds,
        kind=panel.kind,
        error=error,
        note=note or (None if error or series else "the query returned no series"),
        thresholds=panel.thresholds,
    )


def _panel_cache(value: object) -> bool:
    """Whether value is what collect() keeps: {title and query: (time, Panel)}."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, tuple) and len(v) == 2 and is_time(v[0])
        and isinstance(v[1], Panel)
        for k, v in value.items()
    )  # fmt: skip


def collect(ctx: SourceContext) -> Part:
    """Query every panel; a failed panel falls back alone; raise only when all failed."""
    cfg, patterns = ctx.cfg.prometheus, ctx.cfg.redact.patterns
    # Stop a little before the cycle's deadline, so each panel's own error (and the other
    # panels' data) is reported rather than the whole source timing out.
    deadline = ctx.deadline - max(0.2, 0.1 * (ctx.deadline - time.monotonic()))
    # Every request ends by the deadline (httpapi.fetch), so leaving these blocks waits for
    # no one past it: no thread of this source outlives the cycle.
    with (
        httpapi.client() as http,
        ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ctx.cfg.panels))) as pool,
    ):
        prom = client(cfg, http)
        done = list(
            pool.map(
                lambda p: query_panel(prom, cfg, p, ctx.now, deadline, patterns), ctx.cfg.panels
            )
        )
    cache = LastGood(ctx.state_dir)
    saved: dict = cache.load(PANEL_CACHE, _panel_cache) or {}
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
    detail = (
        f"{len(done) - len(failed)} of {counted(len(done), 'panel')} queried from {redact(cfg.url)}"
    )
    # Every panel failing means the server is down or unreachable: the source failed.
    error = failed[0].error if failed and len(failed) == len(done) else None
    return Part(panels=tuple(panels), detail=detail, error=error)

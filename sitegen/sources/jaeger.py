"""Jaeger: the newest traces of each service from the query service's HTTP API.

Each cycle asks ``/api/services`` (unless [traces] jaeger_services names them), then
``/api/traces?service=S&start=&end=&limit=`` (times in microseconds) for each service, a
few at a time; sitegen.traces.jaeger reads the answers.
"""

from __future__ import annotations

from sitegen.sources.base import Part, SourceContext
from sitegen.sources.httpapi import ApiError, client, gather, get_json, read_answers
from sitegen.sources.tracepart import carried, traces_part
from sitegen.traces.jaeger import JaegerReader
from sitegen.traces.spans import ASSEMBLE_SECONDS, Scrub
from sitegen.units import counted

NAME = "jaeger"
# Services asked per cycle; a Jaeger listing hundreds would otherwise eat the deadline.
MAX_SERVICES = 50


def _data(doc: object, url: str) -> object:
    """Return an answer's data, or raise Jaeger's own error (it may come with HTTP 200)."""
    if not isinstance(doc, dict):
        raise ApiError(f"unexpected answer from {url}: not a JSON object")
    errors = doc.get("errors")
    if errors and not doc.get("data"):
        first = errors[0] if isinstance(errors, list) and errors else errors
        message = first.get("msg", first) if isinstance(first, dict) else first
        raise ApiError(f"Jaeger error from {url}: {message}")
    return doc


def collect(ctx: SourceContext) -> Part:
    """Fetch each service's newest traces; fail only when every service failed."""
    cfg = ctx.cfg.traces
    base = cfg.jaeger_url.rstrip("/")
    end_us = int(ctx.now * 1_000_000)
    window = {
        "start": end_us - cfg.lookback_seconds * 1_000_000,
        "end": end_us,
        "limit": cfg.max_traces,
        "lookback": f"{cfg.lookback_seconds}s",
    }
    with client() as http:
        if cfg.jaeger_services:
            services = list(cfg.jaeger_services)
        else:
            url = f"{base}/api/services"
            listed = _data(get_json(http, url, ctx.deadline), url).get("data") or []
            services = sorted(str(s) for s in listed) if isinstance(listed, list) else []
        asked = services[:MAX_SERVICES]
        url = f"{base}/api/traces"
        answers = gather(
            lambda s: _data(get_json(http, url, ctx.deadline, {"service": s, **window}), url),
            asked,
        )
    reader = JaegerReader(Scrub(ctx.cfg.redact.patterns), deadline=ctx.deadline - ASSEMBLE_SECONDS)
    failed = read_answers(reader, answers)
    if asked and len(failed) == len(asked):
        raise failed[0]
    parsed = reader.result()
    unasked = len(services) - len(asked)
    return traces_part(
        carried(ctx.previous),
        parsed,
        cfg.max_traces,
        f"{counted(len(parsed.spans), 'span')} of {counted(len(asked), 'service')} from {base}",
        f"{unasked} more services not asked" if unasked else "",
        f"{counted(len(failed), 'service')} failed (first: {failed[0]})" if failed else "",
    )

"""Run every source in its own thread; one that fails or hangs falls back to its last good data."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from sitegen.logs.stats import order_key
from sitegen.model import SourceStatus
from sitegen.sources import host, journald, logs, selfmetrics, traces
from sitegen.sources.base import Part, SourceContext
from sitegen.state import LastGood
from sitegen.telemetry import log
from sitegen.traces.spans import assemble

Collect = Callable[[SourceContext], Part]


@dataclass(frozen=True)
class Collected:
    """The merged parts of every source and how each one fared."""

    part: Part
    statuses: tuple[SourceStatus, ...]


# How often a source's last good part is written to state_dir at most (and once more at
# exit): the copy on disk serves only a restart. Pickled and synced every cycle, the parts
# cost a seventh of a 1 s cycle once the traces and the log tail had filled; a process
# killed without its exit loses at most this much of the fallback's freshness.
SAVE_SECONDS = 60.0


class Previous:
    """Each source's last good (time, Part): read from state_dir once, then kept in memory.

    Sources get theirs explicitly in their context; unpickling a thousand traces every
    cycle to learn what this process already holds cost more than the cycle's new spans.
    """

    def __init__(self, last_good: LastGood, clock: Callable[[], float] = time.monotonic) -> None:
        self._disk = last_good
        self._held: dict[str, tuple[float, Part] | None] = {}
        self._clock = clock
        self._written: dict[str, float] = {}  # when each source's part was last written
        self._unwritten: set[str] = set()

    def load(self, name: str) -> tuple[float, Part] | None:
        """Return a source's last good (time, Part), None when there is none or it is unusable."""
        if name not in self._held:
            self._held[name] = self._disk.load(name)  # None unless a (time, Part) pair
        return self._held[name]

    def save(self, name: str, value: tuple[float, Part]) -> None:
        """Remember a source's latest good (time, Part) here, and in state_dir at most once
        a SAVE_SECONDS."""
        self._held[name] = value
        self._unwritten.add(name)
        if self._clock() - self._written.get(name, -math.inf) >= SAVE_SECONDS:
            self._write(name)

    def flush(self) -> None:
        """Write every part not yet in state_dir (at exit)."""
        for name in sorted(self._unwritten):
            self._write(name)

    def _write(self, name: str) -> None:
        self._disk.save(name, self._held[name])
        self._written[name] = self._clock()
        self._unwritten.discard(name)


def default_sources(ctx: SourceContext) -> list[tuple[str, Collect]]:
    """Return the sources a config asks for; host, self, traces and logs are always on."""
    # The sources of other systems are imported only when asked for: their HTTP clients
    # (httpx, prometheus-api-client and requests) were a fifth of a one-shot render's
    # start-up, for a default that reads none of them.
    sources: list[tuple[str, Collect]] = [
        (host.NAME, host.collect),
        (selfmetrics.NAME, selfmetrics.collect),
        (traces.NAME, traces.collect),
        (logs.NAME, logs.collect),
        *([(journald.NAME, journald.collect)] if ctx.cfg.logs.journald else []),
    ]
    if ctx.cfg.panels:
        from sitegen.sources import prometheus

        sources.insert(0, (prometheus.NAME, prometheus.collect))
    if ctx.cfg.publish.cloudwatch and ctx.cfg.publish.distribution_id:
        from sitegen.sources import cloudfront  # boto3

        sources.append((cloudfront.NAME, cloudfront.collect))
    if ctx.cfg.traces.jaeger_url:
        from sitegen.sources import jaeger

        sources.append((jaeger.NAME, jaeger.collect))
    if ctx.cfg.traces.tempo_url:
        from sitegen.sources import tempo

        sources.append((tempo.NAME, tempo.collect))
    if ctx.cfg.alerts.prometheus or ctx.cfg.alerts.alertmanager_url:
        from sitegen.sources import alerts

        sources.append((alerts.NAME, alerts.collect))
    return sources


def _merge(parts: list[Part], ctx: SourceContext) -> Part:
    # One trace may come from several sources (a file and Jaeger): its spans come together.
    kept = (t for p in parts for t in p.traces)
    traces = assemble((), ctx.cfg.traces.max_traces, kept=kept)
    tails = [p.logs for p in parts if p.logs]
    logs = tails[0] if len(tails) == 1 else ()
    if len(tails) > 1:  # files and the journal: one tail in time order, as long as each
        merged = sorted((r for t in tails for r in t), key=lambda r: order_key(r.order, ctx.now))
        logs = tuple(merged[-ctx.cfg.logs.tail_lines :])
    return Part(
        figures=tuple(f for p in parts for f in p.figures),
        panels=tuple(x for p in parts for x in p.panels),
        traces=traces.traces,
        logs=logs,
        cycles=tuple(c for p in parts for c in p.cycles),
        site=next((p.site for p in parts if p.site), None),
        alerts=tuple(a for p in parts for a in p.alerts),
    )


def _stale(part: Part, since: float, error: str) -> Part:
    """Mark every panel of a fallback part stale since it was collected (or since earlier)."""
    panels = tuple(
        replace(p, stale_since=min(since, p.stale_since or since), error=p.error or error)
        for p in part.panels
    )
    return replace(part, panels=panels)


def collect_all(
    ctx: SourceContext,
    sources: list[tuple[str, Collect]],
    last_good: Previous | LastGood,
    tracer: trace.Tracer,
    logger: logging.Logger,
) -> Collected:
    """Collect every source in parallel within the deadline; failures fall back alone."""
    parent = otel_context.get_current()

    def run(name: str, fn: Collect) -> tuple[Part, float]:
        token = otel_context.attach(parent)
        try:
            with tracer.start_as_current_span(f"source {name}") as span:
                start = time.perf_counter()
                previous = last_good.load(name)
                try:
                    part = fn(replace(ctx, previous=previous[1] if previous else None))
                except Exception as exc:
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                    raise
                return part, time.perf_counter() - start
        finally:
            otel_context.detach(token)

    # Not a context manager: a hung source must not hold the cycle past its deadline.
    pool = ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="source")
    futures = {name: pool.submit(run, name, fn) for name, fn in sources}
    timeout = max(0.0, ctx.deadline - time.monotonic())
    wait(futures.values(), timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)

    parts, statuses = [], []
    for name, future in futures.items():
        if future.done() and future.exception() is None:
            part, seconds = future.result()
            parts.append(part)
            if part.error is None:
                last_good.save(name, (ctx.now, part))
                statuses.append(
                    SourceStatus(
                        name, True, duration_s=seconds, detail=part.detail, problems=part.problems
                    )
                )
                continue
            # The source failed but brought its own fallback (per panel, for Prometheus).
            error = part.error
            stale = [p.stale_since for p in part.panels if p.stale_since is not None]
            since = min(stale, default=None)
        else:
            exc = future.exception() if future.done() else None
            error = f"{type(exc).__name__}: {exc}" if exc else f"timed out after {timeout:.3g}s"
            fallback = last_good.load(name)
            since = fallback[0] if fallback else None
            if fallback is not None:
                parts.append(_stale(fallback[1], since, error))
        log(logger, logging.WARNING, "source failed", source=name, error=error)
        statuses.append(SourceStatus(name, False, stale_since=since, error=error))
    return Collected(_merge(parts, ctx), tuple(statuses))

"""One cycle, top to bottom: collect -> optimize -> render rounds -> write -> publish -> record.

Read run_cycle() and you know the whole program; everything it calls takes plain data and
returns plain data.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from sitegen import __version__
from sitegen.alerts.files import alert_files
from sitegen.alerts.incidents import firing_links, witness
from sitegen.alerts.status import day_strip
from sitegen.config import Config
from sitegen.gcpolicy import set_aside
from sitegen.history import History, cycle_samples, task_samples
from sitegen.metrics import SelfMetrics
from sitegen.model import CycleRecord, Snapshot, StageTiming, TaskRecord
from sitegen.render.crawl import crawl_files
from sitegen.render.environment import iso
from sitegen.render.keys import Render, Reuse
from sitegen.render.pool import RenderPool, worker_count
from sitegen.render.rounds import Rendered, pages_round, reports_round
from sitegen.render.tasks import Common, Kept, PageTask, report_tasks
from sitegen.render.twins import twins
from sitegen.site.optimize import Assets, build_assets
from sitegen.site.output import Written, write_site
from sitegen.site.probe import probe
from sitegen.sources import Previous, collect_all, default_sources
from sitegen.sources.base import SourceContext
from sitegen.sources.host import host_info
from sitegen.state import LastGood, StateLock
from sitegen.telemetry import Telemetry, log, page_span

if TYPE_CHECKING:
    from sitegen.site.publish import Published


def _holder(cfg: Config) -> str:
    """Return this process's name on the publish lease, "" when it publishes nowhere."""
    if not cfg.publish.bucket:
        return ""  # and botocore, which the lease's errors come from, is not loaded
    from sitegen.site import lease

    return lease.me()


@dataclass
class Runtime:
    """The long-lived parts of a sitegen process, made once and reused by every cycle."""

    cfg: Config
    telemetry: Telemetry
    pool: RenderPool
    history: History
    last_good: Previous  # each source's last good part, handed to it explicitly
    metrics: SelfMetrics
    holder: str  # this process's name on the publish lease ("" when it publishes nowhere)
    # When the scheduler runs the next cycle (UNIX time), shown on the pages; None when
    # there is no next one (sitegen render).
    next_run: Callable[[], float | None] = field(default=lambda: None)
    progress: Callable[[str], None] = field(default=lambda _msg: None)
    reuse: Reuse = field(default_factory=Reuse)  # the last cycle's pages, by their inputs
    lock: StateLock | None = None  # this process's hold on state_dir

    @classmethod
    def start(cls, cfg: Config, progress: Callable[[str], None] | None = None) -> Runtime:
        """Create the state directory, telemetry, history and the render pool.

        Start-up is traced and logged like a cycle, so even the very first site shows
        sitegen's own spans and log lines from real work.
        """
        state_dir = cfg.site.state_dir
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = StateLock(state_dir)  # raises StateLocked while another sitegen uses it
        telemetry = Telemetry(
            state_dir, hostname=host_info().hostname, otlp_endpoint=cfg.site.otlp_endpoint
        )
        tracer, workers = telemetry.tracer, worker_count(cfg.site.workers)
        with tracer.start_as_current_span("startup", attributes={"config": cfg.source}):
            with tracer.start_as_current_span("open state"):
                history = History(state_dir, cfg.site.history_retention_seconds)
            # Its workers start when a round is worth them (always, for a configured count).
            pool = RenderPool(workers, adaptive=cfg.site.workers == 0)
            where = {"out_dir": str(cfg.site.out_dir), "state_dir": str(state_dir)}
            log(
                telemetry.logger,
                logging.INFO,
                "sitegen started",
                config=cfg.source,
                workers=workers,
                **where,
            )
        telemetry.flush()
        return cls(
            cfg=cfg,
            telemetry=telemetry,
            pool=pool,
            history=history,
            last_good=Previous(LastGood(state_dir)),
            metrics=SelfMetrics(),
            holder=_holder(cfg),
            progress=progress or (lambda _msg: None),
            lock=lock,
        )

    def close(self) -> None:
        """Stop the pool, write what is held for state_dir, flush telemetry, close the history."""
        # Every step runs though one before it fails: a full disk must not keep the lock held.
        with ExitStack() as later:  # its callbacks run last-registered first
            if self.lock is not None:
                later.callback(self.lock.release)
            later.callback(self.history.close)
            later.callback(self.telemetry.close)
            later.callback(self.last_good.flush)
            self.pool.close()


@dataclass(frozen=True)
class CycleResult:
    """What one cycle produced."""

    snapshot: Snapshot
    written: Written
    stages: tuple[StageTiming, ...]
    published: Published | None = None


def _deadline(cfg: Config) -> float:
    # Sources get at most half the interval, so render and write still fit in the cycle.
    return max(2.0, cfg.site.interval_seconds / 2)


def _observe(m: SelfMetrics, record: CycleRecord, snap: Snapshot) -> None:
    for s in record.stages:
        m.stage_seconds.labels(s.name).observe(s.seconds)
    m.cycle_seconds.observe(record.seconds)
    m.cycles.labels("ok").inc()
    m.pages.set(record.pages)
    m.site_bytes.set(record.bytes)
    m.written_bytes.inc(record.bytes)
    m.last_success.set(record.ts)
    m.last_success_at = record.ts
    for source in snap.sources:
        if not source.ok:
            m.source_errors.labels(source.name).inc()


def _publish(rt: Runtime, site: Path) -> Published:
    """Publish the written site, then probe the public URL the way a reader would."""
    from sitegen.site.publish import publish  # botocore: a tenth of a second, only to publish

    cfg, logger = rt.cfg, rt.telemetry.logger
    done = publish(
        site, cfg.publish, cfg.site.state_dir, cfg.site.interval_seconds, holder=rt.holder
    )
    now = time.time()
    rt.history.add(
        [
            ("sitegen_published_objects", (), now, float(len(done.plan.puts))),
            ("sitegen_published_bytes", (), now, float(done.bytes)),
        ]
    )
    log(logger, logging.INFO, "published", summary=done.summary())
    if cfg.site.base_url:
        checked = probe(cfg.site.base_url)
        rt.history.add_probe(now, checked.ok, checked.seconds)
        level = logging.INFO if checked.ok else logging.WARNING
        log(logger, level, "probed the public site", url=cfg.site.base_url, result=checked.detail)
    return done


@dataclass
class _Stages:
    """The cycle's stages as they run: each is a span of the trace and a timing."""

    tracer: trace.Tracer
    progress: Callable[[str], None]
    done: list[StageTiming] = field(default_factory=list)
    running: str = ""  # the stage under way, and when it started (perf_counter)
    started: float = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[trace.Span]:
        """Run one stage in its own span and time it."""
        start = time.perf_counter()
        with self.tracer.start_as_current_span(name) as span:
            self.running, self.started = name, time.perf_counter()
            yield span
        self.running = ""
        self.done.append(StageTiming(name, time.perf_counter() - start))
        self.progress(f"{name:<9} {self.done[-1].seconds:7.3f}s")

    def so_far(self) -> tuple[StageTiming, ...]:
        """The finished stages, then the one under way with the seconds it has taken so far."""
        if not self.running:
            return tuple(self.done)
        return (*self.done, StageTiming(self.running, time.perf_counter() - self.started))


def _collect(rt: Runtime, now: float) -> Snapshot:
    """Collect every source (a failed one keeps its last good part) into the snapshot."""
    cfg, tracer = rt.cfg, rt.telemetry.tracer
    ctx = SourceContext(
        cfg=cfg,
        history=rt.history,
        state_dir=cfg.site.state_dir,
        now=now,
        deadline=time.monotonic() + _deadline(cfg),
    )
    got = collect_all(ctx, default_sources(ctx), rt.last_good, tracer, rt.telemetry.logger)
    seen = witness(cfg.alerts, cfg.site.state_dir, got.part.alerts, got.statuses, now)
    return Snapshot(
        generated_at=now,
        title=cfg.site.title,
        base_url=cfg.site.base_url,
        interval_seconds=cfg.site.interval_seconds,
        host=host_info(),
        sources=got.statuses,
        figures=got.part.figures,
        panels=got.part.panels,
        traces=got.part.traces,
        logs=got.part.logs,
        cycles=got.part.cycles,
        version=__version__,
        site=got.part.site,
        alerts=seen.alerts,
        incidents=seen.tracked.incidents,
        watched_since=seen.tracked.since,
        days=day_strip(seen.tracked, rt.history.probes_by_day, now, cfg.alerts.keep_days * 86400.0),
    )


def _common(rt: Runtime, snap: Snapshot, assets: Assets) -> Common:
    """What every page of this cycle shares: title, times, asset links, failing sources."""
    cfg = rt.cfg
    return Common(
        title=cfg.site.title,
        generated_at=snap.generated_at,
        refresh_seconds=cfg.site.refresh_seconds or cfg.site.interval_seconds,
        next_run=rt.next_run(),
        css_href=assets.css_href,
        icon_href=assets.icon_href,
        version=__version__,
        hostname=snap.host.hostname,
        stale_sources=tuple(s.name for s in snap.sources if s.stale_since),
        failed_sources=tuple(s.name for s in snap.sources if not s.ok),
        alerts=firing_links(snap.alerts, snap.incidents),
        feed=bool(cfg.site.base_url),
    )


def _renderer(rt: Runtime) -> Render:
    """The pool's render, skipping the tasks whose inputs the last cycle already rendered."""
    # Rendering gets two intervals (at least a minute): past that a worker is stuck.
    limit = max(60.0, 2.0 * rt.cfg.site.interval_seconds)
    return rt.reuse.cycle(functools.partial(rt.pool.render, timeout=limit))


def _reports(
    rt: Runtime, snap: Snapshot, common: Common, clock: _Stages, assets: Assets
) -> Callable[[tuple[TaskRecord, ...], Kept], list[PageTask]]:
    """The tasks of the pages about this cycle's work, made of what round one did."""

    def tasks(records: tuple[TaskRecord, ...], kept: Kept) -> list[PageTask]:
        stages, workers, source = clock.so_far(), rt.pool.workers, rt.cfg.source
        return report_tasks(snap, common, records, stages, workers, source, assets.files, kept)

    return tasks


def _trace_tasks(
    telemetry: Telemetry, parent_span: trace.Span, records: Sequence[TaskRecord]
) -> None:
    """Make the pool's tasks spans of this trace, with the times the workers measured."""
    parent = trace.set_span_in_context(parent_span)
    for r in records:
        name, attributes = page_span(r.name)
        span = telemetry.tracer.start_span(
            name,
            context=parent,
            start_time=r.start_ns,
            attributes={**attributes, "worker.pid": r.pid, "page.bytes": r.size},
        )
        if r.error:
            span.set_status(Status(StatusCode.ERROR, r.error))
            log(telemetry.logger, logging.ERROR, "page failed", page=r.name, why=r.error)
        span.end(end_time=r.end_ns)


def _site_files(
    snap: Snapshot, assets: Assets, rendered: Rendered, base_url: str
) -> dict[str, bytes]:
    """Every file of the site by its path: assets, pages, data twins, alert feeds, crawl files."""
    files = {**assets.files, **rendered.files()}
    files.update(twins(snap))
    files.update(alert_files(snap, base_url))
    files.update(crawl_files(files, base_url))
    return files


def _record(
    rt: Runtime, snap: Snapshot, record: CycleRecord, ran: Sequence[TaskRecord], common: Common
) -> None:
    """Keep the finished cycle in history and self metrics, and log it."""
    rt.history.add_cycle(record)
    rt.history.add([*cycle_samples(record), *task_samples(record.ts, ran)])
    _observe(rt.metrics, record, snap)
    log(
        rt.telemetry.logger,
        logging.INFO,
        "cycle finished",
        seconds=round(record.seconds, 3),
        pages=record.pages,
        bytes=record.bytes,
        failed_sources=list(common.failed_sources),
    )


def run_cycle(rt: Runtime, publish_site: bool = False) -> CycleResult:
    """Run one full cycle and return what it made; a failed source never fails the cycle.

    With publish_site (and a bucket configured) the written site is then published; a failed
    publish raises after the site is written, so it is retried by the next cycle.
    """
    cfg, tracer = rt.cfg, rt.telemetry.tracer
    clock = _Stages(tracer, rt.progress)
    cycle_start = time.perf_counter()
    with tracer.start_as_current_span("cycle") as cycle_span:
        now = time.time()
        with clock.stage("collect"):
            snap = _collect(rt, now)
            set_aside()  # the snapshot lasts the cycle: the render's collections skip it

        with clock.stage("optimize"):
            # Before rendering: every page links the stylesheet by its content hash.
            assets = build_assets()

        with clock.stage("render") as render_span:
            common, render = _common(rt, snap, assets), _renderer(rt)
            first = pages_round(render, snap, common, assets.css_gzip, rt.reuse.finished)
            rendered = reports_round(render, first, _reports(rt, snap, common, clock, assets))
            _trace_tasks(rt.telemetry, render_span, rendered.records)

        with clock.stage("write"):
            files = _site_files(snap, assets, rendered, cfg.site.base_url)
            written = write_site(cfg.site.out_dir, files, iso(now))

        published = None
        if publish_site and cfg.publish.bucket:
            with clock.stage("publish"):
                published = _publish(rt, written.path)

        seconds = time.perf_counter() - cycle_start
        cycle_span.set_attribute("site.files", written.files)
        stages = tuple(clock.done)
        record = CycleRecord(now, seconds, stages, rendered.count(), written.bytes, ok=True)
        _record(rt, snap, record, rendered.records, common)
    rt.telemetry.flush()
    return CycleResult(snap, written, stages, published)

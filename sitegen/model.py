"""Plain frozen data passed between the stages of a cycle.

Everything here is picklable (it crosses into the render pool) and immutable (no stage
can change what another stage sees).  Times are UNIX seconds as floats unless a name
says otherwise (``*_ns`` are integer nanoseconds, as OpenTelemetry records them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

Labels = tuple[tuple[str, str], ...]
Point = tuple[float, float]


def labels_of(mapping: dict[str, str]) -> Labels:
    """Return a mapping of label names to values as sorted, hashable Labels."""
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


@dataclass(frozen=True)
class Series:
    """One labelled time series: (timestamp, value) points in time order."""

    labels: Labels
    points: tuple[Point, ...]
    legend: str = ""  # the name to show; empty = built from the labels
    # Seconds between samples where the source knows it (a query's step, the history's tier),
    # so a chart can tell a gap from a slow sample even with two points; 0 = unknown.
    step: float = 0.0

    @property
    def last(self) -> float | None:
        """Return the newest value (NaN and +/-Inf included: the page shows them), or None."""
        return self.points[-1][1] if self.points else None

    def name(self) -> str:
        """Return the series' legend, or one built from its labels."""
        return self.legend or ", ".join(f"{k}={v}" for k, v in self.labels) or "value"


def known_step(series: Sequence[Series]) -> float:
    """Return the sampling step all the series know (the longest of theirs), or 0 when any
    does not: points drawn together (stacked, one heatmap) share one gap limit."""
    steps = [s.step for s in series]
    return max(steps) if steps and min(steps) > 0 else 0.0


@dataclass(frozen=True)
class Panel:
    """One chart of the metrics page, whatever its source."""

    title: str
    query: str
    unit: str
    source: str
    series: tuple[Series, ...]
    range_seconds: float = 3600.0
    kind: str = "line"
    error: str | None = None
    stale_since: float | None = None
    note: str | None = None  # something the reader should know that is not an error
    thresholds: tuple[float, ...] = ()
    counts: str = "observations/s"  # what a heatmap's shades count


@dataclass(frozen=True)
class SpanEvent:
    """Something that happened at one instant inside a span (an exception, a retry)."""

    name: str
    ts_ns: int
    attributes: Labels = ()


@dataclass(frozen=True)
class Span:
    """One finished span of a trace."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start_ns: int
    end_ns: int
    status: str = "unset"  # "ok", "error" or "unset", as in OTLP
    attributes: Labels = ()
    events: tuple[SpanEvent, ...] = ()

    @property
    def duration_ns(self) -> int:
        """Return the span's duration, never negative."""
        return max(0, self.end_ns - self.start_ns)


@dataclass(frozen=True)
class Trace:
    """The spans of one trace, sorted by start time.

    Its bounds, root and error flag are cached: pages and sorting ask for them thousands of
    times a cycle, and the spans never change.
    """

    trace_id: str
    spans: tuple[Span, ...]

    def __getstate__(self) -> dict:
        # Pickles (to the pool, to the cache, into task keys) carry the spans, not the caches.
        return {"trace_id": self.trace_id, "spans": self.spans}

    @cached_property
    def root(self) -> Span:
        """Return the span without a parent in this trace (else the earliest)."""
        if self.spans[0].parent_id is None:  # the usual case, found without a set of ids
            return self.spans[0]
        ids = {s.span_id for s in self.spans}
        for span in self.spans:
            if span.parent_id is None or span.parent_id not in ids:
                return span
        return self.spans[0]

    @cached_property
    def start_ns(self) -> int:
        """Return when the earliest span started."""
        return min(s.start_ns for s in self.spans)

    @cached_property
    def duration_ns(self) -> int:
        """Return the time from the first span's start to the last span's end."""
        return max(s.end_ns for s in self.spans) - self.start_ns

    @cached_property
    def has_error(self) -> bool:
        """Return whether any span ended with an error status."""
        return any(s.status == "error" for s in self.spans)

    @cached_property
    def state(self) -> tuple[str, int, int, int, bool]:
        """Return what tells one state of a finished trace from another: spans arriving
        late change its count or bounds, a span failing late its error flag."""
        return (self.trace_id, len(self.spans), self.start_ns, self.duration_ns, self.has_error)


@dataclass(frozen=True)
class LogRecord:
    """One parsed log line."""

    ts: float | None  # when the line says it was written; None when it does not say
    level: str | None  # debug, info, warning, error, critical; None when the line names none
    message: str
    source: str
    trace_id: str | None = None
    fields: Labels = ()
    duration_s: float | None = None  # from a duration field (duration_ms, latency, took, ...)
    place: float | None = None  # a line without a time sorts here: after the line before it

    @property
    def order(self) -> float:
        """Return the time the line sorts by: its own, else its place in its file."""
        return self.ts if self.ts is not None else (self.place or 0.0)


@dataclass(frozen=True)
class HostInfo:
    """Static facts about the machine sitegen runs on."""

    hostname: str
    system: str
    release: str
    machine: str
    python: str
    cpu_count: int
    memory_total: int
    boot_time: float


@dataclass(frozen=True)
class Figure:
    """A key figure for the front page: the newest value and a short history."""

    title: str
    value: float | None
    unit: str
    points: tuple[Point, ...] = ()
    step: float = 0.0  # seconds between samples where the source knows it, else 0


@dataclass(frozen=True)
class SourceStatus:
    """How a source fared in this cycle; stale_since is set while it serves old data."""

    name: str
    ok: bool
    stale_since: float | None = None
    error: str | None = None
    duration_s: float = 0.0
    detail: str = ""
    problems: tuple[str, ...] = ()  # inputs that could not be read, each naming where and why


def task_kind(name: str) -> str:
    """Return a render task's kind, the first word of its name ("trace", "panel", "logs");
    "still" for a live page's still copy, made of its page's bytes."""
    return "still" if name.endswith(" still") else name.split(" ", 1)[0]


def by_kind(
    records: Iterable[TaskRecord], measure: Callable[[TaskRecord], int]
) -> dict[str, list[int]]:
    """Return a measure of each task record, grouped by the kind of its task."""
    grouped: dict[str, list[int]] = {}
    for r in records:
        grouped.setdefault(task_kind(r.name), []).append(measure(r))
    return grouped


@dataclass(frozen=True)
class TaskRecord:
    """One task of the render pool: which worker ran it and when (UNIX ns)."""

    name: str
    pid: int
    start_ns: int
    end_ns: int
    size: int = 0
    gzip_size: int = 0  # of a page; 0, not measured, for a fragment or a still copy
    fragment: bool = False  # a part of a page (a metrics panel), not a file of the site
    error: str | None = None  # why the page could not be rendered (it says so instead)
    reused: bool = False  # its inputs had not changed: the last cycle's bytes, not rendered
    cpu_ns: int = 0  # CPU time it took (its thread's): its cost whatever else the CPUs ran


@dataclass(frozen=True)
class StageTiming:
    """How long one stage of a cycle took."""

    name: str
    seconds: float


@dataclass(frozen=True)
class CycleRecord:
    """A finished cycle as kept in the history database."""

    ts: float
    seconds: float
    stages: tuple[StageTiming, ...]
    pages: int
    bytes: int
    ok: bool


@dataclass(frozen=True)
class Uptime:
    """Availability of the public site over one window, from sitegen's own probes."""

    window: str
    percent: float | None
    mean_seconds: float | None
    probes: int


@dataclass(frozen=True)
class SiteStats:
    """The published site: its availability, what each publish sent, the CDN budget."""

    url: str
    uptime: tuple[Uptime, ...]
    published_objects: tuple[Point, ...]
    published_bytes: tuple[Point, ...]
    invalidation_paths: int
    invalidation_budget: int


@dataclass(frozen=True)
class Alert:
    """One firing alert as Prometheus or Alertmanager reports it, or as sitegen raises it."""

    name: str
    severity: str  # the severity label; "" when the rule sets none
    summary: str
    labels: Labels
    since: float | None  # when it became active, as its source says; None when unknown
    source: str = "prometheus"  # prometheus, alertmanager or sitegen

    @property
    def key(self) -> str:
        """Return what identifies the alert across cycles: its source, name and labels."""
        return "\x1f".join((self.source, self.name, *(f"{k}={v}" for k, v in self.labels)))


@dataclass(frozen=True)
class Incident:
    """One stretch of time an alert fired, from witnessed transitions; end None = ongoing."""

    id: str
    key: str
    name: str
    severity: str
    summary: str
    labels: Labels
    start: float
    end: float | None = None

    @property
    def duration(self) -> float | None:
        """Return how long the incident lasted, None while it goes on."""
        return None if self.end is None else max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Day:
    """One cell of the 90-day strip: the worst state of a UTC day and what made it so."""

    date: str  # YYYY-MM-DD, UTC
    state: str  # ok, degraded, down or unknown (before tracking began)
    incidents: tuple[str, ...] = ()  # ids of the incidents that touched the day
    availability: float | None = None  # percent of the site's probes that day; None = none


@dataclass(frozen=True)
class Snapshot:
    """Everything one cycle collected: the only input of the render stage."""

    generated_at: float
    title: str
    base_url: str
    interval_seconds: int
    host: HostInfo
    sources: tuple[SourceStatus, ...]
    figures: tuple[Figure, ...] = ()
    panels: tuple[Panel, ...] = ()
    traces: tuple[Trace, ...] = ()
    logs: tuple[LogRecord, ...] = ()
    cycles: tuple[CycleRecord, ...] = ()
    version: str = ""
    site: SiteStats | None = None
    alerts: tuple[Alert, ...] = ()  # firing now, public ones only
    incidents: tuple[Incident, ...] = ()  # ongoing first, then newest
    days: tuple[Day, ...] = ()  # the 90-day strip, oldest first
    watched_since: float | None = None  # when incidents began to be tracked

"""What every source shares: its result type, its inputs, and panels drawn from the history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sitegen.config import Config
from sitegen.history import History
from sitegen.model import (
    Alert,
    CycleRecord,
    Figure,
    Labels,
    LogRecord,
    Panel,
    Series,
    SiteStats,
    Trace,
    known_step,
)

# Charts of local history span what there is, between these bounds: a newcomer's second
# run shows two points across the chart instead of two dots at the edge of a 6 h window.
# Below the lower bound a chart fits its time axis to the history itself (line_chart), and
# dots the points and says how many there are so far.
MIN_WINDOW_SECONDS = 120.0
MAX_WINDOW_SECONDS = 6 * 3600.0


@dataclass(frozen=True)
class Counters:
    """Cumulative counters a source read, kept in its part for its next cycle: rates are then
    taken over the whole interval between two readings, as Prometheus's rate() takes them
    between scrapes."""

    taken_at: float  # time.time() of the reading
    epoch: float  # when the counters started from zero (a boot): another epoch, they restarted
    values: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Part:
    """What one source contributes to the snapshot."""

    figures: tuple[Figure, ...] = ()
    panels: tuple[Panel, ...] = ()
    traces: tuple[Trace, ...] = ()
    logs: tuple[LogRecord, ...] = ()
    cycles: tuple[CycleRecord, ...] = ()
    site: SiteStats | None = None
    alerts: tuple[Alert, ...] = ()
    detail: str = ""  # a short line for the about page: what was read, what was skipped
    error: str | None = None  # set when the source failed but still has (stale) data to show
    problems: tuple[str, ...] = ()  # inputs that could not be read, each naming where and why
    counters: Counters | None = None  # what the source reads again next cycle (see Counters)


@dataclass(frozen=True)
class SourceContext:
    """The inputs every source's collect() gets."""

    cfg: Config
    history: History
    state_dir: Path
    now: float
    deadline: float  # time.monotonic() by which every source must have answered
    previous: Part | None = None  # this source's last good part (collect_all sets it)


@dataclass(frozen=True)
class MetricDef:
    """A chart of one history metric, and optionally a key figure for the front page."""

    title: str
    metric: str
    unit: str
    kind: str = "line"
    figure: str = ""  # front-page title; empty = no figure
    pick: Labels | None = None  # the series the figure shows; None = the sum of all
    counts: str = "observations/s"  # what a heatmap's shades count


def history_window(history: History, now: float) -> float:
    """Return how many seconds back the local-history charts reach."""
    first = history.first_ts()
    span = now - first if first is not None else 0.0
    # The history's own span, no margin: with a tenth more, its first sample fell past the
    # start of the range a fitted chart allows, so every chart read as a short history for
    # six hours: a dot on each of its 60 points (a third more bytes) and "60 so far" of a
    # history of thousands of samples.
    return min(MAX_WINDOW_SECONDS, max(MIN_WINDOW_SECONDS, span))


def _figure_points(series: tuple[Series, ...], pick: Labels | None) -> tuple:
    if pick is not None:
        chosen = [s for s in series if set(pick) <= set(s.labels)] or list(series[:1])
        return chosen[0].points if chosen else ()
    totals: dict[float, float] = {}
    for s in series:
        for ts, value in s.points:
            totals[ts] = totals.get(ts, 0.0) + value
    return tuple(sorted(totals.items()))


def history_part(ctx: SourceContext, metrics: tuple[MetricDef, ...], source: str) -> Part:
    """Build the panels and figures of `metrics` from the local history."""
    window = history_window(ctx.history, ctx.now)
    panels, figures = [], []
    for m in metrics:
        series = ctx.history.series(
            m.metric, ctx.now - window, interval=ctx.cfg.site.interval_seconds
        )
        panels.append(
            Panel(
                title=m.title,
                query=m.metric,
                unit=m.unit,
                source=source,
                series=series,
                range_seconds=window,
                kind=m.kind,
                counts=m.counts,
            )
        )
        if m.figure:
            points = _figure_points(series, m.pick)
            value = points[-1][1] if points else None
            figures.append(Figure(m.figure, value, m.unit, points, step=known_step(series)))
    return Part(figures=tuple(figures), panels=tuple(panels))

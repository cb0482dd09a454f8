"""The rounds of a cycle's render: pages and panels, with the metrics pages packed from the
panels as soon as they are rendered, then the reports on that work."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from sitegen.model import Snapshot, TaskRecord
from sitegen.render.finished import FinishedPages
from sitegen.render.keys import Render
from sitegen.render.pager import page_links, page_path
from sitegen.render.tasks import (
    PAGE_BUDGET,
    Common,
    Kept,
    PageTask,
    RenderedPage,
    panel_tasks,
    render_page,
    summary_tasks,
    with_still_copies,
)

# What the panels' markup is taken to gzip to, of its raw size, to guess how many pages they
# fill before they are packed (the reference workload's gzip to a fourth; a guess too low
# costs a second packing, too high a few bytes a page).
GZIP_GUESS = 0.3
# Bytes kept aside on each metrics page besides its frame as measured on the first page: the
# others differ in their title and the pager's current page; and gzip's header and trailer
# weigh 12 bytes more than zlib's, which packing measures in.
FRAME_SLACK = 48
# Where the panels go in a metrics page rendered to measure its frame.
PANELS_HERE = Markup("<!-- the panels -->")


@dataclass(frozen=True)
class Rendered:
    """Every page of the site in one cycle, and every task rendered for it (pages reused
    from the last cycle are among the pages, not the tasks)."""

    pages: tuple[RenderedPage, ...]  # of the cycle's rounds, made or reused
    records: tuple[TaskRecord, ...]
    kept: Kept  # the finished traces' pages kept from earlier cycles, not among `pages`

    def count(self) -> int:
        """Return how many pages the site has."""
        return len(self.pages) + len(self.kept.files)

    def files(self) -> dict[str, bytes]:
        """Return every page of the site by its path: those kept and those of the rounds."""
        return {**self.kept.files, **{p.path: p.body for p in self.pages}}


@dataclass(frozen=True)
class First:
    """What round one made: its pages (and panels), and the finished traces' pages kept."""

    pages: list[RenderedPage]
    kept: Kept


def pack(parts: Sequence[bytes], budget: int, prefix: bytes = b"") -> list[list[int]]:
    """Split part indexes, in order, into runs that each gzip to at most `budget` bytes.

    Sizes are measured on the run compressed together (parts of one page share words, so
    the page is smaller than the sum of its parts gzipped alone), starting from `prefix`.
    A part larger than the budget gets a run of its own: it can't be made to fit.
    """
    runs: list[list[int]] = []
    stream, written = zlib.compressobj(6), budget + 1  # "full": the first part opens a run
    for i, part in enumerate(parts):
        trial = stream.copy()
        added = len(trial.compress(part))
        if written + added + len(trial.copy().flush()) > budget:
            trial, written = zlib.compressobj(6), 0
            written += len(trial.compress(prefix))
            added = len(trial.compress(part))
            runs.append([])
        # The trial went on from where the run stands: it is the run's stream now (each
        # part is compressed once to be measured, not again to be added).
        stream, written = trial, written + added
        runs[-1].append(i)
    return runs


def metrics_tasks(
    panels: Sequence[RenderedPage],
    titles: Sequence[str],
    common: Common,
    css_gzip: int,
    now: float,
) -> list[PageTask]:
    """Pack rendered panels into metrics pages that each fit the page budget with the CSS."""
    parts = [p.body for p in panels]
    runs = _pack_panels(parts, titles, common, css_gzip, now) if parts else [[]]
    shown = [Markup(part.decode()) for part in parts]
    return _metrics_pages(runs, lambda run: [shown[i] for i in run], titles, common, now)


def _pack_panels(
    parts: list[bytes], titles: Sequence[str], common: Common, css_gzip: int, now: float
) -> list[list[int]]:
    """Pack panels into runs, a metrics page each, that fit the budget with their frame.

    Each page lists every panel, linked to its page, and links every page: the frame weighs
    more the more pages there are. The panels are packed with the frame of a count of pages
    they should not exceed (guessed from the room one page's frame leaves them), and again,
    rarely, with the frame of as many pages as they did fill.
    """

    def frame(count: int) -> tuple[bytes, int]:
        even = [[*range(k * len(parts) // count, (k + 1) * len(parts) // count)]
                for k in range(count)]  # fmt: skip
        head, tail = _frame(even, titles, common, now)
        # The tail compressed alone: the head it repeats (the pager) is past zlib's window.
        return head, PAGE_BUDGET - css_gzip - FRAME_SLACK - _gzip(tail)

    head, budget = frame(1)
    room = max(1, budget - _gzip(head))
    count = min(len(parts), 1 + math.ceil(sum(map(len, parts)) * GZIP_GUESS / room))
    while True:
        head, budget = frame(count)
        runs = pack(parts, budget, head)
        if len(runs) <= count:  # the frame weighs no less than it was taken to
            return runs
        count = len(runs)


def _gzip(data: bytes) -> int:
    return len(zlib.compress(data, 6))


def _frame(
    runs: list[list[int]], titles: Sequence[str], common: Common, now: float
) -> tuple[bytes, bytes]:
    """Return the first metrics page of `runs` without its panels: what comes before them
    (head, contents, pager), and after."""
    page = _metrics_pages(runs, lambda run: [PANELS_HERE], titles, common, now)[0]
    head, _, tail = render_page(page).body.partition(PANELS_HERE.encode())
    return head, tail


def _metrics_pages(
    runs: list[list[int]],
    fragments: Callable[[list[int]], list[Markup]],
    titles: Sequence[str],
    common: Common,
    now: float,
) -> list[PageTask]:
    """Return a metrics page for each run of panels, with the `fragments` of its run, the
    contents (every panel, linked to its page) and links to every page."""
    links = page_links("metrics", len(runs))
    href = {i: links[page][1] for page, run in enumerate(runs) for i in run}
    toc = [(title, f"{href[i]}#p{i + 1}") for i, title in enumerate(titles)]
    return [
        PageTask(
            "metrics" if page == 1 else f"metrics {page}",
            page_path("metrics", page),
            "metrics.html",
            {
                "fragments": fragments(run),
                "toc": toc,
                "pages": links,
                "current": page,
                "now": now,
            },
            common,
            refresh="live" if page == 1 else "",
        )
        for page, run in enumerate(runs, 1)
    ]


def pages_round(
    render: Render, snap: Snapshot, common: Common, css_gzip: int, finished: FinishedPages
) -> First:
    """Round one: every page of the snapshot, each metrics panel as a fragment, and the
    metrics pages, packed from the panels once they are all rendered (while the rest of the
    round still renders: a round of their own would run on one CPU, the others idle). Of the
    traces, only those with no page kept in `finished` are rendered."""
    titles = [p.title for p in snap.panels]

    def metrics(panels: list[RenderedPage]) -> list[PageTask]:
        return with_still_copies(metrics_tasks(panels, titles, common, css_gzip, snap.generated_at))

    traces, kept = finished.start(snap.traces, common)
    # The pages of one item each go first: the workers start on them while this process
    # sums the traces and lines up for the other pages.
    pages = render(
        panel_tasks(snap, common) + traces,
        then=metrics,
        more=lambda: with_still_copies(summary_tasks(snap, common)),
    )
    finished.keep(pages)
    return First(pages, kept)


def reports_round(
    render: Render,
    first: First,
    reports: Callable[[tuple[TaskRecord, ...], Kept], list[PageTask]],
) -> Rendered:
    """Round two: the reports on round one (`first`); returns the whole site."""
    records = tuple(p.record for p in first.pages)
    last = render(with_still_copies(reports(records, first.kept)))
    pages = tuple(p for p in (*first.pages, *last) if not p.record.fragment)
    ran = tuple(r for r in (*records, *(p.record for p in last)) if not r.reused)
    return Rendered(pages, ran, first.kept)


def render_site(
    render: Render,
    snap: Snapshot,
    common: Common,
    css_gzip: int,
    reports: Callable[[tuple[TaskRecord, ...], Kept], list[PageTask]],
    finished: FinishedPages | None = None,
) -> Rendered:
    """Render pages and panels with the metrics pages packed from the panels, then the
    reports on all of that work (two rounds of pool tasks); with `finished`, the traces'
    pages it keeps are not rendered again (without, all are)."""
    first = pages_round(
        render, snap, common, css_gzip, FinishedPages() if finished is None else finished
    )
    return reports_round(render, first, reports)

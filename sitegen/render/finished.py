"""Finished traces' pages: each rendered once, then kept out of the cycle's lists.

A site of 10,000 finished traces gains a few a cycle. A finished trace's page keeps its bytes
while the trace, the templates and the stylesheet's name stay the same, yet handing every
such page through each cycle's tasks, keys, rounds and reports cost passes over 10,000
objects, scattered in memory: 8 ms of a 106 ms cycle. Here each trace shown has its page kept by the
trace object itself (held, so no id of it recurs: a trace that changed is a new object, and
gets its page made anew). A cycle hands its round only the traces with no page kept, takes
their pages back when the round is done, and passes the pages kept on as one frozen `Kept`:
their files, and what the reports count of them.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from itertools import compress
from operator import attrgetter

from sortedcontainers import SortedKeyList

from sitegen.model import TaskRecord, Trace
from sitegen.render.tasks import (
    LARGEST,
    Common,
    Kept,
    PageTask,
    RenderedPage,
    timeless,
    trace_task,
)


class FinishedPages:
    """The page of each trace shown, kept from the cycle that rendered it."""

    def __init__(self) -> None:
        self._stamp: bytes | None = None  # the templates' (keys.templates_stamp)
        self._common: Common | None = None  # the timeless part of the cycle's Common
        self._forget()

    def _forget(self) -> None:
        """Keep no page: every trace's page is made again."""
        self._traces: dict[int, Trace] = {}  # shown, by id (held: no id recurs)
        # By the trace's id, for those with no page kept: the same object from cycle to cycle
        # until it is (a round that failed hands the same task to the next).
        self._tasks: dict[int, PageTask] = {}
        self._pages: dict[int, RenderedPage] = {}  # kept, by the trace's id
        self._owner: dict[str, int] = {}  # which trace each kept path is the page of
        self._files: dict[str, bytes] = {}
        self._bytes = 0
        self._by_size: SortedKeyList = SortedKeyList(key=_larger_first)
        self._also: dict[str, list[int]] = {}  # traces whose page is kept at another's path
        self._waiting: dict[str, list[int]] = {}  # paths handed to this round, to trace ids

    def templates(self, stamp: bytes) -> None:
        """Tell the templates' stamp of this cycle: a page made from others is made again."""
        if stamp != self._stamp:
            self._stamp = stamp
            self._forget()

    def start(self, traces: Iterable[Trace], common: Common) -> tuple[list[PageTask], Kept]:
        """Return the page tasks of the traces with no page kept, in order, and the pages
        kept of the others, for a cycle whose pages share `common`."""
        try:
            return self._start(tuple(traces), common)
        except BaseException:
            # Moved part-way, the pages kept would not match the traces: start anew.
            self._forget()
            raise

    def _start(self, traces: tuple[Trace, ...], common: Common) -> tuple[list[PageTask], Kept]:
        still = timeless(common)  # all a trace's page shows of the cycle's Common
        if still != self._common:
            self._common = still
            self._forget()
        # The traces that came and went, told by identity in passes in C: no trace is read.
        ids = list(map(id, traces))
        shown = set(ids)
        went, came = self._traces.keys() - shown, shown - self._traces.keys()
        # A trace made anew with the same state (a source that rebuilt it) gets the page of
        # the one it replaces: the same bytes, not rendered again.
        by_state = {self._traces[i].state: self._pages[i] for i in went if i in self._pages}
        for i in went:
            self._drop(i)
        if came:
            pairs = zip(ids, traces, strict=True)
            self._traces.update(compress(pairs, map(came.__contains__, ids)))
        for i in came if by_state else ():
            trace = self._traces[i]
            page = by_state.pop(trace.state, None) if trace.spans else None
            if page is not None:
                self._keep(i, page)
        unkept: list[int] = []
        if len(self._pages) < len(shown):  # found in C: the traces with no page kept, once
            left = compress(ids, map(operator.not_, map(self._pages.__contains__, ids)))
            unkept = list(dict.fromkeys(left))
        todo = list(map(self._task, unkept))
        self._waiting = {}
        for path, i in zip(map(_PATH, todo), unkept, strict=True):
            self._waiting.setdefault(path, []).append(i)
        return todo, Kept(dict(self._files), self._bytes, tuple(self._by_size[:LARGEST]))

    def _task(self, i: int) -> PageTask:
        """Return the page task of a trace shown: the same object while it is shown."""
        task = self._tasks.get(i)
        if task is None:
            assert self._common is not None  # set by _start before any task is made
            task = self._tasks[i] = trace_task(self._common, self._traces[i])
        return task

    def keep(self, pages: Iterable[RenderedPage]) -> None:
        """Keep the pages of the traces this cycle's round rendered, from among `pages`."""
        waiting, self._waiting = self._waiting, {}
        for page in pages:
            ids = waiting.get(page.path)
            if ids:
                self._keep(ids.pop(0), page)

    def _keep(self, i: int, page: RenderedPage) -> None:
        self._pages[i] = page
        self._tasks.pop(i, None)  # made for the round: not again while its page is kept
        if page.path in self._owner:
            # Another trace shown has this id (two sources sent it): the site has one file
            # for both, the first page kept; this one is made again when that one goes.
            self._also.setdefault(page.path, []).append(i)
            return
        self._owner[page.path] = i
        self._files[page.path] = page.body
        self._bytes += page.record.size
        self._by_size.add(page.record)

    def _drop(self, i: int) -> None:
        """Forget a trace no longer shown, and its page."""
        if i in self._pages:
            self._unkeep(i)
        del self._traces[i]
        self._tasks.pop(i, None)

    def _unkeep(self, i: int) -> None:
        page = self._pages.pop(i)
        if self._owner[page.path] != i:
            self._also[page.path].remove(i)
            if not self._also[page.path]:
                del self._also[page.path]
            return
        del self._owner[page.path], self._files[page.path]
        self._bytes -= page.record.size
        self._by_size.remove(page.record)
        for other in self._also.pop(page.path, ()):
            del self._pages[other]  # made again, to take the file over


_PATH = attrgetter("path")


def _larger_first(record: TaskRecord) -> int:
    return -record.gzip_size

"""Task keys: a page whose inputs did not change since the last cycle is not rendered again.

A task's key digests everything its bytes come from: its data, the stylesheet's name and
the rest of what every page shows (Common), and the templates (their names, sizes and
modification times). A finished trace counts by its id, span count, bounds and error flag,
not its pickled spans: a site of thousands of traces would spend its cycle on that. Pages
of the last cycle are kept by key; a task whose key is among
them gets those bytes back without a round trip to the pool.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path

from sitegen.model import Trace
from sitegen.render.environment import templates_dir
from sitegen.render.tasks import Common, PageTask, RenderedPage, Then

# Renders tasks, then (given `then`) the tasks it makes of their fragments, in one round.
Render = Callable[..., list[RenderedPage]]


def templates_stamp(root: Path) -> bytes:
    """Digest the name, size and modification time of every template under `root`."""
    h = hashlib.blake2b(digest_size=16)
    for dirpath, _dirs, names in sorted(os.walk(root)):
        for name in sorted(names):
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.digest()


# Per Common object (a cycle has one, and its timeless form): it without the cycle's state,
# and it pickled. Thousands of tasks share one: each digested it anew, a tenth of a cycle.
_COMMONS: dict[int, tuple[Common, Common, bytes]] = {}


def _common_parts(common: Common) -> tuple[Common, bytes]:
    """Return the common part of a timeless page (no time of the cycle: nor its alerts and
    failed sources, as such a page leaves out the banner), and `common` pickled."""
    known = _COMMONS.get(id(common))
    if known is None or known[0] is not common:
        if len(_COMMONS) > 8:  # a few cycles' worth; the objects are held, so no id recurs
            _COMMONS.clear()
        timeless = dataclasses.replace(
            common, generated_at=0.0, next_run=None, alerts=(), failed_sources=(), stale_sources=()
        )
        known = (common, timeless, pickle.dumps(common, protocol=pickle.HIGHEST_PROTOCOL))
        _COMMONS[id(common)] = known
    return known[1], known[2]


def _inputs(task: PageTask, stamp: bytes) -> tuple[bytes, tuple]:
    """Return the task's Common pickled (timeless for a timeless task: its template prints no
    time of the cycle, so the cycle's times don't count) and its other inputs but its data."""
    timeless, pickled = _common_parts(task.common)
    if task.timeless:
        pickled = _common_parts(timeless)[1]
    return pickled, (stamp, task.name, task.path, task.template, task.absolute, task.fragment,
                     task.refresh)  # fmt: skip


def task_key(task: PageTask, stamp: bytes) -> bytes:
    """Return the digest of everything the task's bytes depend on."""
    pickled, inputs = _inputs(task, stamp)
    if task.timeless:  # a finished trace counts by its state, not its pickled spans
        data = {k: v.state if isinstance(v, Trace) else v for k, v in task.data.items()}
    else:
        data = task.data
    h = hashlib.blake2b(pickled, digest_size=16)
    h.update(pickle.dumps((inputs, data), protocol=pickle.HIGHEST_PROTOCOL))
    return h.digest()


class Reuse:
    """The pages of the last cycle by task key, handed back for tasks whose key recurs."""

    def __init__(self) -> None:
        self._last: dict[bytes, RenderedPage] = {}
        self._this: dict[bytes, RenderedPage] = {}
        # Timeless tasks' keys by path, with what each was digested from: a finished trace's
        # page gets the same data objects every cycle, and its key need not be digested again.
        self._timeless: dict[str, tuple[tuple, bytes]] = {}

    def cycle(self, render: Render) -> Render:
        """Start a cycle: return a render function that runs only the tasks with new keys."""
        # Only what the last cycle used is kept, so memory follows the site, not its past.
        # A cycle that failed part-way kept little: the one before it is kept instead.
        if self._this:
            self._last, self._this = self._this, {}
        stamp = templates_stamp(templates_dir())
        last_timeless, self._timeless = self._timeless, {}

        def key_of(task: PageTask) -> bytes:
            if not task.timeless:
                return task_key(task, stamp)
            # The data by identity (held here, so no id recurs); the rest by value.
            inputs = (*_inputs(task, stamp), tuple(task.data.items()))
            known = last_timeless.get(task.path)
            if known is None or not _same(known[0], inputs):
                known = (inputs, task_key(task, stamp))
            self._timeless[task.path] = known
            return known[1]

        def run(tasks: list[PageTask], then: Then | None = None) -> list[RenderedPage]:
            keys = [key_of(t) for t in tasks]
            todo = [t for t, k in zip(tasks, keys, strict=True) if k not in self._last]
            made: list[bytes] = []  # the keys of then's tasks

            def follow(fresh: list[RenderedPage]) -> list[PageTask]:
                # Every fragment in task order: the fresh ones (rendered now) and the kept.
                new = iter(fresh)
                fragments = [next(new) if k not in self._last else self._last[k]
                             for t, k in zip(tasks, keys, strict=True) if t.fragment]  # fmt: skip
                more = then(fragments)
                made.extend(key_of(t) for t in more)
                return [t for t, k in zip(more, made, strict=True) if k not in self._last]

            if then is None:
                rendered = render(todo) if todo else []
            elif todo:
                rendered = render(todo, then=follow)
            else:  # every fragment kept: then's new tasks, if any, are the whole round
                extra = follow([])
                rendered = render(extra) if extra else []
            fresh = iter(rendered)
            pages = []
            for key in (*keys, *made):
                kept = self._last.get(key)
                if kept is None:
                    page = next(fresh)
                else:  # a page reused last cycle already says so
                    page = kept if kept.record.reused else _reused(kept)
                self._this[key] = page
                pages.append(page)
            return pages

        return run


def _same(a: tuple, b: tuple) -> bool:
    """Say whether two timeless tasks' inputs are the same: equal, their data the same objects."""
    (common, task, data), (common2, task2, data2) = a, b
    return (
        common == common2
        and task == task2
        and len(data) == len(data2)
        and all(k == k2 and v is v2 for (k, v), (k2, v2) in zip(data, data2, strict=True))
    )


def _reused(page: RenderedPage) -> RenderedPage:
    record = dataclasses.replace(page.record, reused=True)
    return dataclasses.replace(page, record=record)

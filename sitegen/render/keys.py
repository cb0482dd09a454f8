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
from sitegen.render.tasks import PageTask, RenderedPage
from sitegen.traces.stats import finished_state

Render = Callable[[list[PageTask]], list[RenderedPage]]


def templates_stamp(root: Path) -> bytes:
    """Digest the name, size and modification time of every template under `root`."""
    h = hashlib.blake2b(digest_size=16)
    for dirpath, _dirs, names in sorted(os.walk(root)):
        for name in sorted(names):
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.digest()


def task_key(task: PageTask, stamp: bytes) -> bytes:
    """Return the digest of everything the task's bytes depend on."""
    common = task.common
    if task.timeless:  # its template prints no time of the cycle: the cycle's times don't count
        # Nor its alerts and failed sources: a timeless page leaves out the banner.
        common = dataclasses.replace(
            common, generated_at=0.0, next_run=None, alerts=(), failed_sources=(), stale_sources=()
        )
        data = {k: finished_state(v) if isinstance(v, Trace) else v for k, v in task.data.items()}
    else:
        data = task.data
    inputs = (stamp, task.name, task.path, task.template, task.absolute, task.fragment,
              task.refresh)  # fmt: skip
    return hashlib.blake2b(
        pickle.dumps((inputs, common, data), protocol=pickle.HIGHEST_PROTOCOL),
        digest_size=16,
    ).digest()


class Reuse:
    """The pages of the last cycle by task key, handed back for tasks whose key recurs."""

    def __init__(self) -> None:
        self._last: dict[bytes, RenderedPage] = {}
        self._this: dict[bytes, RenderedPage] = {}

    def cycle(self, render: Render) -> Render:
        """Start a cycle: return a render function that runs only the tasks with new keys."""
        # Only what the last cycle used is kept, so memory follows the site, not its past.
        # A cycle that failed part-way kept little: the one before it is kept instead.
        if self._this:
            self._last, self._this = self._this, {}
        stamp = templates_stamp(templates_dir())

        def run(tasks: list[PageTask]) -> list[RenderedPage]:
            keys = [task_key(t, stamp) for t in tasks]
            todo = [t for t, k in zip(tasks, keys, strict=True) if k not in self._last]
            fresh = iter(render(todo) if todo else [])
            pages = []
            for key in keys:
                kept = self._last.get(key)
                page = _reused(kept) if kept is not None else next(fresh)
                self._this[key] = page
                pages.append(page)
            return pages

        return run


def _reused(page: RenderedPage) -> RenderedPage:
    record = dataclasses.replace(page.record, reused=True)
    return dataclasses.replace(page, record=record)

"""Task keys: a page whose inputs did not change since the last cycle is not rendered again.

A task's key digests everything its bytes come from: its data, the stylesheet's name and
the rest of what every page shows (Common), and the templates (their names, sizes and
modification times). A finished trace counts by its id, span count, bounds and error flag,
not its pickled spans: a site of thousands of traces would spend its cycle on that. Pages
of the last cycle are kept by key; a task whose key is among
them gets those bytes back without a round trip to the pool.

A page that prints the cycle's time (its Common holds it) can only match a page of the last
cycle with the same Common. When no page of the last cycle had it, as in every cycle of a
`run`, such a task's key is digested without its data: no key of the last cycle can equal
it, and its data (a logs page's lines, a panel's points) would cost a digest that grows with
the site to learn nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import os
import pickle
from collections.abc import Callable
from itertools import compress, repeat
from pathlib import Path

from sitegen.model import Trace
from sitegen.render.environment import templates_dir
from sitegen.render.finished import FinishedPages
from sitegen.render.tasks import Common, More, PageTask, RenderedPage, Then, timeless

# Renders tasks, the tasks `more` makes meanwhile, then the tasks `then` makes of their
# fragments, in one round (both optional).
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
        known = (common, timeless(common), pickle.dumps(common, protocol=pickle.HIGHEST_PROTOCOL))
        _COMMONS[id(common)] = known
    return known[1], known[2]


def _inputs(task: PageTask, stamp: bytes) -> tuple[bytes, tuple]:
    """Return the task's Common pickled (timeless for a timeless task: its template prints no
    time of the cycle, so the cycle's times don't count) and its other inputs but its data."""
    still, pickled = _common_parts(task.common)
    if task.timeless:
        pickled = _common_parts(still)[1]
    return pickled, (stamp, task.name, task.path, task.template, task.absolute, task.fragment,
                     task.refresh)  # fmt: skip


def _digest(pickled: bytes, rest: object, person: bytes = b"") -> bytes:
    """Digest a task's pickled Common and the rest of what its key covers."""
    h = hashlib.blake2b(pickled, digest_size=16, person=person)
    h.update(pickle.dumps(rest, protocol=pickle.HIGHEST_PROTOCOL))
    return h.digest()


def unmatched_key(task: PageTask, stamp: bytes) -> bytes:
    """Return a key for a task whose Common no page of the last cycle had: unique in its
    cycle (by path), never equal to a task_key."""
    pickled, inputs = _inputs(task, stamp)
    return _digest(pickled, inputs, person=b"unmatched")


def task_key(task: PageTask, stamp: bytes) -> bytes:
    """Return the digest of everything the task's bytes depend on."""
    pickled, inputs = _inputs(task, stamp)
    if task.timeless:  # a finished trace counts by its state, not its pickled spans
        data = {k: v.state if isinstance(v, Trace) else v for k, v in task.data.items()}
    else:
        data = task.data
    return _digest(pickled, (inputs, data))


class Reuse:
    """The pages of the last cycle by task key, handed back for tasks whose key recurs."""

    def __init__(self) -> None:
        self._last: dict[bytes, RenderedPage] = {}
        self._this: dict[bytes, RenderedPage] = {}
        # The Commons (pickled) of the tasks keyed for _last and for _this: all their pages'.
        self._last_commons: set[bytes] = set()
        self._this_commons: set[bytes] = set()
        # Timeless tasks' keys by path, with what each was digested from: an older page of
        # the traces list gets the same data objects every cycle, and its key need not be
        # digested again.
        self._timeless: dict[str, tuple[tuple, bytes]] = {}
        # The finished traces' pages, kept out of the cycle's tasks once rendered.
        self.finished = FinishedPages()

    def cycle(self, render: Render) -> Render:
        """Start a cycle: return a render function that runs only the tasks with new keys."""
        # Only what the last cycle used is kept, so memory follows the site, not its past.
        # A cycle that failed part-way kept little: the one before it is kept instead.
        if self._this:
            self._last, self._this = self._this, {}
            self._last_commons = self._this_commons
        self._this_commons = set()
        last_commons = self._last_commons
        stamp = templates_stamp(templates_dir())
        self.finished.templates(stamp)
        last_timeless, self._timeless = self._timeless, {}

        def key_of(task: PageTask) -> bytes:
            if not task.timeless:
                pickled = _common_parts(task.common)[1]
                self._this_commons.add(pickled)
                if last_commons and pickled not in last_commons:
                    return unmatched_key(task, stamp)
                return task_key(task, stamp)
            # The data by identity (held here, so no id recurs); the rest by value.
            inputs = (*_inputs(task, stamp), tuple(task.data.items()))
            known = last_timeless.get(task.path)
            if known is None or not _same(known[0], inputs):
                known = (inputs, task_key(task, stamp))
            self._timeless[task.path] = known
            return known[1]

        def run(
            tasks: list[PageTask], then: Then | None = None, more: More | None = None
        ) -> list[RenderedPage]:
            keys: list[bytes] = []  # of the tasks, then more's, then then's
            found: list[RenderedPage | None] = []  # the page of each key last cycle, or None

            def new(made: list[PageTask]) -> list[PageTask]:
                """Key tasks made for the round; return those with no page of the last cycle."""
                made_keys = list(map(key_of, made))
                made_found = list(map(self._last.get, made_keys))
                keys.extend(made_keys)
                found.extend(made_found)
                return list(compress(made, map(operator.is_, made_found, repeat(None))))

            todo = new(tasks)
            first = found[: len(tasks)]

            def follow(fresh: list[RenderedPage]) -> list[PageTask]:
                # Every fragment in task order: the fresh ones (rendered now) and the kept.
                rendered = iter(fresh)
                fragments = [next(rendered) if p is None else p
                             for t, p in zip(tasks, first, strict=True) if t.fragment]  # fmt: skip
                return new(then(fragments))

            if more is not None and not todo:  # nothing renders meanwhile: made first
                todo, more = new(more()), None
            if more is not None:
                rendered = render(todo, then=None if then is None else follow,
                                  more=lambda: new(more()))  # fmt: skip
            elif then is None:
                rendered = render(todo) if todo else []
            elif todo:
                rendered = render(todo, then=follow)
            else:  # every fragment kept: then's new tasks, if any, are the whole round
                last = follow([])
                rendered = render(last) if last else []
            fresh = iter(rendered)
            # A page reused last cycle already says so.
            pages = [next(fresh) if p is None else p if p.record.reused else _reused(p)
                     for p in found]  # fmt: skip
            self._this.update(zip(keys, pages, strict=True))
            return pages

        return run


_ATOMS = (str, int, float, bool, type(None))


def _same_value(v: object, v2: object) -> bool:
    """Say whether two values of a timeless task's data are the same: the same object, equal
    atoms, or lists or tuples of the same objects (the traces of an older page of the list
    are a new list each cycle of the same summaries)."""
    if v is v2:
        return True
    if type(v) is not type(v2):
        return False
    if isinstance(v, _ATOMS):
        return v == v2
    if isinstance(v, list | tuple):
        return len(v) == len(v2) and all(map(operator.is_, v, v2))  # type: ignore[arg-type]
    return False


def _same(a: tuple, b: tuple) -> bool:
    """Say whether two timeless tasks' inputs are the same: equal, their data the same objects."""
    (common, task, data), (common2, task2, data2) = a, b
    return (
        common == common2
        and task == task2
        and len(data) == len(data2)
        and all(
            k == k2 and _same_value(v, v2) for (k, v), (k2, v2) in zip(data, data2, strict=True)
        )
    )


def _reused(page: RenderedPage) -> RenderedPage:
    record = dataclasses.replace(page.record, reused=True)
    return dataclasses.replace(page, record=record)

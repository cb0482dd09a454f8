"""What a page derives from each item it shows, kept while the item is still shown.

A log line stays on the logs pages for hundreds of cycles while a few new ones arrive each
cycle; its markup and its JSON entry never change. Deriving them anew every cycle made a
cycle's cost grow with the tail as it filled.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from itertools import repeat
from operator import is_
from typing import Generic, TypeVar

Item = TypeVar("Item")
Derived = TypeVar("Derived")
# Cycles a generation lasts in a memo of this process's own (the data twins'): what was asked
# in a generation is kept through the next, so an item asked every cycle costs one lookup,
# not one in each of two maps and a move from one to the other every cycle (a data twin asks
# thousands of chart points a cycle). A memo a pool worker may use keeps generations of one
# cycle: there the items are copies, new every cycle, and only a cycle's worth is worth
# holding.
GENERATION_CYCLES = 8
# How far into a run's last items its new first item is looked for: a run asked again loses
# a few items at its start a cycle (a tail full of lines, a chart whose range slides).
RUN_DROPS = 64


def _shared_start(before: list, held: list) -> int:
    """Return how many of `held`'s first items are `before`'s first items (the same objects)."""
    same = list(map(is_, before, held))
    return same.index(False) if False in same else len(same)


class CycleMemo(Generic[Item, Derived]):
    """What is derived from each item, for the items asked for in the current generation of
    `generation` cycles and the one before it (memory follows what is shown, not the past).

    Items are found by identity: the sources hand the same objects in cycle after cycle
    (a log line of the tail, a chart point of a held slice), and a log record's value hash
    walks all its fields, four times an item a cycle. They are held here, so no id recurs;
    a copy (as a pool worker unpickles) is derived anew. The items not known are derived
    together, in one call: a first render derives them all, as fast as without the memo.
    A named run of items (the same list asked for again) is held as a whole, like an item.
    """

    def __init__(self, derive: Callable[[list[Item]], list[Derived]], generation: int = 1) -> None:
        self._derive = derive
        self._generation = generation
        self._cycle: float | None = None
        self._cycles = generation  # cycles into the current generation: the first starts one
        self._this: dict[int, tuple[Item, Derived]] = {}
        self._last: dict[int, tuple[Item, Derived]] = {}
        # Per run: its items last asked for, and what was derived from them.
        self._runs_this: dict[Hashable, tuple[list[Item], list[Derived]]] = {}
        self._runs_last: dict[Hashable, tuple[list[Item], list[Derived]]] = {}

    def each(
        self, items: Iterable[Item], cycle: float, run: Hashable | None = None
    ) -> list[Derived]:
        """Return what is derived from each item, in order, in the cycle of time `cycle`.

        `run` names a list asked for again cycle after cycle, a few items dropped at its
        start and added at its end (a chart's series, a tail of lines): the items it still
        holds, in the order it held them, are found with one comparison each, in C, not one
        lookup each; only the rest are looked up.
        """
        if cycle != self._cycle:
            self._cycle, self._cycles = cycle, self._cycles + 1
            if self._cycles >= self._generation:
                self._cycles, self._last, self._this = 0, self._this, {}
                self._runs_last, self._runs_this = self._runs_this, {}
        held = list(items)
        if run is None:
            return self._each(held)
        known = self._runs_this.get(run) or self._runs_last.get(run)
        derived = self._continued(known, held) if known else self._each(held)
        self._runs_this[run] = (held, derived)
        return derived

    def _continued(
        self, known: tuple[list[Item], list[Derived]], held: list[Item]
    ) -> list[Derived]:
        """Return what is derived from `held`, reusing what `known` (a run's last items and
        what was derived from them) has of the items `held` starts with."""
        before, derived = known
        if not held:
            return []
        # Where the run starts now among its last items (identity: an equal copy is new).
        start = list(map(is_, before[:RUN_DROPS], repeat(held[0])))
        if True not in start:
            return self._each(held)
        dropped = start.index(True)
        kept = _shared_start(before[dropped:], held)
        return derived[dropped : dropped + kept] + self._each(held[kept:])

    def _each(self, held: list[Item]) -> list[Derived]:
        """Return what is derived from each item, looked up one by one."""
        this, last = self._this, self._last
        out: list = []
        unknown: list[int] = []  # the places of the items to derive
        for item in held:
            key = id(item)
            # An id found names its item: both maps hold their items, so no id of theirs recurs.
            known = this.get(key)
            if known is None:
                known = last.get(key)
                if known is None:
                    unknown.append(len(out))
                    out.append(None)
                    continue
                this[key] = known
            out.append(known[1])
        if unknown:
            for k, value in zip(unknown, self._derive([held[k] for k in unknown]), strict=True):
                this[id(held[k])] = (held[k], value)
                out[k] = value
        return out


class LastRun(Generic[Item, Derived]):
    """What was derived from the items of the last list asked for (held: items are found by
    identity, as in CycleMemo). The oldest page of a list that is full loses its oldest items
    as new ones come, every cycle, and keeps the others: asked again, it starts with the items
    of last time, and only the rest are derived."""

    def __init__(self, derive: Callable[[list[Item]], list[Derived]]) -> None:
        self._derive = derive
        self._last: tuple[list[Item], list[Derived]] = ([], [])  # replaced whole (threads)

    def each(self, items: Iterable[Item]) -> list[Derived]:
        """Return what is derived from each item, in order."""
        held = list(items)
        before, derived = self._last
        kept = _shared_start(before, held)
        made = derived[:kept] + (self._derive(held[kept:]) if kept < len(held) else [])
        self._last = (held, made)
        return made

"""What a page derives from each item it shows, kept while the item is still shown.

A log line stays on the logs pages for hundreds of cycles while a few new ones arrive each
cycle; its markup and its JSON entry never change. Deriving them anew every cycle made a
cycle's cost grow with the tail as it filled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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


class CycleMemo(Generic[Item, Derived]):
    """What is derived from each item, for the items asked for in the current generation of
    `generation` cycles and the one before it (memory follows what is shown, not the past).

    Items are found by identity: the sources hand the same objects in cycle after cycle
    (a log line of the tail, a chart point of a held slice), and a log record's value hash
    walks all its fields, four times an item a cycle. They are held here, so no id recurs;
    a copy (as a pool worker unpickles) is derived anew. The items not known are derived
    together, in one call: a first render derives them all, as fast as without the memo.
    """

    def __init__(self, derive: Callable[[list[Item]], list[Derived]], generation: int = 1) -> None:
        self._derive = derive
        self._generation = generation
        self._cycle: float | None = None
        self._cycles = generation  # cycles into the current generation: the first starts one
        self._this: dict[int, tuple[Item, Derived]] = {}
        self._last: dict[int, tuple[Item, Derived]] = {}

    def each(self, items: Iterable[Item], cycle: float) -> list[Derived]:
        """Return what is derived from each item, in order, in the cycle of time `cycle`."""
        if cycle != self._cycle:
            self._cycle, self._cycles = cycle, self._cycles + 1
            if self._cycles >= self._generation:
                self._cycles, self._last, self._this = 0, self._this, {}
        this, last = self._this, self._last
        held = list(items)
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

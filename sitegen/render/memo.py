"""What a page derives from each item it shows, kept while the item is still shown.

A log line stays on the logs pages for hundreds of cycles while a few new ones arrive each
cycle; its markup and its JSON entry never change. Deriving them anew every cycle made a
cycle's cost grow with the tail as it filled.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

Item = TypeVar("Item", bound=Hashable)
Derived = TypeVar("Derived")


class CycleMemo(Generic[Item, Derived]):
    """What is derived from each item, by the item's value, for the items asked for in the
    current cycle and the one before it (memory follows what is shown, not the past)."""

    def __init__(self, derive: Callable[[Item], Derived]) -> None:
        self._derive = derive
        self._cycle: float | None = None
        self._this: dict[Item, Derived] = {}
        self._last: dict[Item, Derived] = {}

    def each(self, items: Iterable[Item], cycle: float) -> list[Derived]:
        """Return what is derived from each item, in order, in the cycle of time `cycle`."""
        if cycle != self._cycle:
            self._cycle, self._last, self._this = cycle, self._this, {}
        this, last = self._this, self._last
        out = []
        for item in items:
            value = this.get(item, self)  # self: not derived yet (None may be a value)
            if value is self:
                value = last[item] if item in last else self._derive(item)
                this[item] = value
            out.append(value)
        return out

"""The garbage collector's policy in a long run: what a cycle leaves alive is set aside.

A long run keeps thousands of objects from cycle to cycle (the spans of 10,000 finished
traces are a quarter of a million), and CPython's collector walks every one of them in each
full pass: about a quarter of a second at 10,000 traces, every third cycle or so, whatever
the cycle did. After each cycle, Settle collects what that cycle left (a pass over the
objects made since the last cycle, not over the whole heap: the older ones are frozen) and
then freezes what is still alive, so later passes skip it. Frozen objects are still freed
when their last reference goes; only a reference cycle among them waits, for the full pass
over everything that Settle runs every FULL_EVERY_SECONDS seconds at the latest, and after
FULL_EVERY_CYCLES cycles at first. A full pass that finds no garbage among the frozen
objects doubles the cycles to the next (a run whose kept objects make no reference cycles
spent 20 to 50 ms every 100 cycles finding none); one that finds some goes back to
FULL_EVERY_CYCLES.

Within a cycle, the snapshot is set aside (frozen) once collected: it lasts the cycle, and
the render's collections need not walk it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

FULL_EVERY_CYCLES = 100
FULL_EVERY_SECONDS = 600.0


def set_aside() -> None:
    """Freeze what is alive now, after collecting what the young generations left."""
    # Called once a cycle's snapshot is collected: it lasts the cycle, and a full pass during
    # the render walked all of it. A first cycle of a large site (a one-shot render) made one:
    # a tenth of its render. Young garbage (a failed source's traceback) is collected first,
    # not frozen; what was older is Settle's to collect, as before.
    gc.collect(1)
    gc.freeze()


class Settle:
    """Collect after each cycle what it left, freeze the rest, and now and then collect all."""

    def __init__(
        self,
        every_cycles: int = FULL_EVERY_CYCLES,
        every_seconds: float = FULL_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every_cycles, self.every_seconds, self._clock = every_cycles, every_seconds, clock
        self._cycles, self._since = 0, clock()
        self._bound = every_cycles  # the cycles from one full pass to the next, for now

    def due(self) -> bool:
        """Say whether the next settle walks every object (frozen ones too)."""
        return self._cycles + 1 >= self._bound or self._clock() - self._since >= self.every_seconds

    def __call__(self) -> int:
        """Settle after a cycle; return how many unreachable objects were found."""
        found = gc.collect()  # what the cycle left: the frozen objects are not walked
        if self.due():
            gc.unfreeze()
            frozen = gc.collect()  # reference cycles among the objects frozen until now
            self._bound = self.every_cycles if frozen else 2 * self._bound
            self._cycles, self._since, found = 0, self._clock(), found + frozen
        else:
            self._cycles += 1
        gc.freeze()
        return found

"""The garbage collector's policy in a long run: what a cycle leaves alive is set aside.

A long run keeps thousands of objects from cycle to cycle (the spans of 10,000 finished
traces are a quarter of a million), and CPython's collector walks every one of them in each
full pass: about a quarter of a second at 10,000 traces, every third cycle or so, whatever
the cycle did. After each cycle, Settle collects what that cycle left (a pass over the
objects made since the last cycle, not over the whole heap: the older ones are frozen) and
then freezes what is still alive, so later passes skip it. Frozen objects are still freed
when their last reference goes; only a reference cycle among them waits, for the full pass
over everything that Settle runs at least every FULL_EVERY_CYCLES cycles and every
FULL_EVERY_SECONDS seconds.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

FULL_EVERY_CYCLES = 100
FULL_EVERY_SECONDS = 600.0


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

    def due(self) -> bool:
        """Say whether the next settle walks every object (frozen ones too)."""
        return (
            self._cycles + 1 >= self.every_cycles
            or self._clock() - self._since >= self.every_seconds
        )

    def __call__(self) -> int:
        """Settle after a cycle; return how many unreachable objects were found."""
        if self.due():
            gc.unfreeze()
            self._cycles, self._since = 0, self._clock()
        else:
            self._cycles += 1
        found = gc.collect()
        gc.freeze()
        return found

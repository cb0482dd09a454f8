"""The collector's policy of a long run: frozen survivors, and garbage still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from sitegen.gcpolicy import Settle, set_aside


class Node:
    """An object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    # The rest of the test process must not keep what a test froze.
    yield
    gc.unfreeze()
    gc.collect()


def _cycle() -> weakref.ref:
    """Make a reference cycle that nothing else holds; return a weak reference to it."""
    return weakref.ref(Node())


def test_a_cycle_s_garbage_is_collected_by_the_settle_after_it() -> None:
    gone = _cycle()
    assert gone() is not None  # only the collector can free a cycle
    assert Settle()() >= 1
    assert gone() is None


def test_what_a_cycle_leaves_alive_is_frozen_and_later_passes_skip_it() -> None:
    kept = [Node() for _ in range(1000)]
    Settle()()
    assert gc.get_freeze_count() >= len(kept)
    # A full pass of the collector walks only what is not frozen.
    assert not any(o is kept[0] for o in gc.get_objects(2))


def test_set_aside_freezes_what_lives_and_collects_the_young_garbage_first() -> None:
    kept = [Node() for _ in range(1000)]
    gone = _cycle()
    set_aside()
    assert gone() is None  # a reference cycle just made and dropped: collected, not frozen
    assert gc.get_freeze_count() >= len(kept)
    assert not any(o is kept[0] for g in range(3) for o in gc.get_objects(g))


def test_a_frozen_cycle_that_dies_is_collected_within_every_cycles() -> None:
    settle = Settle(every_cycles=5, every_seconds=1e9)
    node = Node()
    held = weakref.ref(node)
    settle()  # frozen while alive
    del node
    for _ in range(3):  # settles 2 to 4: the frozen cycle is not looked at
        settle()
        assert held() is not None
    assert settle.due()
    settle()  # the fifth: a pass over everything
    assert held() is None


def test_a_frozen_cycle_that_dies_is_collected_within_every_seconds() -> None:
    now = [0.0]
    settle = Settle(every_cycles=1000, every_seconds=600.0, clock=lambda: now[0])
    node = Node()
    held = weakref.ref(node)
    settle()  # frozen while alive
    del node
    now[0] = 599.0
    assert not settle.due()
    settle()
    assert held() is not None
    now[0] = 600.0
    assert settle.due()
    settle()
    assert held() is None


def _full_passes(settle: Settle, settles: int) -> list[int]:
    """Settle `settles` times; return the numbers (from 1) of those that walked everything."""
    passes = []
    for n in range(1, settles + 1):
        if settle.due():
            passes.append(n)
        settle()
    return passes


def test_full_passes_that_find_nothing_come_ever_less_often() -> None:
    settle = Settle(every_cycles=2, every_seconds=1e9)
    # After 2 settles, then 4 and 8 more: each pass found no garbage among frozen objects.
    assert _full_passes(settle, 14) == [2, 6, 14]


def test_a_full_pass_that_finds_frozen_garbage_brings_back_the_first_bound() -> None:
    settle = Settle(every_cycles=2, every_seconds=1e9)
    assert _full_passes(settle, 6) == [2, 6]  # the next one 8 settles on
    node = Node()
    held = weakref.ref(node)
    settle()  # 7: frozen while alive
    del node
    assert _full_passes(settle, 7) == [7]  # 14: collects the cycle, then every 2 again
    assert held() is None
    assert _full_passes(settle, 2) == [2]


def test_the_time_bound_holds_however_far_the_cycles_bound_went() -> None:
    now = [0.0]
    settle = Settle(every_cycles=1, every_seconds=600.0, clock=lambda: now[0])
    _full_passes(settle, 20)  # passes that found nothing: the bound is far past 20
    now[0] += 600.0
    assert settle.due()

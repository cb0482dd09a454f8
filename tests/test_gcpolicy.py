"""The collector's policy of a long run: frozen survivors, and garbage still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from sitegen.gcpolicy import Settle


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

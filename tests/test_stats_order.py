"""Traces newest first, the order of one cycle moved to the next: always the full sort's."""

from __future__ import annotations

import itertools
import random

from sitegen.model import Span, Trace
from sitegen.traces import stats

ORDER = stats._ORDER_KEY
SHOWN = 1300  # the order is moved while at most 1 trace in 64 comes or goes: 20 here


def trace(n: int, start: int) -> Trace:
    tid = f"{n:032x}"
    return Trace(tid, (Span(tid, f"{n:016x}", None, "GET /", "frontend", start, start + 9),))


def alike(t: Trace) -> Trace:
    """Return another trace of the same id and start: it sorts alike, as one rebuilt does."""
    start = t.start_ns
    late = Span(t.trace_id, "late", t.spans[0].span_id, "get", "cart", start + 1, start + 5)
    return Trace(t.trace_id, (*t.spans, late))


def once(shown: list[Trace], rng: random.Random) -> int:
    """Return the place of a trace shown once (a trace may be shown twice, or alike another)."""
    while True:
        k = rng.randrange(len(shown))
        if sum(ORDER(t) == ORDER(shown[k]) for t in shown) == 1:
            return k


def test_the_order_moved_from_cycle_to_cycle_is_the_full_sort(monkeypatch) -> None:
    sorts: list[int] = []

    def counting(items, **kw):
        if kw.get("key") is ORDER:
            sorts.append(1)
        return sorted(items, **kw)

    monkeypatch.setattr(stats, "sorted", counting, raising=False)
    rng = random.Random(8)
    numbers = itertools.count()

    def fresh() -> Trace:
        # Starts from 300 values: many traces share one, and are ordered by id.
        return trace(next(numbers), rng.randrange(300) * 1000)

    newest_first = stats._NewestFirst()
    shown = [fresh() for _ in range(SHOWN)]
    newest_first(tuple(shown))
    for cycle in range(44):
        step = cycle % 11
        moved = True  # whether the order is moved from the last one, not sorted anew
        if step == 0:  # the oldest in the tuple go, new ones come at its end
            shown = shown[5:] + [fresh() for _ in range(5)]
        elif step == 1:  # new ones come at the front, the last go (as sources give them)
            shown = [fresh() for _ in range(4)] + shown[:-4]
        elif step == 2:  # traces rebuilt in their place: with late spans (the same id and
            # start), and with the same spans (equal to the one it replaces, not the same)
            k = once(shown, rng)
            shown[k] = alike(shown[k])
            k = once(shown, rng)
            shown[k] = Trace(shown[k].trace_id, shown[k].spans)
        elif step == 3:  # a trace shown twice; the next cycles keep both
            shown.insert(rng.randrange(len(shown)), shown[rng.randrange(len(shown))])
            moved = False
        elif step == 4:  # another trace alike one shown; the next cycles keep both
            shown.insert(rng.randrange(len(shown)), alike(shown[rng.randrange(len(shown))]))
            moved = False
        elif step == 5:  # some go from anywhere
            for _ in range(3):
                del shown[rng.randrange(len(shown))]
        elif step == 6:  # the same traces in a new tuple
            pass
        elif step == 7:  # two traces alike swap places: the sort keeps them as given
            k = once(shown, rng)
            twin = alike(shown[k])
            shown[k : k + 1] = [shown[k], twin]
            newest_first(tuple(shown))
            shown[k : k + 2] = [twin, shown[k]]
            moved = False
        elif step == 8:  # one of a trace shown twice goes
            twice = [k for k, t in enumerate(shown) if sum(u is t for u in shown) == 2]
            del shown[rng.choice(twice)]
        elif step == 9:  # the tuple replaced entirely
            shown = [fresh() for _ in range(SHOWN)]
            moved = False
        else:  # two alike come together
            came = fresh()
            shown[-2:] = [came, alike(came)]
            moved = False
        sorts.clear()
        traces = tuple(shown)
        order = newest_first(traces)
        expected = sorted(traces, key=ORDER, reverse=True)
        # By identity: a trace alike another, or rebuilt the same, is equal to it.
        assert list(map(id, order)) == list(map(id, expected)), (cycle, step)
        assert sorts == ([] if moved else [1]), (cycle, step)
        order.reverse()  # the caller's to change: the next call is not
        assert list(map(id, newest_first(traces))) == list(map(id, expected))
    assert newest_first(list(shown)) == sorted(shown, key=ORDER, reverse=True)


def test_of_a_trace_shown_twice_with_another_alike_between_the_one_gone_counts(
    monkeypatch,
) -> None:
    monkeypatch.setattr(stats, "_MOVES_PER_SORT", 1)  # tuples of a few traces moved too
    x = trace(1, 5000)
    y = alike(x)
    others = [trace(n, n * 1000) for n in range(2, 12)]
    shown = (*others[:5], x, y, x, *others[5:])
    for gone in (5, 7):  # the first x or the second: y sorts after or before the one left
        newest_first = stats._NewestFirst()
        newest_first(shown)
        traces = shown[:gone] + shown[gone + 1 :]
        expected = sorted(traces, key=ORDER, reverse=True)
        assert list(map(id, newest_first(traces))) == list(map(id, expected))

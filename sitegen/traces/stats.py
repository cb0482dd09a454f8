"""What many traces say together: latency per service and operation, who calls whom."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from operator import attrgetter, eq, is_, itemgetter, length_hint
from typing import Generic, TypeVar

from sortedcontainers import SortedList

from sitegen.model import Span, Trace


@dataclass(frozen=True)
class OpStats:
    """Latency of one operation of one service over the traces shown."""

    service: str
    operation: str
    count: int
    p50_ns: int
    p95_ns: int
    p99_ns: int
    self_ns: int  # median time spent in the span itself, not waiting for its children
    errors: int


@dataclass(frozen=True)
class Edge:
    """Calls from one service to another: how many, and how many ended in error."""

    caller: str
    callee: str
    calls: int
    errors: int


_ORDER_KEY = attrgetter("start_ns", "trace_id")
# Moving the last order costs about 2.5 us a trace come or gone, a sort of 10,000 traces
# 1 ms: past one trace in 64 changed, they are sorted anew. A tuple of the same traces in
# another order (each looks gone) is so given up on after a walk of 1/64 of it.
_MOVES_PER_SORT = 64


def _same_run(a: tuple[Trace, ...], i: int, b: tuple[Trace, ...], j: int) -> int:
    """Return how many traces from a[i] on are the very objects from b[j] on."""
    # Compared by identity, in C: == would call a trace's __eq__ on each pair that differs,
    # and take a trace rebuilt with the same spans for the one it replaced.
    from_a, from_b = iter(a), iter(b)
    from_a.__setstate__(i)  # a tuple's iterator starts at i without walking up to it
    from_b.__setstate__(j)
    if all(map(is_, from_a, from_b)):  # all() is twice as fast as finding the first False
        return min(len(a) - i, len(b) - j)
    return len(a) - length_hint(from_a) - i - 1  # all() stopped past the pair that differs


class _NewestFirst:
    """Traces sorted newest first, the order of the last tuple sorted kept: a cycle's pages
    and its data/traces.json list the snapshot's traces in one order, sorted once.

    A site of thousands of traces gains a few a cycle and drops as many: the order of a new
    tuple is moved from the last one by the traces that came and went, told apart by
    identity (the last tuple is held, so no id of its traces is reused), not sorted anew.
    """

    def __init__(self) -> None:
        self._of: tuple[Trace, ...] = ()
        # The last tuple sorted, oldest first. Traces that sort alike (one trace twice, one
        # id and start twice) are kept by the sort in the order given: here, reversed.
        self._oldest: list[Trace] = []

    def __call__(self, traces: Iterable[Trace]) -> list[Trace]:
        """Return traces by start time, newest first, whatever order the sources gave them in."""
        if traces is self._of:
            return self._oldest[::-1]
        if not isinstance(traces, tuple):  # mutable: nothing to keep for the next call
            return sorted(traces, key=_ORDER_KEY, reverse=True)
        oldest = self._moved(traces)
        if oldest is None:
            oldest = sorted(traces, key=_ORDER_KEY, reverse=True)[::-1]
        self._of, self._oldest = traces, oldest
        return oldest[::-1]

    def _alike_at(self, key: tuple) -> range:
        """Return the places in the last order of the traces that sort as key does."""
        oldest = self._oldest
        start = end = bisect_left(oldest, key, key=_ORDER_KEY)
        while end < len(oldest) and _ORDER_KEY(oldest[end]) == key:
            end += 1
        return range(start, end)

    def _has(self, trace: Trace) -> bool:
        """Return whether the last tuple holds this very trace."""
        return any(self._oldest[at] is trace for at in self._alike_at(_ORDER_KEY(trace)))

    def _drops(self, went: list[Trace]) -> set[int] | None:
        """Return the places in the last order of the traces that went; None when one of
        them is there twice with another alike between: which of the two went is not known."""
        drops: set[int] = set()
        oldest = self._oldest
        for trace in went:
            places = self._alike_at(_ORDER_KEY(trace))
            mine = [at for at in places if oldest[at] is trace]
            free = [at for at in mine if at not in drops]
            if len(mine) < mine[-1] - mine[0] + 1 and len(free) > 1:
                return None
            drops.add(free[0])
        return drops

    def _moved(self, traces: tuple[Trace, ...]) -> list[Trace] | None:
        """Return the traces oldest first, moved from the last order by those that came and
        went; None when too many did, or when traces alike leave the sort's order unknown."""
        last, budget = self._of, len(traces) // _MOVES_PER_SORT
        came: list[Trace] = []
        went: list[Trace] = []
        i = j = 0
        # Walk both tuples in step over runs of the same objects. Where they differ, the new
        # one came if the last tuple lacks it, else the old one went (or moved: it then
        # comes back further on). Either way the new traces are the last ones, less those
        # that went, with those that came; and those kept are in the same order as last.
        while len(came) + len(went) <= budget:
            run = _same_run(traces, i, last, j)
            i, j = i + run, j + run
            if i == len(traces) or j == len(last):
                came += traces[i:]
                went += last[j:]
                break
            if self._has(traces[i]):
                went.append(last[j])
                j += 1
            else:
                came.append(traces[i])
                i += 1
        if len(came) + len(went) > budget:
            return None
        oldest = self._oldest
        drops = self._drops(went)
        if drops is None:
            return None
        came.sort(key=_ORDER_KEY)
        keys = list(map(_ORDER_KEY, came))
        cuts = [bisect_left(oldest, key, key=_ORDER_KEY) for key in keys]  # what each goes before
        for cut, key in zip(cuts, keys, strict=True):
            while cut in drops:
                cut += 1
            if cut < len(oldest) and _ORDER_KEY(oldest[cut]) == key:
                return None  # alike one kept: the sort puts them in the order given
        if any(map(eq, keys, islice(keys, 1, None))):
            return None  # two alike came
        # One pass over the last order, a slice between each two changes; at one place,
        # those that came go before the one that went.
        steps = [(at, True, None) for at in drops]
        steps += zip(cuts, repeat(False), came)
        steps.sort(key=itemgetter(0, 1))
        moved: list[Trace] = []
        start = 0
        for at, dropped, trace in steps:
            moved += oldest[start:at]
            if dropped:
                start = at + 1
            else:
                moved.append(trace)
                start = at
        moved += oldest[start:]
        return moved


newest_first = _NewestFirst()


def _quantile(ordered: Sequence[int], q: float) -> int:
    """Return the q-quantile of sorted values as statistics.quantiles(n=100, method=
    "inclusive") does, without sorting them again."""
    if len(ordered) == 1:
        return ordered[0]
    j, delta = divmod(round(q * 100) * (len(ordered) - 1), 100)
    return int((ordered[j] * (100 - delta) + ordered[j + 1] * delta) / 100)


def _median(ordered: Sequence[int]) -> int:
    """Return the median of sorted values as int(statistics.median(...)) does."""
    half = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[half]
    return int((ordered[half - 1] + ordered[half]) / 2)


def _children(trace: Trace) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = {}
    for span in trace.spans:
        if span.parent_id:
            out.setdefault(span.parent_id, []).append(span)
    return out


def self_time(span: Span, children: list[Span]) -> int:
    """Return the part of a span's time not covered by any of its children."""
    covered, cursor = 0, span.start_ns
    for child in sorted(children, key=lambda c: c.start_ns):
        start, end = max(child.start_ns, cursor), min(child.end_ns, span.end_ns)
        if end > start:
            covered += end - start
            cursor = end
    return max(0, span.duration_ns - covered)


Part = TypeVar("Part")
Derived = TypeVar("Derived")


class PerTrace(Generic[Derived]):
    """What is derived from each trace, kept from one call to the next by the trace's state.

    A finished trace's state, and so what is derived from it, never changes, and a site of
    thousands of traces gains a few a cycle: each call derives only for traces new since the
    last. The same state gets the same object back, so a page made of it keeps its key.
    A trace of the last call is found by its identity (the traces of the last call are held,
    so no id of theirs is reused), in C and without hashing its state: only the traces that
    are new objects are looked up by state, among those of the last call that are gone.
    """

    def __init__(self, derive: Callable[[Trace], Derived], by_state: bool = True) -> None:
        self._derive = derive  # never None: None marks a trace not yet seen
        # False for what holds the trace itself: a trace rebuilt with the same state gets a
        # new one, rather than one holding the trace it replaced (twice the spans in memory).
        self._by_state = by_state
        self._traces: dict[int, Trace] = {}  # the last call's, by id (held)
        self._kept: dict[int, Derived] = {}  # by the trace's id

    def each(self, traces: Iterable[Trace]) -> list[Derived]:
        """Return what is derived from each trace, in order."""
        held = tuple(traces)
        ids = list(map(id, held))
        out: list = list(map(self._kept.get, ids))
        new = [k for k, value in enumerate(out) if value is None]
        shown = set(ids)
        if not new and len(shown) == len(self._traces):
            return out  # the same traces: nothing came or went
        # Only this call's are kept, so memory follows the site, not its past. The two maps
        # are changed in place, not made anew: a long run's collector froze them, and ten
        # thousand entries made anew each cycle were walked by its next pass.
        gone = self._traces.keys() - shown
        # Traces rebuilt since the last call with the same state (a source that made them
        # anew) get what was derived for the one they replace.
        by_state = {self._traces[i].state: self._kept[i] for i in gone} if self._by_state else {}
        for k in new:
            trace = held[k]
            value = by_state.get(trace.state)
            if value is None:
                value = by_state[trace.state] = self._derive(trace)
            out[k] = value
            self._traces[ids[k]], self._kept[ids[k]] = trace, value
        for i in gone:
            del self._traces[i], self._kept[i]
        return out


class _Tally(Generic[Part]):
    """Totals over many traces, moved each call by the traces that came and went.

    A site of thousands of finished traces gains a few a cycle: what each trace adds (its
    part) is kept by the trace's state, and the totals change by the parts of the traces new
    since the last call and of those gone, not by walking every span again. The traces that
    came and went are told by identity (the last call's are held, so no id of theirs is
    reused): counting and comparing ids is done in C, hashing every trace's state is not.
    """

    def __init__(
        self,
        part: Callable[[Trace], Part],
        add: Callable[[Part, int], None],
        fill: Callable[[list[tuple[Part, int]]], None],
    ) -> None:
        # add moves the totals by a part n times (n < 0: out); fill sets them to the sum of
        # parts, each n times, at once.
        self._part, self._add, self._fill = part, add, fill
        self._forget()

    def _forget(self) -> None:
        """Start from no traces, the totals cleared."""
        self._fill([])
        self._parts: dict[tuple, Part] = {}  # by state
        self._states: Counter[tuple] = Counter()  # by state: how many traces of the last call
        # By id: how many times the last call had each trace; None when it had each once.
        self._counts: Counter[int] | None = None
        self._traces: dict[int, Trace] = {}  # the last call's, by id (held)
        self._held: tuple[Trace, ...] = ()

    def update(self, traces: Iterable[Trace]) -> None:
        """Move the totals to those of these traces."""
        held = tuple(traces)  # a tuple itself: the same traces as the last call, moved already
        if held is self._held:
            return
        try:
            self._move(held)
        except BaseException:
            # Moved part-way, the totals would stay wrong for good: the next call counts anew.
            self._forget()
            raise

    def _move(self, held: tuple[Trace, ...]) -> None:
        # By ids alone, not reading the traces themselves (10,000 of them scattered among
        # their spans cost more in cache misses than the counting).
        by_id = dict(zip(map(id, held), held, strict=True))
        counts = None if len(by_id) == len(held) else Counter(map(id, held))
        if counts is None and self._counts is None:
            # Each trace once, in this call and the last (the usual case): a difference of
            # sets of ids, not of 10,000 new (id, count) pairs for the collector to walk.
            went = [(i, 1) for i in self._traces.keys() - by_id.keys()]
            came = [(i, 1) for i in by_id.keys() - self._traces.keys()]
        else:  # a trace shown twice counts twice
            now = counts if counts is not None else dict.fromkeys(by_id, 1)
            last = self._counts if self._counts is not None else dict.fromkeys(self._traces, 1)
            went, came = list(last.items() - now.items()), list(now.items() - last.items())
        if 2 * (len(went) + len(came)) > len(by_id):
            # The traces that came and went outnumber half of those shown (a first call, a
            # source that replaced them all): the totals made anew, each operation's values
            # sorted once, cost less than moving them value by value.
            self._refill(by_id, counts)
        else:
            self._step(by_id, went, came)
        self._counts, self._traces, self._held = counts, by_id, held

    def _step(self, by_id: dict[int, Trace], went: list, came: list) -> None:
        """Move the totals by the traces that went and came, (id, times) each."""
        # A trace with no spans has no bounds to tell its state by, and nothing to add.
        gone = [(trace.state, n) for i, n in went if (trace := self._traces[i]).spans]
        for state, n in gone:
            self._add(self._parts[state], -n)
            self._states[state] -= n
        for i, n in came:
            trace = by_id[i]
            if not trace.spans:
                continue
            part = self._parts[trace.state] = self._part_of(trace)
            self._add(part, n)
            self._states[trace.state] += n
        # Only the traces of this call are kept, so memory follows the site, not its past.
        for state, _n in gone:
            if state in self._parts and not self._states[state]:
                del self._parts[state], self._states[state]

    def _refill(self, by_id: dict[int, Trace], counts: Counter[int] | None) -> None:
        """Set the totals to those of these traces, each `counts` times (None: once)."""
        parts: dict[tuple, Part] = {}
        states: Counter[tuple] = Counter()
        shown = (
            zip(by_id.values(), repeat(1))
            if counts is None
            else ((by_id[i], n) for i, n in counts.items())
        )
        for trace, n in shown:
            if not trace.spans:
                continue
            if trace.state not in parts:
                parts[trace.state] = self._part_of(trace)
            states[trace.state] += n
        self._fill([(parts[state], n) for state, n in states.items()])
        self._parts, self._states = parts, states

    def _part_of(self, trace: Trace) -> Part:
        """Return a trace's part: the one kept for its state since the last call, else derived."""
        part = self._parts.get(trace.state)
        return part if part is not None else self._part(trace)


# Per (service, operation): span durations, self times, errors. Tuples of numbers and
# strings: the collector stops tracking them, and a part is kept for each of thousands of traces.
_Ops = tuple[tuple[tuple[str, str], tuple[int, ...], tuple[int, ...], int], ...]
# Per (service, operation): durations and self times, each kept sorted, and errors. Sorted
# lists in pieces (SortedList): a value goes in or out in O(log n), where one sorted list
# moved half its values each time (a tenth of a cycle, with 250,000 spans kept).
_OPS: dict[tuple[str, str], tuple[SortedList, SortedList, list[int]]] = {}


def _part(trace: Trace) -> _Ops:
    children = _children(trace)
    part: dict[tuple[str, str], tuple[list[int], list[int], list[int]]] = {}
    for span in trace.spans:
        durations, selves, errors = part.setdefault((span.service, span.name), ([], [], []))
        duration = span.duration_ns
        durations.append(duration)
        kids = children.get(span.span_id)
        # A leaf's own time is all its time: most spans are leaves, and a call with a sort of
        # no children was half of a part's cost.
        selves.append(self_time(span, kids) if kids else duration)
        errors.append(span.status == "error")
    return tuple((key, tuple(d), tuple(s), sum(e)) for key, (d, s, e) in part.items())


def _move(ordered: SortedList, values: tuple[int, ...], n: int) -> None:
    """Insert values into a sorted list n times (n > 0), or remove them -n times."""
    for _ in range(abs(n)):
        if n > 0:
            ordered.update(values)
        else:
            for v in values:
                ordered.remove(v)


def _fill_ops(parts: list[tuple[_Ops, int]]) -> None:
    grouped: dict[tuple[str, str], tuple[list[int], list[int], list[int]]] = {}
    for part, n in parts:
        for key, d, s, e in part:
            durations, selves, errors = grouped.setdefault(key, ([], [], [0]))
            durations.extend(d * n)
            selves.extend(s * n)
            errors[0] += e * n
    _OPS.clear()
    _OPS.update((key, (SortedList(d), SortedList(s), e)) for key, (d, s, e) in grouped.items())


def _add_ops(part: _Ops, n: int) -> None:
    for key, d, s, e in part:
        durations, selves, errors = _OPS.get(key) or (SortedList(), SortedList(), [0])
        _OPS[key] = (durations, selves, errors)
        _move(durations, d, n)
        _move(selves, s, n)
        errors[0] += e * n
        if not durations:
            del _OPS[key]


def breakdown(traces: Iterable[Trace]) -> list[OpStats]:
    """Return latency percentiles and self time per (service, operation), slowest first."""
    _TALLY.update(traces)
    stats = [
        OpStats(svc, op, len(d), *(_quantile(d, q) for q in (0.5, 0.95, 0.99)), _median(s), e)
        for (svc, op), (d, s, (e,)) in _OPS.items()
    ]
    return sorted(stats, key=lambda s: (-s.p95_ns, s.service, s.operation))


# Per (caller, callee) service: calls, and how many ended in error (tuples, as _Ops).
_Calls = tuple[tuple[tuple[str, str], int, int], ...]
_CALLS: dict[tuple[str, str], list[int]] = {}


def _calls(trace: Trace) -> _Calls:
    calls: dict[tuple[str, str], list[int]] = {}
    by_id = {s.span_id: s for s in trace.spans}
    for span in trace.spans:
        parent = by_id.get(span.parent_id or "")
        if parent is not None and parent.service != span.service:
            tally = calls.setdefault((parent.service, span.service), [0, 0])
            tally[0] += 1
            tally[1] += span.status == "error"
    return tuple((pair, n, e) for pair, (n, e) in calls.items())


def _add_calls(part: _Calls, n: int) -> None:
    for pair, calls, errors in part:
        tally = _CALLS.setdefault(pair, [0, 0])
        tally[0] += calls * n
        tally[1] += errors * n
        if not tally[0]:
            del _CALLS[pair]


def _parts(trace: Trace) -> tuple[_Ops, _Calls]:
    return _part(trace), _calls(trace)


def _add_parts(parts: tuple[_Ops, _Calls], n: int) -> None:
    _add_ops(parts[0], n)
    _add_calls(parts[1], n)


def _fill_parts(parts: list[tuple[tuple[_Ops, _Calls], int]]) -> None:
    _fill_ops([(ops, n) for (ops, _calls), n in parts])
    _CALLS.clear()
    for (_ops, calls), n in parts:
        _add_calls(calls, n)


# Both statistics of the traces shown, moved together: a cycle asks for both, of the same
# traces, and tells the traces that came and went once.
_TALLY = _Tally(_parts, _add_parts, _fill_parts)


def dependencies(traces: Iterable[Trace]) -> list[Edge]:
    """Return the service-to-service calls: a child span in another service is a call."""
    _TALLY.update(traces)
    return [Edge(a, b, n, e) for (a, b), (n, e) in sorted(_CALLS.items())]


@dataclass(frozen=True)
class Section:
    """A stretch of one span on the critical path: what the trace's end waited for."""

    span_id: str
    start_ns: int
    end_ns: int


def _clipped(trace: Trace) -> tuple[list[Span], dict[str, tuple[int, int]], dict[str, list[Span]]]:
    """Return the roots, each span's time cut to its parent's, and each span's kept children.

    As Jaeger does: a child is cut to its parent's time (a parent waits for nothing after
    its own end), and one that ran wholly outside it is dropped, with its descendants.
    """
    ids = {s.span_id for s in trace.spans}
    children: dict[str, list[Span]] = {}
    roots = []
    for span in trace.spans:
        if span.parent_id in ids and span.parent_id != span.span_id:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)
    bounds = {r.span_id: (r.start_ns, max(r.start_ns, r.end_ns)) for r in roots}
    kept: dict[str, list[Span]] = {}
    todo = list(roots)
    while todo:
        parent = todo.pop()
        first, last = bounds[parent.span_id]
        for child in children.get(parent.span_id, ()):
            if child.span_id in bounds:
                continue  # a span id that reappears below itself: a cycle, walked once
            start, end = child.start_ns, max(child.start_ns, child.end_ns)
            if start >= last or (start < first and end <= first):
                continue
            bounds[child.span_id] = (max(start, first), min(end, last))
            kept.setdefault(parent.span_id, []).append(child)
            todo.append(child)
    for kids in kept.values():  # latest end first: the last finishing child leads
        kids.sort(key=lambda c: (-bounds[c.span_id][1], bounds[c.span_id][0], c.span_id))
    return roots, bounds, kept


def critical_sections(trace: Trace) -> list[Section]:
    """Return the critical path as Jaeger's UI computes it, from the trace's end backwards.

    From a span's end, the path goes into the child that finished last, down to a leaf;
    from the start of that child it goes on in the parent, into the child that finished
    before that start, and so on back to the parent's start. Sequential children all lie
    on it; of overlapping ones, only those the parent was left waiting for. FOLLOWS_FROM
    references are not told apart from parents here (the model keeps one parent).
    """
    roots, bounds, kids = _clipped(trace)
    parent_of = {c.span_id: p for p, cs in kids.items() for c in cs}
    sections: list[Section] = []
    for root in roots:
        # The walk Jaeger writes as a recursion, as a loop: a chain of 100,000 spans is fine.
        span_id, until = root.span_id, None
        next_kid: dict[str, int] = {}  # per span, the first child not yet passed over
        while True:
            start, end = bounds[span_id]
            stop = end if until is None else until
            candidates, i = kids.get(span_id, []), next_kid.get(span_id, 0)
            # `until` only ever falls for a span, so children passed over stay passed over.
            while (
                i < len(candidates)
                and until is not None
                and bounds[candidates[i].span_id][1] >= until
            ):
                i += 1
            if i < len(candidates):
                child = candidates[i]
                next_kid[span_id] = i + 1
                if bounds[child.span_id][1] != stop:
                    sections.append(Section(span_id, bounds[child.span_id][1], stop))
                span_id, until = child.span_id, None
                continue
            next_kid[span_id] = i
            if start != stop:
                sections.append(Section(span_id, start, stop))
            if span_id == root.span_id:
                break
            span_id, until = parent_of[span_id], start
    return sections


def on_path(sections: Iterable[Section]) -> frozenset[str]:
    """Return the ids of the spans that critical path sections lie on."""
    return frozenset(s.span_id for s in sections)

"""A trace as the rows of its waterfall: spans in tree order, alike siblings folded together.

A trace of a few hundred spans shows one row per span. A larger one (a batch job, a fan-out
of thousands of queries) is folded on the server: siblings of the same service and operation
become one row ("×250 SELECT cart") whose children are the union of theirs, spans on the
critical path are grouped apart from those off it (a row is wholly on the path or wholly
off it), and past the row limit the rest is counted, not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sitegen.model import Span, Trace

MAX_ROWS = 200  # a waterfall row is ~150 bytes: 200 keep a trace page near the page budget


@dataclass(frozen=True)
class Row:
    """One waterfall row: a span, or a group of alike sibling spans, at a depth of the tree."""

    spans: tuple[Span, ...]
    depth: int

    @property
    def span(self) -> Span:
        """Return the row's first span (its only one, unless the row is a group)."""
        return self.spans[0]

    @property
    def start_ns(self) -> int:
        """Return when the row's first span started."""
        return min(s.start_ns for s in self.spans)

    @property
    def end_ns(self) -> int:
        """Return when the row's last span ended."""
        return max(s.end_ns for s in self.spans)

    @cached_property  # the waterfall and the spans table both ask, the waterfall twice
    def errors(self) -> int:
        """Return how many of the row's spans ended in error."""
        return sum(s.status == "error" for s in self.spans)


@dataclass(frozen=True)
class Rows:
    """The rows of a waterfall and how many spans were left out past the row limit."""

    rows: tuple[Row, ...]
    hidden: int
    folded: bool  # alike siblings were grouped (the trace was too large for a row each)


def _children(trace: Trace) -> dict[str | None, list[Span]]:
    """Return each span's children by start time; orphans (parent not in the trace) as roots."""
    ids = {s.span_id for s in trace.spans}
    children: dict[str | None, list[Span]] = {}
    for span in trace.spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    for kids in children.values():
        kids.sort(key=lambda s: (s.start_ns, s.span_id))
    return children


def _groups(kids: list[Span], fold: bool, keep: frozenset[str]) -> list[tuple[Span, ...]]:
    """Return sibling spans as rows: alike ones (service, name, on the path or not) together
    when folding."""
    if not fold:
        return [(k,) for k in kids]
    rows: dict[object, list[Span]] = {}
    for k in kids:  # by first start: dicts keep insertion order
        key = (k.service, k.name, k.span_id in keep)
        rows.setdefault(key, []).append(k)
    return [tuple(group) for group in rows.values()]


def span_rows(trace: Trace, limit: int = MAX_ROWS, keep: frozenset[str] = frozenset()) -> Rows:
    """Return the waterfall rows of a trace, folded when it has more spans than `limit`.

    Spans whose ids are in `keep` (the critical path) are never folded with spans off it.
    """
    children = _children(trace)
    fold = len(trace.spans) > limit
    rows: list[Row] = []
    # Depth-first with an explicit stack: a chain of 100,000 spans must not recurse.
    stack = [(g, 0) for g in reversed(_groups(children.get(None, []), fold, keep))]
    while stack and len(rows) < limit:
        group, depth = stack.pop()
        rows.append(Row(group, depth))
        kids = sorted(
            (k for s in group for k in children.get(s.span_id, ())),
            key=lambda s: (s.start_ns, s.span_id),
        )
        stack.extend((g, depth + 1) for g in reversed(_groups(kids, fold, keep)))
    drawn = sum(len(r.spans) for r in rows)
    return Rows(tuple(rows), len(trace.spans) - drawn, fold)

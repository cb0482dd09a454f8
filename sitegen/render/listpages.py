"""The traces index in pages that keep their bytes while traces come and go.

Traces arrive at the new end and leave at the old end. Pages of a fixed count ("page 2 of
9") would shift every trace to another page each cycle, and every page would be rendered and
published again. Here page boundaries are chosen by the traces themselves, as
content-defined chunking does: a trace whose id hashes to 0 modulo EVERY starts a page,
unless another such trace follows within PAGE_MIN traces. That rule looks only at newer
traces, so dropping the oldest traces moves no boundary, and new traces only ever add one at
the new end. A run between two boundaries longer than PAGE_MAX is cut every PAGE_MAX traces,
counted from its older boundary (from its newer one for the oldest run, whose older boundary
is gone: when a run longer than PAGE_MAX becomes the oldest, its pieces are cut once more;
before there is any boundary, from the oldest trace).

The newest run is the live `traces/index.html`; every older page is named by the trace that
starts the page after it (`traces/before-<id>.html`), so the oldest page keeps its name while
its traces are dropped, and each page can link the page before it by its own first trace.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from sitegen.render.environment import trace_path

# The traces of a page: a row weighs about 33 bytes gzipped, so PAGE_MAX rows and the page's
# chrome stay within the page budget with the stylesheet.
PAGE_MIN = 32
PAGE_MAX = 200
EVERY = 64  # about one page per 100 traces (a boundary is a candidate with no other close)


def _candidate(trace_id: str, every: int) -> bool:
    # crc32: cheap, and the same in every process and run (hash() of a str is not).
    return zlib.crc32(trace_id.encode("utf-8", "surrogatepass")) % every == 0


def page_bounds(ids: Sequence[str], low: int = PAGE_MIN, every: int = EVERY) -> list[int]:
    """Return the positions (ids oldest first) of the traces that start a page by their id:
    a candidate followed by `low` - 1 traces, none of them a candidate."""
    bounds = []
    # The position of the next candidate after the one looked at; at first the end, so a
    # candidate with too few newer traces to tell whether another follows is not a start yet.
    nearest = len(ids)
    for i in range(len(ids) - 1, -1, -1):
        if _candidate(ids[i], every):
            if i + low <= nearest:
                bounds.append(i)
            nearest = i
    return bounds[::-1]


def page_runs(
    ids: Sequence[str], low: int = PAGE_MIN, high: int = PAGE_MAX, every: int = EVERY
) -> list[range]:
    """Split trace positions (ids oldest first) into pages, oldest first, each of at most
    `high` traces (the newest, at most `high` + `low` - 1), whose boundaries stay put as
    traces are added at the new end and dropped at the old end."""
    n = len(ids)
    if not n:
        return []
    bounds = page_bounds(ids, low, every)
    starts = {0}
    if bounds:
        # The oldest run: its older boundary is gone, so it is cut back from its newer one.
        starts.update(range(bounds[0], 0, -high))
    for here, after in zip(bounds or [0], [*bounds[1:], n], strict=True):
        starts.update(range(here, after, high))
    # A candidate among the newest `low` - 1 traces may yet start a page: no cut after it,
    # or the older page holding it would be cut anew once it does.
    pending = next((i for i in range(max(0, n - low + 1), n) if _candidate(ids[i], every)), n)
    ordered = sorted(s for s in starts if s <= pending)
    return [range(a, z) for a, z in zip(ordered, [*ordered[1:], n], strict=True)]


def older_path(next_trace_id: str) -> str:
    """Return the site path of the page of traces just before the given trace."""
    return "traces/before-" + trace_path(next_trace_id).rpartition("/")[2]

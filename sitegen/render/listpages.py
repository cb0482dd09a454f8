"""Lists in pages that keep their bytes while items come and go: the traces index, the logs.

Items (traces, log lines) arrive at the new end and leave at the old end. Pages of a fixed
count ("page 2 of 9") would shift every item to another page each cycle, and every page would
be rendered and published again. Here page boundaries are chosen by the items themselves, as
content-defined chunking does: an item whose id hashes to 0 modulo EVERY starts a page,
unless another such item follows within PAGE_MIN items. That rule looks only at newer items,
so dropping the oldest items moves no boundary, and new items only ever add one at the new
end. A run between two boundaries that weighs more than a page may (PAGE_MAX traces; a logs
page's text) is cut where it would, counted from its older boundary (from its newer one for
the oldest run, whose older boundary is gone: when a run too heavy for one page becomes the
oldest, its pieces are cut once more; before there is any boundary, from the oldest item).

The newest run is the live index (`traces/index.html`; `logs/index.html` takes the newest
runs that fit a page together); every older page is named by the item that starts the page
after it (`traces/before-<id>.html`, `logs/before-<digest>.html`), so the oldest page keeps
its name while its items are dropped, and each page can link the page before it by its own
first item.
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


def marks(ids: Sequence[str], every: int = EVERY) -> list[bool]:
    """Return whether each id may start a page: it hashes to 0 modulo `every`."""
    # crc32: cheap, and the same in every process and run (hash() of a str is not).
    return [zlib.crc32(i.encode("utf-8", "surrogatepass")) % every == 0 for i in ids]


def page_bounds(marked: Sequence[bool], low: int = PAGE_MIN) -> list[int]:
    """Return the positions (items oldest first, each `marked` if it may start a page) of the
    items that start a page: a marked item followed by `low` - 1 items, none of them marked."""
    bounds = []
    # The position of the next marked item after the one looked at; at first the end, so one
    # with too few newer items to tell whether another follows is not a start yet.
    nearest = len(marked)
    for i in range(len(marked) - 1, -1, -1):
        if marked[i]:
            if i + low <= nearest:
                bounds.append(i)
            nearest = i
    return bounds[::-1]


def _cuts(weights: Sequence[float], positions: range, high: float) -> list[int]:
    """Return where pages start among `positions` (walked in their order, from the boundary
    they are counted from) so that each page weighs at most `high`: a page starts at the
    item that would take the one under way past it (an item heavier alone has its own)."""
    cuts, weight = [], 0.0
    for i in positions:
        if weight + weights[i] > high:  # at a run's first item: its start already
            cuts.append(i)
            weight = 0.0
        weight += weights[i]
    return cuts


def page_runs(
    marked: Sequence[bool],
    low: int = PAGE_MIN,
    high: float = PAGE_MAX,
    weights: Sequence[float] | None = None,
) -> list[range]:
    """Split item positions (oldest first, `marked` as `marks` says) into pages, oldest
    first, each weighing at most `high` (the newest, up to `low` - 1 items more), whose
    boundaries stay put as items are added at the new end and dropped at the old end. Each
    item weighs 1 unless `weights` say otherwise."""
    n = len(marked)
    if not n:
        return []
    weights = weights if weights is not None else [1] * n
    bounds = page_bounds(marked, low)
    starts = {0}
    if bounds:
        # The oldest run: its older boundary is gone, so it is cut back from its newer one:
        # a page ends where the next one (walking back) starts.
        starts.update(i + 1 for i in _cuts(weights, range(bounds[0] - 1, -1, -1), high))
        starts.add(bounds[0])
    for here, after in zip(bounds or [0], [*bounds[1:], n], strict=True):
        starts.add(here)
        starts.update(_cuts(weights, range(here, after), high))
    # A marked item among the newest `low` - 1 may yet start a page: no cut after it, or the
    # older page holding it would be cut anew once it does.
    pending = next((i for i in range(max(0, n - low + 1), n) if marked[i]), n)
    ordered = sorted(s for s in starts if s <= pending)
    return [range(a, z) for a, z in zip(ordered, [*ordered[1:], n], strict=True)]


def older_path(next_trace_id: str) -> str:
    """Return the site path of the page of traces just before the given trace."""
    return "traces/before-" + trace_path(next_trace_id).rpartition("/")[2]

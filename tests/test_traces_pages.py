"""The traces index in pages: every trace on one page, in order, and the older pages keep
their bytes (and their render) while traces are added at the new end and dropped at the old."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen.model import Snapshot
from sitegen.render.environment import iso, trace_path
from sitegen.render.keys import Reuse
from sitegen.render.listpages import marks, page_bounds, page_runs
from sitegen.render.tasks import PAGE_BUDGET, Common, render_batch, summary_tasks
from sitegen.site.optimize import build_assets
from sitegen.synthetic import Workload, snapshot
from sitegen.traces.stats import newest_first
from tests.test_render import page_tasks

# Small pages, so that a few dozen ids make many pages, forced cuts among them.
LOW, HIGH, EVERY = 3, 8, 4
IDS = st.lists(st.integers(0, 2**64), unique=True, max_size=150).map(
    lambda ns: [f"{n:032x}" for n in ns]
)


def weigh(ids: list[str], weighted: bool) -> list[float] | None:
    """Each item's weight, as a log line's text: its own, whatever else the list holds."""
    return [int(i[-2:], 16) % 5 + 0.5 for i in ids] if weighted else None


def runs_of(ids: list[str], weighted: bool = False) -> list[tuple[str, ...]]:
    runs = page_runs(marks(ids, EVERY), LOW, HIGH, weigh(ids, weighted))
    return [tuple(ids[i] for i in r) for r in runs]


@pytest.mark.parametrize("weighted", [False, True])
@settings(max_examples=300, deadline=None)
@given(ids=IDS)
def test_the_pages_partition_the_items_in_order_within_the_size(
    ids: list[str], weighted: bool
) -> None:
    weights = weigh(ids, weighted) or [1] * len(ids)
    runs = page_runs(marks(ids, EVERY), LOW, HIGH, weigh(ids, weighted))
    assert [i for r in runs for i in r] == list(range(len(ids)))
    # Within the size, or one item too heavy alone; the newest: see page_runs.
    assert all(len(r) > 0 and (sum(weights[i] for i in r) <= HIGH or len(r) == 1)
               for r in runs[:-1])  # fmt: skip
    assert all(len(r) > 0 and sum(weights[i] for i in r[: -LOW + 1]) <= HIGH for r in runs[-1:])
    bounds = page_bounds(marks(ids, EVERY), LOW)
    assert all(b - a >= LOW for a, b in itertools.pairwise(bounds))


@pytest.mark.parametrize("weighted", [False, True])
@settings(max_examples=300, deadline=None)
@given(ids=IDS, dropped=st.integers(0, 30), added=st.integers(0, 30))
def test_older_pages_stay_as_items_come_and_go(
    ids: list[str], dropped: int, added: int, weighted: bool
) -> None:
    before, now = ids[: len(ids) - added], ids[dropped:]
    old, new = runs_of(before, weighted), runs_of(now, weighted)
    bounds, was = page_bounds(marks(now, EVERY), LOW), page_bounds(marks(before, EVERY), LOW)
    # A page of the old cut that is still whole, and that is not the newest page (the live
    # index, which new traces join), is a page of the new cut unchanged. The exception: the
    # run before the first boundary is cut back from that boundary (counted from the oldest
    # trace while there is none), so its pieces may be cut anew when that boundary changes.
    recut = (before[was[0]] if was else None) != (now[bounds[0]] if bounds else None)
    kept = set(now)
    for page in old[:-1]:
        if not set(page) <= kept:
            continue
        if (recut or not bounds) and (not bounds or now.index(page[-1]) < bounds[0]):
            continue
        assert page in new


def site_common(css_href: str, now: float) -> Common:
    return Common("t", now, 30, None, css_href, "", "test", "host", (), ())


TRACES_LISTS = ("traces.html", "traces_older.html")


def traces_pages(reuse: Reuse, first_trace: int, now: float) -> tuple[dict, set, Snapshot]:
    """Render the traces pages of a 1,000-trace site; return them and the tasks that ran."""
    assets = build_assets()
    w = Workload(panels=1, points=10, traces=1000, spans_per_trace=2, log_lines=1)
    snap = snapshot(w, now=now, first_trace=first_trace)
    tasks = [t for t in page_tasks(snap, site_common(assets.css_href, now))
             if t.template in TRACES_LISTS]  # fmt: skip
    # The live index and the older pages are kinds apart: their costs are learned apart.
    assert {t.name.split(" ", 1)[0] for t in tasks} == {"traces", "older-traces"}
    pages = reuse.cycle(render_batch)(tasks)
    for p in pages:  # each within the page budget with the stylesheet
        assert p.record.gzip_size + assets.css_gzip <= PAGE_BUDGET, p.path
    ran = {p.path for p in pages if not p.record.reused}
    return {p.path: p.body for p in pages}, ran, snap


LINK = re.compile(r'href="\.\./traces/([0-9a-f]{32})\.html"')
OLDER = re.compile(r'<li><a href="(before-[0-9a-f]{32}\.html)">')


def test_the_pages_list_every_trace_once_newest_first_and_keep_their_bytes() -> None:
    reuse = Reuse()
    first, _, snap = traces_pages(reuse, 0, 1_795_340_562.0)
    index = first["traces/index.html"].decode()
    older = OLDER.findall(index)
    assert len(older) > 5 and len(older) == len(first) - 1
    # The index, then the older pages as it lists them: every trace once, newest first.
    shown = LINK.findall(index)
    for name in older:
        page = first[f"traces/{name}"].decode()
        assert 'http-equiv="refresh' not in page and "http-equiv=refresh" not in page
        shown += LINK.findall(page)
    assert shown == [t.trace_id for t in newest_first(snap.traces)]

    # A cycle later: 10 traces more, the 10 oldest gone, the cycle's time 30 s on.
    second, ran, _ = traces_pages(reuse, 10, 1_795_340_592.0)
    both = sorted(first.keys() & second.keys() - {"traces/index.html"})
    oldest = f"traces/{OLDER.findall(second['traces/index.html'].decode())[-1]}"
    changed = {p for p in both if first[p] != second[p]}
    assert changed <= {oldest}, changed
    # The pages that kept their bytes were not rendered again: their keys carry no cycle time.
    assert ran <= {"traces/index.html", oldest} | (second.keys() - first.keys())
    assert len(set(both) - ran) >= len(older) - 2


def test_few_traces_make_one_page() -> None:
    w = Workload(panels=1, points=10, traces=20, spans_per_trace=2, log_lines=1)
    snap = snapshot(w)
    tasks = [t for t in page_tasks(snap, site_common("a.css", snap.generated_at))
             if t.template in TRACES_LISTS]  # fmt: skip
    assert [t.path for t in tasks] == ["traces/index.html"]
    page = render_batch(tasks)[0].body.decode()
    assert len(LINK.findall(page)) == 20 and "older traces" not in page
    assert len(gzip.compress(page.encode())) < PAGE_BUDGET


def test_the_traces_twin_encodes_only_new_traces_and_keeps_its_bytes() -> None:
    from sitegen.render import twins

    def uncached(snap: Snapshot) -> bytes:
        entries = [twins._trace_entry(t) for t in newest_first(snap.traces)]
        doc = {"generated_at": iso(snap.generated_at), "traces": entries}
        return twins._json_without_markup(doc)

    w = Workload(panels=1, points=10, traces=300, spans_per_trace=3, log_lines=1)
    snap = snapshot(w)
    # Names a viewer could read as markup, and a trace that grows a span between cycles.
    t = snap.traces[5]
    root = dataclasses.replace(t.root, name='<b>"GET & /"</b>')
    odd = dataclasses.replace(t, spans=tuple(root if s is t.root else s for s in t.spans))
    snap = dataclasses.replace(snap, traces=(odd, *snap.traces[6:]))
    assert twins.traces_json(snap) == uncached(snap)
    later = snapshot(w, now=snap.generated_at + 30, first_trace=10)
    grown = later.traces[0]
    extra = dataclasses.replace(grown.spans[-1], span_id="f" * 16, status="error")
    later = dataclasses.replace(
        later, traces=(dataclasses.replace(grown, spans=(*grown.spans, extra)), *later.traces[1:])
    )
    encoded = []
    real = twins._trace_entry
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(twins, "_trace_entry", lambda t: encoded.append(t.trace_id) or real(t))
        cached = twins.traces_json(later)
    assert cached == uncached(later)
    # Only the 10 new traces and the one that grew were encoded again.
    assert sorted(encoded) == sorted([grown.trace_id] + [t.trace_id for t in later.traces[-10:]])
    entry = next(e for e in json.loads(cached)["traces"] if e["trace_id"] == grown.trace_id)
    assert entry["spans"] == len(grown.spans) + 1 and entry["errors"] >= 1


def test_pages_past_those_the_index_lists_are_reached_page_by_page(monkeypatch) -> None:
    from sitegen.render import tasks

    monkeypatch.setattr(tasks, "OLDER_LISTED", 3)
    pages, _, snap = traces_pages(Reuse(), 0, 1_795_340_562.0)
    index = pages["traces/index.html"].decode()
    listed = OLDER.findall(index)
    assert len(listed) == 3
    assert f"and {len(pages) - 4} pages of older traces" in index
    # From the newest older page, each "older traces" link leads to the page before it.
    shown, name = LINK.findall(index), listed[0]
    while True:
        page = pages[f"traces/{name}"].decode()
        shown += LINK.findall(page)
        before = re.search(r'<a href="(before-[0-9a-f]{32}\.html)">older traces</a>', page)
        if before is None:
            break
        name = before.group(1)
    assert "the oldest traces kept" in page
    assert shown == [t.trace_id for t in newest_first(snap.traces)]


def test_a_cycle_hands_in_and_keys_only_the_new_traces_pages(monkeypatch) -> None:
    from sitegen.render import keys

    digested: list[str] = []
    real = keys.task_key
    monkeypatch.setattr(keys, "task_key", lambda t, s: digested.append(t.path) or real(t, s))
    w = Workload(panels=1, points=10, traces=400, spans_per_trace=2, log_lines=1)
    reuse, seen, files, shown = Reuse(), {}, {}, set()
    for cycle in range(3):
        now = 1_795_340_562.0 + 30 * cycle
        # Each cycle 10 traces more and the 10 oldest gone, the traces kept the same objects
        # (as the trace sources keep them), the cycle's time 30 s on.
        snap = snapshot(w, now=now, first_trace=10 * cycle)
        snap = dataclasses.replace(
            snap, traces=tuple(seen.setdefault(t.trace_id, t) for t in snap.traces)
        )
        c = site_common("a.css", now)
        render = reuse.cycle(render_batch)
        traces, kept = reuse.finished.start(snap.traces, c)
        digested.clear()
        pages = render(summary_tasks(snap, c) + traces)
        reuse.finished.keep(pages)
        ids = {t.trace_id for t in snap.traces}
        if cycle:
            # Only the 10 new traces' pages are made and keyed: the others are kept, with
            # the bytes they had, out of the round.
            new = {trace_path(i) for i in ids - shown}
            assert len(new) == 10 and {t.path for t in traces} == new
            assert kept.files.keys() == {trace_path(i) for i in ids & shown}
            assert all(kept.files[p] is files[p] for p in kept.files)
            assert sorted(p for p in digested if p in new or p in files) == sorted(
                new | {p for p in digested if "/before-" in p}
            )
            # Of the older pages of the list, only the oldest (which lost traces) changed.
            older = [p for p in digested if "/before-" in p]
            assert len(older) <= 1 < len([p for p in pages if "/before-" in p.path])
        files = {**kept.files, **{p.path: p.body for p in pages}}
        shown = ids
    # Traces made anew (a source that rebuilt them): their pages are kept, the same bytes,
    # and none is rendered again.
    anew = snapshot(w, now=now, first_trace=20)
    traces, kept = reuse.finished.start(anew.traces, c)
    assert traces == [] and kept.files.keys() == {trace_path(t.trace_id) for t in anew.traces}
    assert all(kept.files[p] is files[p] for p in kept.files)


def test_the_pages_and_the_twin_of_a_cycle_sort_its_traces_once(monkeypatch) -> None:
    from sitegen.render.twins import twins
    from sitegen.traces import stats

    sorts: list[int] = []

    def counting(items, **kw):
        if kw.get("key") is stats._ORDER_KEY:
            sorts.append(1)
        return sorted(items, **kw)

    monkeypatch.setattr(stats, "sorted", counting, raising=False)
    snap = snapshot(Workload(panels=1, points=10, traces=50, spans_per_trace=2, log_lines=1))
    page_tasks(snap, site_common("a.css", snap.generated_at))
    twins(snap)
    assert len(sorts) == 1
    order = [t.trace_id for t in newest_first(snap.traces)]
    assert order == [t.trace_id for t in newest_first(list(snap.traces))]  # sorted anew
    assert order == [t.trace_id for t in sorted(snap.traces, key=lambda t: (t.start_ns,
                     t.trace_id), reverse=True)]  # fmt: skip
    assert len(sorts) == 2

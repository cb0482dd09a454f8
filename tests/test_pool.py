"""The render pool's decisions: batches from measured costs, and when a round goes to the workers.

Costs and rates are injected, as a busy machine would have measured them: nothing here
asserts on a time.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pytest

from sitegen.model import TaskRecord
from sitegen.render.pool import (
    MEASURE_SECONDS,
    MIN_BATCH_SECONDS,
    PROBE_EVERY,
    PROBE_EVERY_MAX,
    SHARED_SWITCH_SECONDS,
    WORKER_GC_YOUNG,
    RenderPool,
    _context,
    _Round,
    worker_count,
)
from sitegen.render.tasks import PageTask, RenderedPage, guided_runs, with_still_copies
from sitegen.synthetic import Workload, snapshot
from tests.test_render import common, page_tasks


@pytest.fixture(scope="module")
def tasks():
    """A snapshot's page tasks: a logs page, two panels, forty traces, the index and more."""
    snap = snapshot(Workload(panels=2, points=30, traces=40, spans_per_trace=3, log_lines=30))
    return page_tasks(snap, common())


def learned(
    costs: dict[str, float], pooled: tuple[float, ...] = (), here: tuple[float, ...] = ()
) -> RenderPool:
    """A pool (no worker started) that has measured these CPU costs per kind, and these rates
    (CPU seconds of pages per second) of rounds in the pool and here."""
    pool = RenderPool(2)
    pool._seconds.update(costs)
    pool._rates[True].extend(pooled)
    pool._rates[False].extend(here)
    pool._start_seconds = 0.0  # as if its workers were up: only the round's own cost counts
    return pool


def pages(cpu_seconds: list[float]) -> list[RenderedPage]:
    """Rendered pages whose records say they took this much CPU time each."""
    return [
        RenderedPage(f"p{i}.html", b"", TaskRecord(f"trace {i}", 1, 0, 0, cpu_ns=int(s * 1e9)))
        for i, s in enumerate(cpu_seconds)
    ]


def test_guided_runs_shrink_towards_the_end_keep_order_and_put_a_heavy_item_alone() -> None:
    costs = [0.5, *[0.01] * 100]  # the logs page, then a hundred trace pages
    runs = guided_runs(costs, 6, 0.02)
    assert [i for run in runs for i in run] == list(range(len(costs)))
    assert runs[0] == [0]  # more than any budget: alone
    left = sum(costs)
    for run in runs:
        cost = sum(costs[i] for i in run)
        assert cost <= max(0.02, left / 6) + 1e-9 or len(run) == 1
        left -= cost
    sizes = [len(run) for run in runs[1:]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]  # the last are short
    assert min(sizes[:-1]) >= 2  # never below the least worth a batch (0.02: two pages)
    assert guided_runs([], 6, 0.02) == []


def test_batches_go_heaviest_first_and_cheap_pages_share_a_trip(tasks) -> None:
    pool = learned({"logs": 0.05, "panel": 0.02, "trace": 0.001, "index": 0.004})
    batches = pool.batches(tasks)
    assert sorted(i for b in batches for i in b) == list(range(len(tasks)))
    first = [tasks[i].name for i in batches[0]]
    assert first == ["logs"]  # started first, so it never ends the round alone
    traces = [b for b in batches if all(tasks[i].name.startswith("trace ") for i in b)]
    assert traces and all(len(b) >= MIN_BATCH_SECONDS / 0.001 - 1 for b in traces[:-1])


def test_a_round_that_pays_goes_to_the_pool_and_a_cheap_one_stays_here(tasks) -> None:
    pool = learned({"trace": 0.02, "logs": 0.05, "panel": 0.02}, (1.8, 1.9, 1.7))
    assert not pool._in_parent(tasks)  # 40 pages of 20 ms: the pool saves a third of a second
    cheap = learned({"trace": 0.0001, "logs": 0.0001, "panel": 0.0001}, (1.8, 1.9, 1.7))
    assert cheap._in_parent(tasks)  # 5 ms of work does not pay its round trips


def test_one_slow_round_does_not_send_the_pool_home_but_a_slow_median_does(tasks) -> None:
    costs = {"trace": 0.02, "logs": 0.05, "panel": 0.02}
    # A neighbour's burst slowed one round: the median of the last ones still says it pays.
    assert not learned(costs, (1.8, 0.6, 1.7, 1.9, 1.6))._in_parent(tasks)
    # A machine busy on both cores: the pool got noisy rates, in the median less than the
    # one CPU this process had alone.
    busy = learned(costs, (0.9, 1.4, 0.7, 0.95, 0.8), (1.0, 0.97, 1.0))
    assert busy.speedup() == pytest.approx(0.9)
    assert busy._in_parent(tasks)


def test_the_pool_is_measured_against_what_this_process_gets_under_the_same_load(tasks) -> None:
    costs = {"trace": 0.02, "logs": 0.05, "panel": 0.02}
    # A CPU hog on both cores: the pool's three processes got 1.2 CPUs, this process alone
    # two thirds of one. Less than one CPU, and still nearly twice what one process gets.
    hog = learned(costs, (1.1, 1.3, 1.2), (0.66, 0.7, 0.6))
    assert hog.speedup() == pytest.approx(1.2 / 0.66)
    assert not hog._in_parent(tasks)
    # Neighbours that hold the machine to one CPU however many processes ask: the pool gets
    # that CPU, less its round trips, and renders no faster than this process.
    capped = learned(costs, (0.9, 0.85, 0.95), (1.0, 0.98, 1.0))
    assert capped._in_parent(tasks)
    # A few percent faster, as measured on a noisy machine: not worth the round trips.
    assert learned(costs, (1.05, 1.08, 1.04), (1.0,))._in_parent(tasks)
    assert not learned(costs, (1.3, 1.25, 1.4), (1.0,))._in_parent(tasks)


def test_on_a_busy_machine_the_pool_is_tried_again_only_now_and_then(tasks) -> None:
    costs = {"trace": 0.02, "logs": 0.05, "panel": 0.02}
    pool = learned(costs, (0.9, 0.7, 0.95, 0.8, 0.85), (1.0,))
    choices = [pool._in_parent(tasks) for _ in range(3 * PROBE_EVERY)]
    # One round in PROBE_EVERY measures the pool again; the others render here.
    assert choices.count(False) == 3
    assert all(choices[i] is False for i in range(PROBE_EVERY - 1, len(choices), PROBE_EVERY))
    # In the median over those rounds, one process: never slower than rendering here alone.
    assert sorted(choices)[len(choices) // 2] is True


def test_probes_that_find_the_pool_slower_come_less_often_until_one_finds_it_faster(tasks):
    costs = {"trace": 0.02, "logs": 0.05, "panel": 0.02}
    pool = learned(costs, (0.9, 0.7, 0.95, 0.8, 0.85), (1.0,))

    def rounds_to_probe(rate: float | None) -> int:
        """Rounds until the next probe, which then measures `rate`."""
        for n in range(1, 100):
            if not pool._in_parent(tasks):
                pool._probed(rate)
                return n
        raise AssertionError("never probed")

    # A lasting load: each probe measures the pool slower, the next comes twice as late.
    waits = [rounds_to_probe(0.8) for _ in range(5)]
    assert waits == [PROBE_EVERY, 2 * PROBE_EVERY, 4 * PROBE_EVERY, PROBE_EVERY_MAX,
                     PROBE_EVERY_MAX]  # fmt: skip
    # The load passed: the probe measures the pool twice as fast; the next comes as soon as ever.
    assert rounds_to_probe(2.0) == PROBE_EVERY_MAX
    assert rounds_to_probe(0.8) == PROBE_EVERY
    # A probe too short to measure leaves the wait as it was (below the most, to tell).
    assert rounds_to_probe(None) == 2 * PROBE_EVERY
    assert rounds_to_probe(0.8) == 2 * PROBE_EVERY
    # A probe whose round failed (nothing measured) judges no later round.
    while pool._in_parent(tasks):
        pass
    assert pool._probe is not None
    assert pool._in_parent(tasks) and pool._probe is None
    pool._probed(0.1)
    assert rounds_to_probe(0.8) == PROBE_EVERY_MAX - 1


def test_the_configured_render_processes_count_this_one(tasks, monkeypatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    # This process renders a share of each pooled round: on two CPUs, one worker beside it.
    assert worker_count(0) == 1
    assert [worker_count(n) for n in (1, 2, 5)] == [0, 1, 4]
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one CPU, this process
    assert worker_count(0) == 0
    costs = {"trace": 0.02, "logs": 0.05, "panel": 0.02}
    one = RenderPool(1)
    one._seconds.update(costs)
    one._start_seconds = 0.0
    assert one.speedup() == 2.0 and not one._in_parent(tasks)  # two renderers, measured none
    one._rates[True].extend([0.9, 0.8, 0.85])  # slower than here: probed now and then
    one._rates[False].append(1.0)
    choices = [one._in_parent(tasks) for _ in range(2 * PROBE_EVERY)]
    assert choices.count(False) == 2
    none = RenderPool(0)
    none._seconds.update(costs)
    assert none._in_parent(tasks)


def test_rounds_too_small_to_pay_at_any_speed_never_probe(tasks) -> None:
    pool = learned({"trace": 1e-5, "logs": 1e-5, "panel": 1e-5}, (0.5, 0.5, 0.5), (1.0,))
    assert all(pool._in_parent(tasks) for _ in range(3 * PROBE_EVERY))


def test_the_speedup_before_any_measure_is_the_renderer_count_and_then_the_medians() -> None:
    pool = RenderPool(3)
    assert pool.speedup() == 4.0  # three workers and this process, against this one alone
    pool._rates[True].extend([2.0, 0.5, 1.5, 9.0])
    assert pool.speedup() == 1.75
    pool._rates[False].extend([0.5, 0.7, 0.4])
    assert pool.speedup() == 3.5
    pool._rates[True].extend([1.0] * 10)  # only the last few count: the load changes
    assert pool.speedup() == 2.0


def test_a_pool_that_refuses_work_leaves_the_round_to_this_process(tasks) -> None:
    executor = ProcessPoolExecutor(1)
    executor.shutdown()  # as a pool whose workers died between two rounds: submit refuses
    batches = [[i] for i in range(len(tasks))]
    shared = _Round(executor, tasks, batches, 4)
    assert shared.run(None) == [] and shared.broken
    assert sorted(shared.pages) == list(range(len(tasks)))
    assert {p.record.pid for p in shared.pages.values()} == {os.getpid()}
    assert [shared.pages[i].path for i in range(len(tasks))] == [t.path for t in tasks]


def test_a_round_measures_its_pages_cpu_time_per_second_and_a_short_one_nothing() -> None:
    pool = RenderPool(2)
    pool._measure(pages([MEASURE_SECONDS / 4] * 3), 0.01, pooled=True)
    assert not pool._rates[True]  # its time is the round trips' and the scheduler's
    pool._measure(pages([0.1, 0.2, 0.3]), 0.4, pooled=True)
    pool._measure(pages([0.3, 0.3]), 0.5, pooled=False)
    assert list(pool._rates[True]) == [pytest.approx(1.5)]
    assert list(pool._rates[False]) == [pytest.approx(1.2)]
    pool._learn(pages([0.01, 0.03]))
    assert pool._seconds == {"trace": pytest.approx(0.02)}  # a kind costs its mean CPU time


def _collector() -> tuple[int, int]:
    import gc

    return gc.get_threshold()[0], gc.get_freeze_count()


def test_workers_collect_young_objects_seldom_and_never_walk_what_they_started_with() -> None:
    with RenderPool(1) as pool:
        pool.warm_up()
        young, frozen = pool._executor.submit(_collector).result(timeout=60)
    # A batch's thousands of unpickled objects are not walked again and again as they come.
    assert young == WORKER_GC_YOUNG > 700
    assert frozen > 10_000  # the modules and the parsed templates


def test_every_page_records_the_cpu_time_it_took(tasks) -> None:
    with RenderPool(2, adaptive=False) as pool:
        pool.warm_up()
        pool._seconds.clear()
        pool._measure = lambda *args, **kwargs: pytest.fail("a blind round measured the pool")
        rendered = pool.render(tasks)  # nothing learned: batches not sized from costs
    assert all(p.record.cpu_ns > 0 for p in rendered)
    # Each task's span holds all the CPU time it counts, its gzipped measure included: the
    # concurrency page shows when a worker was busy, and idle time is not idle when it was.
    assert all(p.record.end_ns - p.record.start_ns >= p.record.cpu_ns for p in rendered)
    assert pool._seconds and all(s > 0 for s in pool._seconds.values())


def test_the_concurrency_page_counts_the_main_process_among_the_renderers(tasks) -> None:
    from sitegen.render.tasks import render_page, report_tasks

    snap = snapshot(Workload(panels=1, traces=1, log_lines=1))
    with RenderPool(2, adaptive=False) as pool:
        pids = pool.warm_up()
        records = tuple(p.record for p in pool.render(tasks))
    assert {r.pid for r in records} == {*pids, os.getpid()}
    page = next(t for t in report_tasks(snap, common(), records, (), 2, "test", {})
                if t.name == "concurrency")  # fmt: skip
    html = render_page(page).body.decode()
    assert "in a pool of 2 worker processes and the main process" in html
    assert "sitegen pool --workers 3" in html  # as site.workers counts: the main process too
    assert f"<td>pid {os.getpid()} (main)</td>" in html
    assert all(f"<td>pid {pid}</td>" in html for pid in pids)
    # A round rendered here alone says so (base.html's own "here" once hid this flag).
    alone = tuple(dataclasses.replace(r, pid=os.getpid()) for r in records)
    page = next(t for t in report_tasks(snap, common(), alone, (), 2, "test", {})
                if t.name == "concurrency")  # fmt: skip
    assert "in the main process (a pool of 2 worker processes was not expected to save" in (
        render_page(page).body.decode()
    )


def _assemble(fragments: list[RenderedPage]) -> list[PageTask]:
    """What a round makes of its fragments: one page listing them (as the metrics pages)."""
    return [
        PageTask(f"made {k}", f"made-{k}.html", "404.html", {}, common())
        for k in range(1 + len(fragments) // 2)
    ]


def test_a_round_makes_pages_of_its_fragments_as_soon_as_they_are_rendered(tasks) -> None:
    executor = ProcessPoolExecutor(1)
    executor.shutdown()  # every batch is rendered here, in queue order: the order is known
    fragments = [i for i, t in enumerate(tasks) if t.fragment]
    rest = [i for i, t in enumerate(tasks) if not t.fragment]
    assert fragments and rest
    seen: list[list[str]] = []
    during: list[list[int]] = []  # the rest rendered while then was being made

    def then(pages: list[RenderedPage]) -> list[PageTask]:
        seen.append([p.path for p in pages])
        # Made in a thread of its own: the round renders on meanwhile.
        deadline = time.monotonic() + 30
        while not set(rest) & set(shared.pages) and time.monotonic() < deadline:
            time.sleep(0.001)
        during.append(sorted(set(rest) & set(shared.pages)))
        return _assemble(pages)

    queued_at: list[int] = []  # the pages rendered when then's tasks were queued

    def split(made: list[PageTask]) -> list[list[int]]:
        queued_at.append(len(shared.pages))
        return [list(range(len(made)))]

    batches = [[i] for i in (*fragments, *rest)]
    shared = _Round(executor, tasks, batches, 4, then, split)
    assert shared.run(None) == []
    # Made once, of every fragment, once the last was rendered, not after the rest of the
    # round; the round rendered on meanwhile.
    assert seen == [[tasks[i].path for i in fragments]] and during[0]
    made = list(range(len(tasks), len(shared.tasks)))
    assert len(made) == 1 + len(fragments) // 2
    order = list(shared.pages)
    # What it made went to the front of the queue: next after the batch under way, if any.
    at = order.index(made[0])
    assert at in (queued_at[0], queued_at[0] + 1)
    assert order == [*fragments, *rest[: at - len(fragments)], *made, *rest[at - len(fragments) :]]


def test_a_round_given_up_ends_its_then_first_and_queues_nothing(tasks, monkeypatch) -> None:
    from sitegen.render import pool as pool_module

    executor = ProcessPoolExecutor(1)
    executor.shutdown()  # every batch is rendered here
    fragments = [i for i, t in enumerate(tasks) if t.fragment]
    rest = [i for i, t in enumerate(tasks) if not t.fragment]
    released = threading.Event()

    def then(pages: list[RenderedPage]) -> list[PageTask]:
        released.wait(30)  # still being made when the round fails
        return _assemble(pages)

    real = pool_module.render_batch

    def failing(batch: list[PageTask]) -> list[RenderedPage]:
        if batch[0].path == tasks[rest[0]].path:
            released.set()
            raise RuntimeError("a page failed")
        return real(batch)

    monkeypatch.setattr(pool_module, "render_batch", failing)
    shared = _Round(executor, tasks, [[i] for i in (*fragments, *rest)], 4, then)
    with pytest.raises(RuntimeError, match="a page failed"):
        shared.run(None)
    # then ended with its round: what it made is not left queued, for no one.
    assert shared._maker is not None and not shared._maker.is_alive() and not shared._queue


def test_more_is_made_here_first_and_queued_after_the_fragments_before_the_rest(tasks) -> None:
    executor = ProcessPoolExecutor(1)
    executor.shutdown()  # every batch is rendered here, in queue order: the order is known
    first = [t for t in tasks if t.fragment or t.name.startswith("trace ")]
    later = [t for t in tasks if t not in first]
    fragments = [i for i, t in enumerate(first) if t.fragment]
    items = [i for i, t in enumerate(first) if not t.fragment]
    assert fragments and items and later
    made: list[str] = []

    def more() -> list[PageTask]:
        made.append("more")
        assert not shared.pages  # made before this process renders anything
        return later

    def then(pages: list[RenderedPage]) -> list[PageTask]:
        made.append("then")
        return _assemble(pages)

    queued_at: list[int] = []  # the pages rendered when more's, then then's, were queued

    def split(made: list[PageTask]) -> list[list[int]]:
        queued_at.append(len(shared.pages))
        return [list(range(len(made)))]

    batches = [[i] for i in (*fragments, *items)]
    shared = _Round(executor, first, batches, 4, then, split, more)
    assert shared.run(None) == []
    assert made == ["more", "then"]
    assert [t.path for t in shared.tasks[: len(tasks)]] == [t.path for t in (*first, *later)]
    more_at = list(range(len(first), len(tasks)))
    then_at = list(range(len(tasks), len(shared.tasks)))
    # The fragments, so then is not held back; more's before the first tasks still queued
    # (trace pages: they wait, the summaries are the heavier); then's as soon as made.
    order = list(shared.pages)
    assert [i for i in order if i not in then_at] == [*fragments, *more_at, *items]
    at = order.index(then_at[0])  # at the front of the queue: after the batch under way
    assert order[at : at + len(then_at)] == then_at and at - queued_at[1] in (0, 1)


def test_more_is_rendered_in_the_round_here_or_in_the_pool_and_counted_next_time(tasks) -> None:
    first = [t for t in tasks if t.fragment or t.name.startswith("trace ")]
    later = [t for t in tasks if t not in first]
    want = [t.path for t in (*first, *later)]
    here = RenderPool(0).render(first, then=_assemble, more=lambda: later)
    assert [p.path for p in here[: len(tasks)]] == want
    assert len(here) == len(tasks) + 1 + len([t for t in first if t.fragment]) // 2
    with RenderPool(1, adaptive=False) as pool:
        pool.warm_up()
        for _ in range(2):  # blind, then with batches sized from the costs learned
            pooled = pool.render(first, then=_assemble, more=lambda: later)
            assert [p.path for p in pooled[: len(tasks)]] == want
            assert [p.path for p in pooled[len(tasks) :]] == [p.path for p in here[len(tasks) :]]
            assert pool._more_names == [t.name for t in later]
    # A round with more is predicted with what its more made last time; one without is not.
    pool = learned({"trace": 0.001, "panel": 0.001, "logs": 0.05, "index": 0.05})
    pool._more_names = [t.name for t in later]
    assert pool._predict(first, pool._more_names) > pool._predict(first) + 0.05


def test_a_shared_round_hands_the_interpreter_lock_on_often_and_then_as_before(tasks) -> None:
    seen: list[float] = []

    def more() -> list[PageTask]:
        seen.append(sys.getswitchinterval())  # made here while the worker renders
        return []

    before = sys.getswitchinterval()
    with RenderPool(1, adaptive=False) as pool:
        pool.render(tasks[:4], more=more)
    assert seen == [SHARED_SWITCH_SECONDS] and before > SHARED_SWITCH_SECONDS
    assert sys.getswitchinterval() == before
    RenderPool(0).render(tasks[:4], more=more)  # all here: no thread to hand the lock to
    assert seen[-1] == before


def test_the_pool_renders_what_a_round_makes_of_its_fragments_in_the_same_round(tasks) -> None:
    got: list[list[str]] = []

    def then(pages: list[RenderedPage]) -> list[PageTask]:
        got.append([p.path for p in pages])
        return _assemble(pages)

    with RenderPool(2, adaptive=False) as pool:
        pids = pool.warm_up()
        for _ in range(2):  # blind, then with batches sized from the costs learned
            rendered = pool.render(tasks, then=then)
            assert [p.path for p in rendered[: len(tasks)]] == [t.path for t in tasks]
            made = [p.path for p in rendered[len(tasks) :]]
            assert made == [f"made-{k}.html" for k in range(len(made))] and made
            assert {p.record.pid for p in rendered} & set(pids)  # the workers had a share
        alone = pool.render([t for t in tasks if not t.fragment][:3], then=then)
    assert got == [[t.path for t in tasks if t.fragment]] * 2 + [[]]
    assert [p.path for p in alone[3:]] == ["made-0.html"]  # no fragments: made at once


def test_a_still_copy_goes_right_after_its_live_page_in_its_batch(tasks) -> None:
    paired = with_still_copies(tasks)
    copies = [i for i, t in enumerate(paired) if t.refresh == "still"]
    assert len(copies) >= 3
    # Copies cost next to nothing: sorted by cost alone, they would go last, away from the
    # pages they are made of; unknown costs alike, the batches keep the order of the tasks.
    learnt = learned({"logs": 0.05, "panel": 0.02, "trace": 0.001, "index": 0.004, "still": 1e-5})
    for pool in (learnt, RenderPool(2)):
        for fragments_first in (False, True):
            batches = pool.batches(paired, fragments_first=fragments_first)
            assert sorted(i for b in batches for i in b) == list(range(len(paired)))
            for i in copies:
                batch = next(b for b in batches if i in b)
                assert batch[batch.index(i) - 1] == i - 1 and paired[i - 1].refresh == "live"


def test_a_still_copy_is_costed_apart_from_the_page_it_is_made_of() -> None:
    pool = RenderPool(2)
    pool._learn([
        RenderedPage("logs/index.html", b"", TaskRecord("logs", 1, 0, 0, cpu_ns=50_000_000)),
        RenderedPage("logs/still.html", b"", TaskRecord("logs still", 1, 0, 0, cpu_ns=10_000)),
    ])  # fmt: skip
    assert pool._costs(["logs", "logs still", "index still"]) == [0.05, 1e-5, 1e-5]


def test_with_fragments_to_make_pages_of_they_go_first_then_the_heaviest(tasks) -> None:
    pool = learned({"logs": 0.05, "panel": 0.02, "trace": 0.001, "index": 0.004})
    batches = pool.batches(tasks, fragments_first=True)
    order = [i for b in batches for i in b]
    fragments = [i for i, t in enumerate(tasks) if t.fragment]
    assert order[: len(fragments)] == fragments
    assert tasks[order[len(fragments)]].name == "logs"
    # The pages made of them wait for the batch holding the last: it holds nothing else,
    # even where the least worth a trip would take pages of a millisecond along.
    cheap = learned(dict.fromkeys(("logs", "panel", "trace", "index"), 0.001))
    for split in (batches, cheap.batches(tasks, fragments_first=True)):
        assert [i for b in split for i in b][: len(fragments)] == fragments
        assert all(len({tasks[i].fragment for i in b}) == 1 for b in split)
    assert len(cheap.batches(tasks, fragments_first=True)[0]) == len(fragments)


def test_a_round_rendered_here_makes_pages_of_its_fragments_too(tasks) -> None:
    got = []
    here = RenderPool(0).render(tasks, then=lambda pages: got.append(pages) or _assemble(pages))
    assert [p.path for p in got[0]] == [t.path for t in tasks if t.fragment]
    assert [p.path for p in here[len(tasks) :]] == [
        f"made-{k}.html" for k in range(1 + len(got[0]) // 2)
    ]


def test_fragments_lost_with_a_dead_worker_are_rendered_again_and_then_made_of(tasks) -> None:
    fragments = [i for i, t in enumerate(tasks) if t.fragment]
    rest = [i for i, t in enumerate(tasks) if not t.fragment]
    made: list[list[str]] = []

    def then(pages: list[RenderedPage]) -> list[PageTask]:
        made.append([p.path for p in pages])
        return _assemble(pages)

    executor = ProcessPoolExecutor(1, mp_context=_context())
    pid = executor.submit(os.getpid).result(timeout=60)
    os.kill(pid, signal.SIGSTOP)  # holds what it is sent until it is killed
    try:
        shared = _Round(executor, tasks, [fragments, *([i] for i in rest)], 1, then)
        os.kill(pid, signal.SIGKILL)
        lost = shared.run(time.monotonic() + 60)
    finally:
        executor.shutdown(wait=False)
    assert lost == [fragments] and made == []  # nothing to make pages of yet
    refusing = ProcessPoolExecutor(1)
    refusing.shutdown()
    shared.resume(refusing, lost)
    assert shared.run(None) == []
    assert made == [[tasks[i].path for i in fragments]]
    assert sorted(shared.pages) == list(range(len(shared.tasks)))


def test_the_benchmark_counts_the_time_a_render_left_a_cpu_without_a_task() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    records = [TaskRecord("a", 1, 0, 10), TaskRecord("b", 2, 5, 20), TaskRecord("c", 3, 5, 8)]
    # Tasks running: one (0-5), three (5-8), two (8-10), one (10-20), none (20-30).
    assert bench.short_share(records, 0, 30, 2) == pytest.approx(25 / 30)
    assert bench.short_share(records, 0, 30, 1) == pytest.approx(10 / 30)
    assert bench.short_share([], 0, 30, 2) == 1.0


def test_a_round_whose_pages_cannot_be_made_fails_alone(tasks) -> None:
    def then(pages: list[RenderedPage]) -> list[PageTask]:
        raise RuntimeError("packing failed")

    with RenderPool(2, adaptive=False) as pool:
        pool.warm_up()
        for _ in range(2):  # blind, then with batches sized from the costs learned
            with pytest.raises(RuntimeError, match="packing failed"):
                pool.render(tasks, then=then)
        rendered = pool.render(tasks, then=_assemble)  # the next round is whole
    assert [p.path for p in rendered[: len(tasks)]] == [t.path for t in tasks]
    assert len(rendered) == len(tasks) + 1 + sum(t.fragment for t in tasks) // 2
    # What the failed round had not rendered yet is dropped, not left for workers to take.
    executor = ProcessPoolExecutor(1)
    executor.shutdown()
    shared = _Round(executor, tasks, [[i] for i in range(len(tasks))], 4, then)
    with pytest.raises(RuntimeError, match="packing failed"):
        shared.run(None)
    assert len(shared.pages) < len(tasks) and not shared._queue


def test_an_abandoned_pool_starts_no_worker_again_when_its_workers_are_killed(tasks) -> None:
    # At shutdown the process kills its (maybe frozen) workers while a cycle still renders.
    # The round, finding them dead, started a pool anew as the process ended: a semaphore
    # of that pool was left in /dev/shm. Abandoned first, the pool gives the round up.
    pool = RenderPool(1, adaptive=False)
    workers = pool.warm_up()
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)  # its batch never comes back

    def shutdown() -> list[PageTask]:  # made here once the batches are out to the workers
        pool.abandon()
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        return []

    try:
        with pytest.raises(BrokenProcessPool):
            pool.render(tasks, more=shutdown)
        assert pool.restarts == 0
    finally:
        pool.close(0.0)

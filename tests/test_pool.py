"""The render pool's decisions: batches from measured costs, and when a round goes to the workers.

Costs and speedups are injected, as a busy machine would have measured them: nothing here
asserts on a time.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from sitegen.render.pool import (
    MEASURE_SECONDS,
    MIN_BATCH_SECONDS,
    PROBE_EVERY,
    RenderPool,
    _Round,
    guided_runs,
)
from sitegen.render.tasks import page_tasks
from sitegen.synthetic import Workload, snapshot
from tests.test_render import common


@pytest.fixture(scope="module")
def tasks():
    """A snapshot's page tasks: a logs page, two panels, forty traces, the index and more."""
    snap = snapshot(Workload(panels=2, points=30, traces=40, spans_per_trace=3, log_lines=30))
    return page_tasks(snap, common())


def learned(costs: dict[str, float], speedups: tuple[float, ...] = ()) -> RenderPool:
    """A pool (no worker started) that has measured these costs per kind and these speedups."""
    pool = RenderPool(2)
    pool._seconds.update(costs)
    pool._speedups.extend(speedups)
    pool._start_seconds = 0.0  # as if its workers were up: only the round's own cost counts
    return pool


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
    # A machine busy on both cores: the pool measured noisy and mostly below one process.
    busy = learned(costs, (0.9, 1.4, 0.7, 0.95, 0.8))
    assert busy.speedup() == 0.9
    assert busy._in_parent(tasks)


def test_on_a_busy_machine_the_pool_is_tried_again_only_now_and_then(tasks) -> None:
    costs = {"trace": 0.02, "logs": 0.05, "panel": 0.02}
    pool = learned(costs, (0.9, 0.7, 0.95, 0.8, 0.85))
    choices = [pool._in_parent(tasks) for _ in range(3 * PROBE_EVERY)]
    # One round in PROBE_EVERY measures the pool again; the others render here.
    assert choices.count(False) == 3
    assert all(choices[i] is False for i in range(PROBE_EVERY - 1, len(choices), PROBE_EVERY))
    # In the median over those rounds, one process: never slower than rendering here alone.
    assert sorted(choices)[len(choices) // 2] is True


def test_rounds_too_small_to_pay_at_any_speed_never_probe(tasks) -> None:
    pool = learned({"trace": 1e-5, "logs": 1e-5, "panel": 1e-5}, (0.5, 0.5, 0.5))
    assert all(pool._in_parent(tasks) for _ in range(3 * PROBE_EVERY))


def test_the_speedup_before_any_measure_is_the_worker_count_and_then_the_median() -> None:
    pool = RenderPool(3)
    assert pool.speedup() == 3.0
    pool._speedups.extend([2.0, 0.5, 1.5, 9.0])
    assert pool.speedup() == 1.75
    pool._speedups.extend([1.0] * 10)  # only the last few count: the load changes
    assert pool.speedup() == 1.0


def test_a_pool_that_refuses_work_leaves_the_round_to_this_process(tasks) -> None:
    executor = ProcessPoolExecutor(1)
    executor.shutdown()  # as a pool whose workers died between two rounds: submit refuses
    batches = [[i] for i in range(len(tasks))]
    shared = _Round(executor, tasks, batches, 4)
    assert shared.run(None) == [] and shared.broken
    assert sorted(shared.pages) == list(range(len(tasks)))
    assert {p.record.pid for p in shared.pages.values()} == {os.getpid()}
    assert [shared.pages[i].path for i in range(len(tasks))] == [t.path for t in tasks]


def test_only_a_round_long_enough_to_tell_measures_the_speedup(tasks) -> None:
    with RenderPool(2, adaptive=False) as pool:
        pool.warm_up()
        pool.render(tasks)  # teaches the costs: these pages take milliseconds
        assert pool._predict(tasks) < MEASURE_SECONDS
        pool.render(tasks)
        assert not pool._speedups  # its time is the round trips' and the scheduler's
        pool._seconds.update(dict.fromkeys(pool._seconds, 1.0))  # as if each took a second
        pool.render(tasks)
        assert len(pool._speedups) == 1

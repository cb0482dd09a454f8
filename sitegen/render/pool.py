"""The process pool that renders pages: started when it pays, kept, and stopped in bounded time."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import multiprocessing
import os
import signal
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from operator import attrgetter

from sitegen.model import by_kind, task_kind
from sitegen.render.environment import environment
from sitegen.render.tasks import (
    More,
    PageTask,
    RenderedPage,
    Then,
    guided_runs,
    render_all,
    render_batch,
    twin_path,
)

logger = logging.getLogger("sitegen")
# Each batch is at most this share of the work not yet batched, per renderer (the workers and
# this process): batches shrink towards the end of a round, so the last ones, which decide
# when it ends, are short, while the first few carry most of the work in few round trips.
GUIDE = 2
# The least work worth a batch: a page of one millisecond doesn't pay a round trip of its own.
MIN_BATCH_SECONDS = 0.01
# Batches sent ahead to each worker: one in hand, one waiting, so a worker that finishes never
# waits for this process (busy rendering its own share) to send it the next.
AHEAD_PER_WORKER = 2
# How fast rounds go, here and in the pool, is the median of this many last measured: one
# round slowed by a neighbour's burst of CPU does not send every round back to this process.
RATE_WINDOW = 5
# Only a round of at least this much CPU time measures how fast it went: a shorter one's
# time is mostly its fixed costs and the scheduler's noise.
MEASURE_SECONDS = 0.1
# The share of a round's time the pool must be predicted to save, besides its overhead: a
# pool measured a few percent faster, on a machine busy enough to blur that, is a coin toss
# that costs the round trips when it falls wrong.
MARGIN = 0.1
# Rounds rendered here, that the pool would pay for at its full speedup, before the pool is
# tried again: a speedup measured on a busy machine is not kept for ever. Each probe that
# finds the pool not worth its trips doubles the wait, up to PROBE_EVERY_MAX rounds: under a
# load that lasts, a probe costs its round a fraction, and one in four made the median slower.
PROBE_EVERY = 4
PROBE_EVERY_MAX = 16
# What a batch's trip to a worker and back costs: pickling both ways, waking the worker.
ROUND_TRIP_SECONDS = 0.004
# What starting the workers costs until it is measured (forkserver, imports, templates).
START_SECONDS = 0.9
# Bounds on waiting for workers: to start, to finish when closing, to die once killed.
WARM_UP_SECONDS = 120.0
CLOSE_SECONDS = 3.0
KILL_SECONDS = 5.0
# The interpreter's switch interval while a round is shared, in seconds (CPython's is 5 ms):
# the worker started on the reference render 20 ms sooner (see _switching).
SHARED_SWITCH_SECONDS = 0.0005
# Objects a worker makes between two collections of its young generation (CPython's is 700).
WORKER_GC_YOUNG = 20_000


def _split_at(run: list[int], cut: int) -> tuple[list[int], list[int]]:
    """Return a run's positions before `cut`, and the others."""
    return [i for i in run if i < cut], [i for i in run if i >= cut]


@contextlib.contextmanager
def _switching(seconds: float) -> Iterator[None]:
    """Within the block, hand the interpreter lock to a waiting thread every `seconds`."""
    # While a round is shared, this thread renders flat out, and the executor's threads feed
    # the workers: each pickled batch, pipe write and result waited its turn at the lock for
    # up to the interval, several turns a batch, while a worker had nothing to do.
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _pays(here: float, overhead: float, speedup: float) -> bool:
    """Say whether a round that takes `here` seconds in this process is worth the pool's
    `overhead` at `speedup`, by more than the MARGIN."""
    return here * (1.0 - 1.0 / max(1.0, speedup)) > overhead + MARGIN * here


def worker_count(configured: int) -> int:
    """Return the worker processes for `site.workers`, the render processes this one
    included: one fewer than configured, or than the CPUs for 0."""
    # This process renders a share of every pooled round: a worker per CPU besides it would
    # put one CPU-bound process more than there are CPUs, all taking turns.
    return max(0, (configured if configured > 0 else os.cpu_count() or 1) - 1)


_all_started: threading.Barrier | None = None  # in a worker: the pool's warm-up barrier


def _warm_up(started: threading.Barrier, lifeline: Connection) -> None:
    global _all_started
    # Ctrl-C reaches the whole process group: the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_die_with_parent, args=(lifeline,), daemon=True).start()
    # Parse the templates once per worker, not once per page.
    env = environment()
    for name in env.list_templates():
        env.get_template(name)
    # What a worker holds from now on (modules, templates) is never walked by the collector
    # again; and its young generation is collected every WORKER_GC_YOUNG objects, not 700.
    # A batch unpickles thousands of objects (spans, log records): at 700, its unpickling ran
    # dozens of collections over the batch so far and took three times as long. A batch's
    # objects are freed by their counts once its pages are sent back; a reference cycle
    # among them waits a little longer, at a bounded cost in memory.
    gc.freeze()
    gc.set_threshold(WORKER_GC_YOUNG, *gc.get_threshold()[1:])
    _all_started = started


def _ready() -> int:
    # Each warm-up task waits until every worker holds one, so each worker takes exactly
    # one: when they return, all workers are up and through their initializer.
    with contextlib.suppress(threading.BrokenBarrierError):
        _all_started.wait(timeout=WARM_UP_SECONDS)
    return os.getpid()


def _die_with_parent(lifeline: Connection) -> None:
    """End this worker when the parent is gone, even killed with SIGKILL.

    The parent holds the only write end of the lifeline and never writes: reading returns
    only when that end is closed, which the kernel does when the parent dies.
    """
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()
    os._exit(1)


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: workers start from a clean process, not a fork of one holding threads and
    # SQLite handles; spawn where forkserver does not exist (macOS has it, Windows does not).
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _stop_workers(executor: ProcessPoolExecutor, wait_seconds: float) -> None:
    """Stop an executor's workers: ask, wait at most `wait_seconds`, then kill the rest.

    A frozen or stuck worker would keep a plain shutdown waiting forever.
    """
    processes = list((executor._processes or {}).values())  # no public way to reach them
    # Not cancel_futures: the executor fails its pending futures itself once it sees dead
    # workers, and cancelling them first races with that (InvalidStateError).
    executor.shutdown(wait=False)
    deadline = time.monotonic() + wait_seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(KILL_SECONDS)


class _Round:
    """One round shared by the workers and this process: batches, heaviest first, go to
    whoever is free next, so neither side waits while the other still has work.

    Each worker is kept AHEAD_PER_WORKER batches ahead (the next is sent as one comes back);
    this process renders the rest itself meanwhile, instead of idling until the results come.
    Once the last fragment of the round is rendered, here or in a worker, this process makes
    `then`'s pages of the fragments (the metrics pages of the panels) in a thread of its own,
    and they go to the front of the queue: they render while the rest of the round still
    does, not in a round of their own after it, on one CPU. Packing the panels is mostly
    zlib's compression, which runs without the interpreter lock: made in this thread, it held
    up the round's own rendering (the main process is the busiest of the round); in the
    executor's thread, a worker's results waited to be collected and its next batch to be sent.
    """

    def __init__(self, executor: ProcessPoolExecutor, tasks: Sequence[PageTask],
                 batches: list[list[int]], ahead: int, then: Then | None = None,
                 split: Callable[[Sequence[PageTask]], list[list[int]]] | None = None,
                 more: More | None = None) -> None:  # fmt: skip
        self.tasks = list(tasks)  # more's and then's tasks are added
        self._queue = deque(batches)
        self._ahead = ahead
        self._then = then
        self._more = more  # made here first, while the workers start on the batches sent
        self._split = split or (lambda more: [list(range(len(more)))])
        self._fragments = {i: None for i, t in enumerate(self.tasks) if t.fragment}
        self._left = len(self._fragments)  # fragments not rendered yet
        self._making = False  # then is being made, in a thread of its own
        self._maker: threading.Thread | None = None
        self._failed: BaseException | None = None  # what making then raised
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a batch came back, or more queued
        self.pages: dict[int, RenderedPage] = {}
        self.resume(executor, [])

    def resume(self, executor: ProcessPoolExecutor, lost: list[list[int]]) -> None:
        """Go on with `executor` (a new one, after workers died), from the `lost` batches."""
        # Under the lock: a callback of the broken executor may still be topping up.
        with self._lock:
            self._executor = executor
            self._queue.extendleft(reversed(lost))
            self.sent: dict[Future, list[int]] = {}
            self._flying = 0  # batches sent whose callback has not finished
            self.broken = False  # the executor refused a batch: its workers are gone
        self._top_up()

    def _top_up(self) -> None:
        # Runs in the executor's thread too, as a done-callback: take and send under the lock,
        # so once this process finds the queue empty, every batch sent is in `sent`.
        futures = []
        with self._lock:
            while self._flying < self._ahead and self._queue and not self.broken:
                batch = self._queue.popleft()
                try:
                    future = self._executor.submit(render_batch, [self.tasks[i] for i in batch])
                except (BrokenProcessPool, RuntimeError):  # broken or shut down: render it here
                    self._queue.appendleft(batch)
                    self.broken = True
                    break
                self.sent[future] = batch
                self._flying += 1
                futures.append((future, batch))
        # Outside the lock: a future already done runs its callback in this thread, now.
        for future, batch in futures:
            future.add_done_callback(functools.partial(self._back, batch))

    def _back(self, batch: list[int], future: Future) -> None:
        """In the executor's thread: a batch came back (or its worker died)."""
        if future.exception() is None:
            self._rendered(batch, future.result())
        with self._changed:
            self._flying -= 1  # last: once none is flying, every fragment is counted
            self._changed.notify_all()
        self._top_up()

    def _rendered(self, batch: list[int], pages: list[RenderedPage]) -> None:
        """Count the fragments among the pages."""
        with self._lock:
            for i, page in zip(batch, pages, strict=True):
                if i in self._fragments and self._fragments[i] is None:
                    self._fragments[i] = page
                    self._left -= 1

    def _then_due(self) -> bool:
        """Under the lock: say whether then is to be made now: every fragment is back, and
        more's tasks are queued (then's come after them)."""
        return self._then is not None and self._more is None and not self._left

    def _queue_made(self, made: list[PageTask]) -> None:
        """Queue tasks made during the round after the batches holding fragments (then
        waits for those; once it is made, none is queued), heaviest first, and send what
        the workers lack."""
        with self._lock:
            base = len(self.tasks)
            self.tasks.extend(made)
            queue = list(self._queue)
            holding = [k for k, b in enumerate(queue) if any(map(self._fragments.__contains__, b))]
            at = holding[-1] + 1 if holding else 0
            queue[at:at] = [[base + i for i in b] for b in self._split(made)]
            self._queue = deque(queue)
        self._top_up()

    def _make(self, then: Then, fragments: list[RenderedPage]) -> None:
        """In a thread of its own: make then's tasks and queue them (or keep what it raised,
        for the round's run to raise)."""
        failed = None
        try:
            self._queue_made(then(fragments))
        except BaseException as exc:
            failed = exc
        with self._changed:
            self._failed, self._making = failed, False
            self._changed.notify_all()

    def run(self, deadline: float | None) -> list[list[int]]:
        """Render batches here while any is queued or out; return the batches lost with a
        worker that died. TimeoutError past `deadline` (monotonic)."""
        try:
            self._render_here(deadline)
        except BaseException:
            # then, if under way, ends with the round (it would queue its tasks again, and
            # key them in the next cycle); as long as it took when made in this thread.
            if self._maker is not None:
                self._maker.join()
            with self._lock:
                self._queue.clear()  # the round is given up: its batches go to no worker
            raise
        lost = []
        for future, batch in self.sent.items():
            try:
                self.pages.update(zip(batch, future.result(), strict=True))
            except BrokenProcessPool:
                lost.append(batch)
        return lost

    def _render_here(self, deadline: float | None) -> None:
        if self._more is not None:
            self._queue_made(self._more())
            self._more = None  # only this thread asks _then_due
        while True:
            then = None
            with self._changed:
                while (
                    not self._queue
                    and (self._flying or self._making)
                    and self._failed is None
                    and not self._then_due()
                ):
                    # Workers past the deadline are stuck; then, made here, is waited for.
                    if deadline is None or not self._flying:
                        left = None
                    else:
                        left = max(0.0, deadline - time.monotonic())
                    if not self._changed.wait(left):
                        raise TimeoutError
                if self._failed is not None:
                    raise self._failed
                if self._then_due():  # taken under the lock: made once
                    then, self._then, self._making = self._then, None, True
                elif not self._queue:
                    break  # none queued, none out: every batch is back
                else:
                    batch = self._queue.popleft()
            if then is not None:
                fragments = list(self._fragments.values())
                self._maker = threading.Thread(
                    target=self._make, args=(then, fragments), daemon=True
                )
                self._maker.start()
                continue
            pages = render_batch([self.tasks[i] for i in batch])
            self.pages.update(zip(batch, pages, strict=True))
            self._rendered(batch, pages)


class RenderPool:
    """A process pool started when it is first worth it and then kept for every cycle.

    Rounds predicted (from the CPU time each kind of task took last time, and how fast
    rounds went here and in the pool lately) to cost less than the pool would save are
    rendered in this process; workers take data and return bytes, and
    this process renders a share of every pooled round itself. `workers` counts the worker
    processes besides this one (see worker_count); with none, every round renders here.
    """

    def __init__(self, workers: int, adaptive: bool = True) -> None:
        self.workers = workers
        self.adaptive = adaptive  # False: every round goes to the workers (and this process)
        self.restarts = 0
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        self._pids: list[int] = []
        self._seconds: dict[str, float] = {}  # CPU time a task of each kind took last time
        self._more_names: list[str] = []  # the tasks the last round's more made
        self._start_seconds = START_SECONDS  # what starting the workers costs, once measured
        # The rate of the last rounds measured (CPU seconds of pages per second), oldest first:
        # in the pool, and here. Their ratio is the pool's speedup under the load of the time.
        self._rates: dict[bool, deque[float]] = {
            pooled: deque(maxlen=RATE_WINDOW) for pooled in (True, False)
        }
        self._since_probe = 0  # rounds rendered here that the pool would pay for at full speed
        self._probe_every = PROBE_EVERY
        self._probe: tuple[float, float] | None = None  # a probe's (here, overhead), till measured
        # Workers read the lifeline; this process holds its only write end, so its death
        # (however it dies) ends them.
        self._lifeline: tuple[Connection, Connection] | None = None

    def _start(self) -> ProcessPoolExecutor:
        ctx = _context()
        self._lifeline = ctx.Pipe(duplex=False)
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_warm_up,
            initargs=(ctx.Barrier(self.workers), self._lifeline[0]),
        )

    def warm_up(self) -> list[int]:
        """Start every worker now (not inside a cycle); return their pids."""
        if self.workers < 1:
            return [os.getpid()]
        if self._executor is None:
            started = time.perf_counter()
            self._executor = self._start()
            # One task per worker makes the pool start them all (it starts them on demand).
            futures = [self._executor.submit(_ready) for _ in range(self.workers)]
            self._pids = sorted({f.result(timeout=WARM_UP_SECONDS) for f in futures})
            self._start_seconds = time.perf_counter() - started
            logger.info("render pool started", extra={"fields": {"workers": self.workers,
                        "seconds": round(self._start_seconds, 3)}})  # fmt: skip
        return self._pids

    def render(
        self,
        tasks: Sequence[PageTask],
        timeout: float | None = None,
        then: Then | None = None,
        more: More | None = None,
    ) -> list[RenderedPage]:
        """Render every task, in the pool when that is predicted to pay, else in this process;
        the tasks `more` makes, which this process makes while the workers start on the
        first; then the tasks `then` makes of the fragments among the first, all in the
        same round. The pages come in that order.

        Past `timeout` seconds the workers are taken to be stuck: they are killed, and
        TimeoutError raised for the cycle to report (the next round starts new workers).
        """
        # What more makes is not known before it runs: its tasks count as the last ones did.
        coming = self._more_names if more is not None else []
        if more is not None:
            more = self._noting(more)
        if self._in_parent(tasks, coming):
            started = time.perf_counter()
            pages = render_all(tasks, then, more)
            self._measure(pages, time.perf_counter() - started, pooled=False)
            self._learn(pages)
            return pages
        self.warm_up()
        blind = not self._seconds  # batches not sized from costs: no measure of the pool
        started = time.perf_counter()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with _switching(SHARED_SWITCH_SECONDS):
                done = self._share(tasks, then, more, deadline)
        except TimeoutError:
            logger.warning("render pool stuck; restarting it", extra={"fields": {}})
            self._restart()
            raise TimeoutError(f"rendering took longer than {timeout:g}s") from None
        ordered = [done.pages[i] for i in range(len(done.tasks))]
        if not blind:
            rate = self._measure(ordered, time.perf_counter() - started, pooled=True)
            self._probed(rate)
        self._learn(ordered)
        return ordered

    def _measure(self, pages: list[RenderedPage], seconds: float, pooled: bool) -> float | None:
        """Note how fast a round went: the CPU time of its pages per second of the round.

        CPU time is what the pages cost whatever the load; per second of the round, it says
        how much of the machine the round had: at most one CPU here, in the pool as many as
        the workers and this process got, less what sending and collecting cost.
        """
        cpu = sum(p.record.cpu_ns for p in pages) / 1e9
        if cpu < MEASURE_SECONDS:
            return None
        self._rates[pooled].append(cpu / max(1e-6, seconds))
        return self._rates[pooled][-1]

    def _probed(self, rate: float | None) -> None:
        """Set when the next probe comes from what this round, if it was one, measured."""
        probe, self._probe = self._probe, None
        if probe is None or rate is None:
            return
        here, overhead = probe
        # Judged by its own rate, not the median: the first probe after the load passed
        # brings the next one as soon as ever.
        if _pays(here, overhead, rate / self.rate(False)):
            self._probe_every = PROBE_EVERY
        else:
            self._probe_every = min(PROBE_EVERY_MAX, 2 * self._probe_every)

    def _share(
        self, tasks: Sequence[PageTask], then: Then | None, more: More | None,
        deadline: float | None,
    ) -> _Round:  # fmt: skip
        """Render the round in the workers and here; a broken pool is started again once."""
        batches = self.batches(tasks, fragments_first=then is not None)
        done = _Round(self._executor, tasks, batches, AHEAD_PER_WORKER * self.workers, then,
                      self.batches, more)  # fmt: skip
        lost = done.run(deadline)
        if not (done.broken or lost):
            return done
        if self._closed:
            raise BrokenProcessPool("the render pool was closed while rendering")
        # A worker died (killed, out of memory): the whole executor is unusable. Start a new
        # one (now if it lost pages, else in the next round that needs it) and render what it
        # lost, once; a second failure is the cycle's to report.
        logger.warning("render pool broken; restarting it", extra={"fields": {}})
        self._restart()
        if lost:
            self.warm_up()
            done.resume(self._executor, lost)
            if done.run(deadline) or done.broken:
                raise BrokenProcessPool("the render pool broke twice in one round")
        return done

    def _noting(self, more: More) -> More:
        """Return `more`, noting the names of the tasks it makes: the next round's
        prediction counts them before they are made."""

        def noted() -> list[PageTask]:
            made = more()
            self._more_names = [t.name for t in made]
            return made

        return noted

    def _predict(self, tasks: Sequence[PageTask], coming: Sequence[str] = ()) -> float:
        """Return what the tasks, and those of the names `coming`, should take one after
        another, 0 when nothing is known."""
        costs = self._costs([*(t.name for t in tasks), *coming])
        return sum(costs) if costs else 0.0

    def _costs(self, names: Sequence[str]) -> list[float] | None:
        """Return what each task (by name) should take, as its kind did last; a kind not
        seen yet, the median kind's; None before anything is learned."""
        if not self._seconds:
            return None
        usual = statistics.median(self._seconds.values())
        return [self._seconds.get(task_kind(name), usual) for name in names]

    def rate(self, pooled: bool) -> float:
        """Return the median rate of the last rounds measured in the pool, or here; before
        any is, a CPU per renderer (the workers and this process) for the pool, one here."""
        rates = self._rates[pooled]
        return statistics.median(rates) if rates else float(self.workers + 1 if pooled else 1)

    def speedup(self) -> float:
        """Return the pool's speedup over this process under the load of late."""
        return self.rate(True) / self.rate(False)

    def _in_parent(self, tasks: Sequence[PageTask], coming: Sequence[str] = ()) -> bool:
        """Say whether the round (the tasks, and those of the names `coming`) is cheaper here
        than in the pool (starting it if need be)."""
        self._probe = None  # only the round that is sent to probe carries one
        if self.workers < 1 or self._closed:
            return True
        if not self.adaptive:
            return False
        predicted = self._predict(tasks, coming)
        if not predicted:  # nothing learned: here if the pool is not running (this teaches)
            return self._executor is None
        # The trips of the batches sent ahead: filling the workers at the start, waiting for
        # them at the end. The trips between overlap with the work, and the measured rates
        # count what they cost in a round long enough to measure.
        trips = ROUND_TRIP_SECONDS * AHEAD_PER_WORKER * self.workers
        overhead = trips + (self._start_seconds if self._executor is None else 0.0)
        here = predicted / self.rate(False)  # what the round should take in this process
        if _pays(here, overhead, self.speedup()):
            return False
        # The speedup was measured under some load, which passes: a round the pool would pay
        # for at full speed counts, and every PROBE_EVERY such rounds one goes to the pool to
        # measure again (this process renders its share too, so a probe costs little; fewer
        # while probes find it not worth its trips, see PROBE_EVERY_MAX).
        if _pays(here, overhead, self.workers + 1):
            self._since_probe += 1
            if self._since_probe >= self._probe_every:
                self._since_probe = 0
                # Judged without the start: its rate is timed once the workers are up.
                self._probe = (here, trips)
                return False
        return True

    def _learn(self, pages: list[RenderedPage]) -> None:
        """Remember the mean CPU time of each kind of task, the cost of its kind next time."""
        took = by_kind((p.record for p in pages), attrgetter("cpu_ns"))
        self._seconds.update({kind: sum(ns) / len(ns) / 1e9 for kind, ns in took.items()})

    def batches(self, tasks: Sequence[PageTask], fragments_first: bool = False) -> list[list[int]]:
        """Group tasks (by index) into batches of about equal cost, the heaviest first (but
        the fragments first of all, when pages are to be made of them in the same round).

        Costs are what a task of the same kind took last time, so two hundred trace pages
        of a millisecond share a few round trips while the logs page, the heaviest, goes
        alone and first: a heavy task started last would leave the others idle at the end.
        With nothing learned yet, tasks are taken to cost alike: batches of fewer and fewer
        tasks, in order.
        """
        known = self._costs([t.name for t in tasks])
        costs = known or [1.0] * len(tasks)
        # A still copy goes with its live page, right after it: it is made of its bytes.
        live = {t.path: i for i, t in enumerate(tasks) if t.refresh == "live"}
        copy_of = {live[twin_path(t)]: i for i, t in enumerate(tasks)
                   if t.refresh == "still" and twin_path(t) in live}  # fmt: skip
        copies = set(copy_of.values())
        units = [[i, copy_of[i]] if i in copy_of else [i]
                 for i in range(len(tasks)) if i not in copies]  # fmt: skip
        cost = [sum(costs[i] for i in unit) for unit in units]
        later = [fragments_first and not tasks[unit[0]].fragment for unit in units]
        order = sorted(range(len(units)), key=lambda u: (later[u], -cost[u]))  # stable
        renderers = self.workers + 1  # this process renders a share too
        least = MIN_BATCH_SECONDS if known is not None else 1.0  # a task, when none is known
        runs = guided_runs([cost[u] for u in order], renderers * GUIDE, least)
        if fragments_first:  # no batch holds fragments back with other pages
            runs = [part for run in runs for part in _split_at(run, later.count(False)) if part]
        return [[i for u in run for i in units[order[u]]] for run in runs]

    def _restart(self) -> None:
        # A stuck worker would keep its task forever: kill them all now; the next round
        # starts new ones.
        self._stop(0.0)
        self.restarts += 1

    def close(self, wait_seconds: float = CLOSE_SECONDS) -> None:
        """Stop the workers: those not done within `wait_seconds` are killed."""
        self._closed = True
        self._stop(wait_seconds)

    def abandon(self) -> None:
        """Start no worker again, whatever befalls those running: the process is ending, and
        kills them itself (frozen, they and the forkserver answer no polite stop)."""
        self._closed = True

    def _stop(self, wait_seconds: float) -> None:
        if self._executor is not None:
            _stop_workers(self._executor, wait_seconds)
            self._executor = None
        for end in self._lifeline or ():
            end.close()
        self._lifeline = None

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

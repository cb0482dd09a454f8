"""The process pool that renders pages: started when it pays, kept, and stopped in bounded time."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import statistics
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection

from sitegen.render.environment import environment
from sitegen.render.tasks import PageTask, RenderedPage, render_batch, render_page, split_runs

logger = logging.getLogger("sitegen")
# Batches per worker and round: enough that a slow batch doesn't leave the others idle,
# few enough that a page of one millisecond doesn't pay a round trip of its own.
BATCHES_PER_WORKER = 4
# What a round in the pool costs besides the work, per batch: pickling both ways, a trip.
ROUND_TRIP_SECONDS = 0.004
# What starting the workers costs until it is measured (forkserver, imports, templates).
START_SECONDS = 0.9
# Bounds on waiting for workers: to start, to finish when closing, to die once killed.
WARM_UP_SECONDS = 120.0
CLOSE_SECONDS = 3.0
KILL_SECONDS = 5.0


def _kind(name: str) -> str:
    """Return a task's kind, the first word of its name ("trace", "panel", "logs")."""
    return name.split(" ", 1)[0]


def worker_count(configured: int) -> int:
    """Return the number of workers: the configured one, or one per CPU for 0."""
    return configured if configured > 0 else max(1, os.cpu_count() or 1)


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


class RenderPool:
    """A process pool started when it is first worth it and then kept for every cycle.

    Rounds predicted (from what each kind of task took last time) to cost less than the
    pool would save are rendered in this process; workers take data and return bytes.
    """

    def __init__(self, workers: int, adaptive: bool = True) -> None:
        self.workers = workers
        self.adaptive = adaptive  # False: every round goes to the workers (none here)
        self.restarts = 0
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        self._pids: list[int] = []
        self._seconds: dict[str, float] = {}  # how long a task of each kind took last time
        self._start_seconds = START_SECONDS  # what starting the workers costs, once measured
        self._speedup = float(workers)  # the pool's speedup over this process, last measured
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
        if self.workers <= 1:
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

    def render(self, tasks: Sequence[PageTask], timeout: float | None = None) -> list[RenderedPage]:
        """Render every task, in the pool when that is predicted to pay, else in this process.

        Past `timeout` seconds the workers are taken to be stuck: they are killed, and
        TimeoutError raised for the cycle to report (the next round starts new workers).
        """
        if self._in_parent(tasks):
            pages = [render_page(t) for t in tasks]
            self._learn(pages)
            return pages
        predicted = self._predict(tasks)
        self.warm_up()
        batches = self.batches(tasks)
        started = time.perf_counter()
        try:
            done = self._run(batches, timeout)
        except BrokenProcessPool:
            if self._closed:
                raise
            # A worker died (killed, out of memory): the whole executor is unusable. Start
            # a new one and render again, once; a second failure is the cycle's to report.
            logger.warning("render pool broken; restarting it", extra={"fields": {}})
            self._restart()
            self.warm_up()
            done = self._run(batches, timeout)
        except TimeoutError:
            logger.warning("render pool stuck; restarting it", extra={"fields": {}})
            self._restart()
            raise TimeoutError(f"rendering took longer than {timeout:g}s") from None
        if predicted:
            self._speedup = predicted / max(1e-6, time.perf_counter() - started)
        pages = [p for batch in done for p in batch]
        self._learn(pages)
        return pages

    def _run(self, batches: list[list[PageTask]], timeout: float | None) -> list:
        # Not executor.map: past its timeout it cancels the pending futures, which then
        # races with the executor failing them once the stuck workers are killed.
        futures = [self._executor.submit(render_batch, b) for b in batches]
        if wait(futures, timeout=timeout).not_done:
            raise TimeoutError
        return [f.result() for f in futures]

    def _predict(self, tasks: Sequence[PageTask]) -> float:
        """Return what the tasks should take one after another, 0 when nothing is known."""
        if not self._seconds:
            return 0.0
        usual = statistics.median(self._seconds.values())
        return sum(self._seconds.get(_kind(t.name), usual) for t in tasks)

    def _in_parent(self, tasks: Sequence[PageTask]) -> bool:
        """Say whether the round is cheaper here than in the pool (starting it if need be)."""
        if self.workers <= 1 or self._closed:
            return True
        if not self.adaptive:
            return False
        predicted = self._predict(tasks)
        if not predicted:  # nothing learned: here if the pool is not running (this teaches)
            return self._executor is None
        overhead = ROUND_TRIP_SECONDS * min(len(tasks), self.workers * BATCHES_PER_WORKER)
        if self._executor is None:
            overhead += self._start_seconds
        saved = predicted * (1.0 - 1.0 / max(1.0, self._speedup))
        if saved > overhead:
            return False
        # The speedup was measured under some load: drift back towards the workers' count,
        # so a pool found slow on a busy machine is tried again once it may pay.
        self._speedup += (self.workers - self._speedup) * 0.1
        return True

    def _learn(self, pages: list[RenderedPage]) -> None:
        """Remember the mean time of each kind of task, the cost of its kind next time."""
        took: dict[str, list[float]] = {}
        for p in pages:
            took.setdefault(_kind(p.record.name), []).append(p.record.end_ns - p.record.start_ns)
        self._seconds.update({kind: sum(ns) / len(ns) / 1e9 for kind, ns in took.items()})

    def batches(self, tasks: Sequence[PageTask]) -> list[list[PageTask]]:
        """Group consecutive tasks into batches of about equal cost, a heavy task alone.

        Costs are what a task of the same kind took last time, so two hundred trace pages
        of a millisecond share a few round trips while the logs page, the heaviest, goes to
        a worker of its own. With nothing learned yet, every task is a batch of its own.
        """
        known = sorted(self._seconds.values())
        if not known:
            return [[t] for t in tasks]
        usual = known[len(known) // 2]
        costs = [self._seconds.get(_kind(t.name), usual) for t in tasks]
        runs = split_runs(costs, sum(costs) / (self.workers * BATCHES_PER_WORKER))
        return [[tasks[i] for i in run] for run in runs]

    def _restart(self) -> None:
        # A stuck worker would keep its task forever: kill them all now; the next round
        # starts new ones.
        self._stop(0.0)
        self.restarts += 1

    def close(self, wait_seconds: float = CLOSE_SECONDS) -> None:
        """Stop the workers: those not done within `wait_seconds` are killed."""
        self._closed = True
        self._stop(wait_seconds)

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

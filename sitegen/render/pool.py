"""The persistent process pool that renders pages, and the record of who rendered what when."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from sitegen.render.environment import environment
from sitegen.render.tasks import PageTask, RenderedPage, render_batch, render_page, split_runs

logger = logging.getLogger("sitegen")
# Batches per worker and round: enough that a slow batch doesn't leave the others idle,
# few enough that a page of one millisecond doesn't pay a round trip of its own.
BATCHES_PER_WORKER = 4


def _kind(name: str) -> str:
    """Return a task's kind, the first word of its name ("trace", "panel", "logs")."""
    return name.split(" ", 1)[0]


def worker_count(configured: int) -> int:
    """Return the number of workers: the configured one, or one per CPU for 0."""
    return configured if configured > 0 else max(1, os.cpu_count() or 1)


def _warm_up(started: threading.Barrier) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The first workers wait for each other, so none races through the warm-up tasks
    # alone; a worker started later (after a crash) finds the barrier spent and goes on.
    with contextlib.suppress(threading.BrokenBarrierError):
        started.wait(timeout=10)
    # Parse the templates once per worker, not once per page.
    env = environment()
    for name in env.list_templates():
        env.get_template(name)


def _ready() -> int:
    # Long enough that one worker can't take every warm-up task while the others idle.
    time.sleep(0.05)
    return os.getpid()


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: workers start from a clean process, not a fork of one holding threads and
    # SQLite handles; spawn where forkserver does not exist (macOS has it, Windows does not).
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class RenderPool:
    """A process pool created once and reused by every cycle; workers take data, return bytes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.restarts = 0
        self._executor = self._start() if workers > 1 else None
        self._seconds: dict[str, float] = {}  # how long a task of each kind took last time

    def _start(self) -> ProcessPoolExecutor:
        ctx = _context()
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_warm_up,
            initargs=(ctx.Barrier(self.workers),),
        )

    def warm_up(self) -> list[int]:
        """Start every worker now (not inside the first cycle); return their pids."""
        if self._executor is None:
            return [os.getpid()]
        # One task per worker makes the pool start them all (it starts them on demand).
        futures = [self._executor.submit(_ready) for _ in range(self.workers)]
        return sorted({f.result() for f in futures})

    def render(self, tasks: Sequence[PageTask], timeout: float | None = None) -> list[RenderedPage]:
        """Render every task, in the pool when there is one, else in this process.

        Past `timeout` seconds the workers are taken to be stuck: they are killed, a new
        pool started, and TimeoutError raised for the cycle to report.
        """
        if self._executor is None:
            return [render_page(t) for t in tasks]
        batches = self.batches(tasks)
        try:
            done = list(self._executor.map(render_batch, batches, timeout=timeout))
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the whole executor is unusable. Start
            # a new one and render again, once; a second failure is the cycle's to report.
            logger.warning("render pool broken; restarting it", extra={"fields": {}})
            self._restart()
            done = list(self._executor.map(render_batch, batches, timeout=timeout))
        except TimeoutError:
            logger.warning("render pool stuck; restarting it", extra={"fields": {}})
            self._restart()
            raise TimeoutError(f"rendering took longer than {timeout:g}s") from None
        pages = [p for batch in done for p in batch]
        self._learn(pages)
        return pages

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
        # A stuck worker would keep its task forever: kill them all (the executor has no
        # public way to), then start afresh.
        for process in list((self._executor._processes or {}).values()):
            process.kill()
        # Not cancel_futures: the old executor fails its pending futures itself once it sees
        # the dead workers, and cancelling them first races with that (InvalidStateError).
        self._executor.shutdown(wait=False)
        self._executor = self._start()
        self.restarts += 1
        self.warm_up()

    def close(self) -> None:
        """Stop the workers."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

from sitegen.render import PageTask, RenderedPage, environment, render_page

logger = logging.getLogger("sitegen")


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
        try:
            # One task per round trip: the few heavy pages (metrics, logs) come first and
            # each goes to its own worker instead of sharing a chunk with its neighbours.
            return list(self._executor.map(render_page, tasks, timeout=timeout))
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the whole executor is unusable. Start
            # a new one and render again, once; a second failure is the cycle's to report.
            logger.warning("render pool broken; restarting it", extra={"fields": {}})
            self._restart()
            return list(self._executor.map(render_page, tasks, timeout=timeout))
        except TimeoutError:
            logger.warning("render pool stuck; restarting it", extra={"fields": {}})
            self._restart()
            raise TimeoutError(f"rendering took longer than {timeout:g}s") from None

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

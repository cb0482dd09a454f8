"""`sitegen run`: a cycle every interval (APScheduler), one at a time, and a clean shutdown.

SIGTERM or SIGINT stops scheduling and waits for the running cycle; the site on disk is
whole either way, since a build only becomes visible by an atomic swap. Whatever the cycle
or its workers do (a worker frozen by SIGSTOP, a source that never answers), the process
is gone SHUTDOWN_SECONDS after the signal: past CYCLE_GRACE_SECONDS the cycle is abandoned,
every child process (render workers, the forkserver, the resource tracker) is killed and
the process exits at once, and a watchdog does the same if even that cleanup hangs. A
second signal exits at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psutil
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.blocking import BlockingScheduler

from sitegen.config import Config
from sitegen.cycle import Runtime, run_cycle
from sitegen.gcpolicy import Settle
from sitegen.metrics import serve
from sitegen.site.lease import LEASE_KEY, release
from sitegen.site.publish import clients
from sitegen.telemetry import log

SHUTDOWN_SECONDS = 10.0
CYCLE_GRACE_SECONDS = 7.0  # what the running cycle gets; the rest is for cleaning up
EXIT_FORCED = 1


def release_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc's malloc_trim); say if it could.

    A cycle allocates and frees a few MiB (pages, JSON twins, SQLite reads) from whichever
    of the process's threads runs it: glibc keeps what was freed in the middle of its heaps
    for reuse, so a long run's RSS crept up by its high-water marks, about 2 MiB more by
    the sixth minute of a 1 s soak than with a trim after each cycle, which costs no
    measurable CPU. Other C libraries have no malloc_trim: there it does nothing.
    """
    trim = getattr(_libc(), "malloc_trim", None)
    return bool(trim(0)) if trim is not None else False


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)  # the C library this process already runs on
    except OSError:
        return None


def kill_children() -> None:
    """Kill every process this one started, and theirs (workers hang off the forkserver),
    but multiprocessing's resource tracker: it removes the pool's semaphores from /dev/shm
    once the processes that use them are gone, then ends. Killed, it left them there."""
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:  # one vanished mid-walk (a pool restarting): take who is there now
        children = psutil.Process().children()
    for child in children:
        with contextlib.suppress(psutil.Error):
            if not is_resource_tracker(child):
                child.kill()  # SIGKILL works on a stopped (SIGSTOP) process too


def is_resource_tracker(process: psutil.Process) -> bool:
    """Say whether a process is multiprocessing's resource tracker (by its command line)."""
    try:
        return any("multiprocessing.resource_tracker" in arg for arg in process.cmdline())
    except psutil.Error:  # gone, or its command line unreadable: not one to spare
        return False


def _exit_now(code: int) -> None:
    """Leave without waiting for threads (a stuck cycle's thread would be joined forever)."""
    try:
        kill_children()
    finally:
        # No flush of stdout/stderr: a reader that stopped reading must not hold us here.
        os._exit(code)


def run_forever(cfg: Config, progress: Callable[[str], None]) -> int:
    """Run cycles until SIGTERM or SIGINT; return the exit code (0 after a clean stop)."""
    rt = Runtime.start(cfg, progress)
    logger = rt.telemetry.logger
    interval = cfg.site.interval_seconds
    started = time.time()

    def health() -> tuple[bool, str]:
        # Unhealthy once no cycle has succeeded for three intervals (or since start-up).
        last = rt.metrics.last_success_at or started
        age = time.time() - last
        ok = age <= 3 * interval
        return ok, f"{'ok' if ok else 'unhealthy'}: last successful cycle {age:.0f}s ago"

    server = serve(rt.metrics, cfg.site.metrics_listen, health) if cfg.site.metrics_listen else None
    busy = threading.Lock()  # held while a cycle runs, so shutdown can wait for it
    settle = Settle()  # what each cycle leaves alive is not walked again by every full pass

    def cycle() -> None:
        with busy:
            try:
                run_cycle(rt, publish_site=True)
            except Exception as exc:  # a failed cycle is logged and counted; the next one runs
                rt.metrics.cycles.labels("failed").inc()
                logger.exception("cycle failed", extra={"fields": {"error": str(exc)}})
            finally:
                settle()
                release_memory()  # after the collection, so what it freed goes back too

    def skipped(event: JobEvent) -> None:
        # Coalesced: a cycle still running when the next is due makes that one skip, not queue.
        log(logger, logging.WARNING, "cycle overran its interval; a run was skipped",
            interval_seconds=interval, event=event.code)  # fmt: skip

    scheduler = BlockingScheduler(timezone=UTC)
    scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    job = scheduler.add_job(
        cycle, "interval", seconds=interval, id="cycle", next_run_time=datetime.now(UTC),
        max_instances=1, coalesce=True, misfire_grace_time=interval,
    )  # fmt: skip
    # APScheduler moves next_run_time on as a run starts: inside a cycle it is the next one.
    rt.next_run = lambda: job.next_run_time.timestamp() if job.next_run_time else None
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stopping.is_set():
            _exit_now(EXIT_FORCED)  # second signal: the user wants out now
        stopping.set()
        # The backstop: whatever hangs below (a cleanup step, a flush), the process ends.
        watchdog = threading.Timer(SHUTDOWN_SECONDS - 0.5, _exit_now, args=(0,))
        watchdog.daemon = True
        watchdog.start()
        log(logger, logging.INFO, "stopping", signal=signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    log(logger, logging.INFO, "running", interval_seconds=interval,
        metrics=cfg.site.metrics_listen or "off")  # fmt: skip
    progress(f"running a cycle every {interval}s; stop with Ctrl-C or SIGTERM")
    abandoned = False
    try:
        scheduler.start()  # returns once a signal shut the scheduler down
        if busy.acquire(timeout=CYCLE_GRACE_SECONDS):
            busy.release()
        else:
            abandoned = True
            log(logger, logging.WARNING, "abandoned the running cycle at shutdown",
                waited_seconds=CYCLE_GRACE_SECONDS)  # fmt: skip
            # Its workers may be frozen: closing the pool politely would wait on them. The
            # pool is abandoned first: the cycle, finding its workers killed, started a pool
            # anew, and a semaphore made as the process ended was left in /dev/shm.
            rt.pool.abandon()
            kill_children()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
        if cfg.publish.bucket:  # a standby generator may take over at once
            with contextlib.suppress(Exception):
                s3, _ = clients(cfg.publish)
                release(s3, cfg.publish.bucket, cfg.publish.prefix + LEASE_KEY, rt.holder)
        log(logger, logging.INFO, "stopped")
        if abandoned:
            rt.telemetry.close()  # spans and logs kept; the cycle's thread is left behind
            _exit_now(0)
        rt.close()
    return 0

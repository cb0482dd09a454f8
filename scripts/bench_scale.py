"""Scale: what a cycle costs with a long history, and with many finished traces.

--history 7d: full cycles of the embedded default over a history holding that long of
every metric the default records, one sample each 30 s, against the same over one hour.
--traces 10000: the render and write of a site holding that many finished traces, 10 new
ones a cycle (the oldest 10 gone), against the same with 100 traces, each site in a process
of its own, their cycles taking turns; pages reused across
cycles by their keys, in the pool of a long run; each cycle makes only the new traces'
spans, as a trace source reads only what is new (synthetic traces made anew each cycle
would cost the garbage collector a quarter of a million new objects a cycle that no run
makes), and merges them into the traces kept, as the sources do (timed with the rest).
After each cycle the collector settles as in `sitegen run` (sitegen/gcpolicy.py), timed with
the cycle; the full pass it makes at most every FULL_EVERY_CYCLES cycles is timed apart and
printed with its share of a cycle.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from multiprocessing.connection import Connection
from pathlib import Path

from sitegen.config import parse, parse_duration
from sitegen.cycle import Runtime, run_cycle
from sitegen.gcpolicy import FULL_EVERY_CYCLES, Settle
from sitegen.history import HISTORY_FILE
from sitegen.model import Trace
from sitegen.render.environment import iso
from sitegen.render.keys import Reuse
from sitegen.render.pool import RenderPool, worker_count
from sitegen.render.rounds import render_site
from sitegen.render.tasks import Common
from sitegen.render.twins import twins
from sitegen.site import output
from sitegen.site.optimize import build_assets
from sitegen.site.output import write_site
from sitegen.synthetic import Workload, snapshot
from sitegen.traces.spans import assemble

# Cycles here follow one another at once, standing for cycles seconds apart: no reader is
# on its way into a build that just left the site, and each cycle takes the spare build
# over as a long run does (a run's writes are an interval apart, past the grace).
output.SWAP_GRACE_SECONDS = 0.0

STEP_SECONDS = 30.0
TABLES = ("samples", "rollups")


def _rows(state: Path) -> int:
    with closing(sqlite3.connect(state / HISTORY_FILE)) as db:
        return sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)


def _history_cycles(seconds: float, cycles: int) -> float:
    """Return the median CPU time of a full cycle over `seconds` of history."""
    with tempfile.TemporaryDirectory() as d:
        cfg = parse("[site]\ninterval_seconds = 30\n", env={}, base_dir=Path(d))
        rt = Runtime.start(cfg)
        try:
            run_cycle(rt)  # records every metric the default has, once
            now = time.time()
            with closing(sqlite3.connect(cfg.site.state_dir / HISTORY_FILE)) as db:
                kinds = db.execute("SELECT DISTINCT metric, labels FROM samples").fetchall()
            past = [
                (metric, tuple(json.loads(labels).items()), now - k * STEP_SECONDS, float(k % 7))
                for metric, labels in kinds
                for k in range(1, int(seconds / STEP_SECONDS))
            ]
            for start in range(0, len(past), 50_000):
                rt.history.add(past[start : start + 50_000])
            # What a week of cycles leaves: raw samples for the last hour, each tier for as
            # long as charts read it (each write deletes a bounded batch: a few hundred
            # empty writes get there).
            rows, before = _rows(cfg.site.state_dir), -1
            while rows != before:
                rt.history.add([])
                rows, before = _rows(cfg.site.state_dir), rows
            run_cycle(rt)  # the first cycle over the full history warms what it may
            took = []
            for _ in range(cycles):
                started = time.process_time()
                run_cycle(rt)
                took.append(time.process_time() - started)
        finally:
            rt.close()
    return statistics.median(took)


def bench_history(span: str, cycles: int) -> None:
    """Compare a cycle over `span` of history with one over an hour."""
    long, hour = _history_cycles(parse_duration(span), cycles), _history_cycles(3600, cycles)
    print(f"full cycles of the embedded default, history at {STEP_SECONDS:g} s steps, "
          f"median CPU of {cycles} cycles:")  # fmt: skip
    print(f"  1h of history: {hour * 1000:7.1f} ms")
    print(f"  {span} of history: {long * 1000:7.1f} ms ({long / hour:.2f}x)")


def _no_reports(_records: object, _kept: object) -> list:
    return []


def _traces_site(traces: int, workers: int) -> Iterator[float]:
    """Yield the wall time of each cycle, the first (which renders every trace) included, of
    rendering and writing a site of `traces` traces, 10 new ones a cycle."""
    w = Workload(panels=6, points=240, traces=traces, spans_per_trace=25, log_lines=500)
    with tempfile.TemporaryDirectory() as d, RenderPool(workers) as pool:
        reuse, settle = Reuse(), Settle()
        kept: tuple[Trace, ...] = ()
        for cycle in itertools.count():
            now = 1_795_340_562.0 + 30 * cycle
            # As a trace source in a long run: only the new traces' spans are read, and
            # merged into the traces kept from the last cycle.
            gained = min(w.traces, 10) if kept else w.traces
            new = snapshot(dataclasses.replace(w, traces=gained, panels=0, log_lines=0),
                           first_trace=10 * cycle + w.traces - gained).traces  # fmt: skip
            rest = snapshot(dataclasses.replace(w, traces=0), now=now)
            started = time.perf_counter()
            spans = [s for t in new for s in t.spans]
            everything = w.traces * w.spans_per_trace  # all kept: the site is what is measured
            kept = assemble(spans, w.traces, max_spans=everything, kept=kept).traces
            snap = dataclasses.replace(rest, traces=kept)
            assets = build_assets()
            common = Common(snap.title, snap.generated_at, 30, None, assets.css_href, "",
                            "bench", "bench-host", (), ())  # fmt: skip
            render = reuse.cycle(pool.render)
            done = render_site(render, snap, common, assets.css_gzip, _no_reports, reuse.finished)
            files = {**assets.files, **done.files(), **twins(snap)}
            write_site(Path(d) / "public", files, iso(snap.generated_at))
            settle()
            yield time.perf_counter() - started


def _full_pass() -> float:
    """Return the median wall time of the collector's pass over every object of the process."""
    took = []
    for _ in range(3):
        started = time.perf_counter()
        Settle(every_cycles=1)()
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def _serve(traces: int, workers: int, conn: Connection) -> None:
    """In a process of its own: a site of `traces` traces, a cycle of it (or the collector's
    full pass) each time the parent asks, its time sent back; None ends it."""
    site = _traces_site(traces, workers)
    while (ask := conn.recv()) is not None:
        conn.send(next(site) if ask == "cycle" else _full_pass())
    site.close()


def bench_traces(traces: int, cycles: int) -> None:
    """Compare the cycle of a site of `traces` finished traces with one of 100.

    Each site lives in a process of its own, and their cycles take turns, one at a time, so
    each cycle of either follows one of the other's: a machine whose speed drifts over the
    run (other guests on the host) moves both alike, and the ratio is of cycles run side by
    side, not minutes apart.
    """
    workers = worker_count(0)
    ctx = multiprocessing.get_context("spawn")  # each site starts from a fresh process
    sites: dict[str, tuple[int, Connection, multiprocessing.process.BaseProcess]] = {}
    for role, n in (("small", 100), ("big", traces)):
        conn, theirs = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(n, workers, theirs))
        proc.start()
        theirs.close()  # the child's end: a child that dies ends this one's recv (EOFError)
        sites[role] = (n, conn, proc)
    took: dict[str, list[float]] = {role: [] for role in sites}
    full: dict[str, float] = {}
    try:
        for cycle in range(cycles + 1):  # the first renders every trace once: not counted
            for role, (_n, conn, _proc) in sites.items():
                conn.send("cycle")
                seconds = conn.recv()
                if cycle:
                    took[role].append(seconds)
        for role, (_n, conn, _proc) in sites.items():
            conn.send("full")
            full[role] = conn.recv()
    finally:
        for _n, conn, proc in sites.values():
            with contextlib.suppress(OSError):  # a child that died has closed its end
                conn.send(None)
            conn.close()
            proc.join()
    small, big = statistics.median(took["small"]), statistics.median(took["big"])
    print(f"render + write of a site, 10 new traces a cycle, median wall of {cycles} cycles "
          f"after the first, the two sites' cycles taking turns, pool of {workers}; and the "
          f"collector's pass over everything made at most every {FULL_EVERY_CYCLES} cycles, "
          f"and its share of a cycle:")  # fmt: skip
    for role, cycle in (("small", small), ("big", big)):
        print(f"  {sites[role][0]:>6} traces: {cycle * 1000:8.1f} ms"
              f"{f' ({big / small:.2f}x)' if role == 'big' else '':9} full pass "
              f"{full[role] * 1000:6.1f} ms (+{full[role] / FULL_EVERY_CYCLES * 1000:.1f} ms "
              f"a cycle)")  # fmt: skip


def main(argv: list[str]) -> None:
    """Run the scale benchmark asked for."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", metavar="DURATION", help="e.g. 7d")
    ap.add_argument("--traces", type=int, metavar="N", help="e.g. 10000")
    ap.add_argument("--cycles", type=int, default=5)
    args = ap.parse_args(argv)
    if args.history:
        bench_history(args.history, args.cycles)
    if args.traces:
        bench_traces(args.traces, args.cycles)


if __name__ == "__main__":
    main(sys.argv[1:])

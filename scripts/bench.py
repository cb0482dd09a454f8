"""Benchmark: render the reference workload N times; print median stage times and page weights.

Reference workload (sitegen.synthetic.Workload): 24 panels x 3 series x 720 points,
200 traces x 25 spans, 10,000 log lines. Sequential means every page rendered in this
process one after another; pool means the persistent process pool (created once, warm).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import psutil

from sitegen.gcpolicy import set_aside
from sitegen.render.environment import iso
from sitegen.render.pool import RenderPool, worker_count
from sitegen.render.rounds import render_site
from sitegen.render.tasks import MAIN_PAGES, PAGE_BUDGET, Common, report_tasks
from sitegen.render.twins import snapshot_json
from sitegen.site.optimize import build_assets
from sitegen.site.output import write_site
from sitegen.synthetic import Workload, snapshot

# The fixed work of the machine's own speedup: a tenth of a second or so of pure Python.
FIXED_WORK_STEPS = 1_000_000


def fixed_work(steps: int = FIXED_WORK_STEPS) -> None:
    """Do a fixed piece of pure-Python work: no I/O, no data shared or sent."""
    sum(i * i for i in range(steps))


def machine_speedup(executor: ProcessPoolExecutor, processes: int) -> float:
    """Return how much faster `processes` pieces of fixed work are done at once (one here,
    the others in `executor`'s processes, as a pooled render shares its pages) than one
    after the other here: what as many processes gain on this machine at this time, a
    yardstick for the pool's speedup, not a bound."""
    started = time.perf_counter()
    for _ in range(processes):
        fixed_work()
    alone = time.perf_counter() - started
    started = time.perf_counter()
    others = [executor.submit(fixed_work) for _ in range(processes - 1)]
    fixed_work()
    for other in others:
        other.result()
    return alone / (time.perf_counter() - started)


def timed(fn, *args):
    """Run fn(*args); return (seconds, result)."""
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def bench_prometheus(runs: int) -> None:
    """Full cycles with 24 panels against a real local Prometheus (tests/promserver.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sitegen.config import parse
    from sitegen.cycle import Runtime, run_cycle
    from tests.promserver import PromServer

    panels = "".join(
        f'[[panels]]\ntitle = "p{i}"\nunit = "req/s"\n'
        f"query = 'sum by (service) (rate(http_requests_total[{i + 1}m]))'\n"
        if i % 4
        else f'[[panels]]\ntitle = "p{i}"\nhistogram = "http_request_duration_seconds"\n'
        for i in range(24)
    )
    with tempfile.TemporaryDirectory() as d:
        server = PromServer(Path(d))
        server.start()
        try:
            cfg = parse(f'[prometheus]\nurl = "{server.url}"\n{panels}', env={}, base_dir=Path(d))
            rt = Runtime.start(cfg)
            cycles, waits = [], []
            try:
                for _ in range(runs):
                    result = run_cycle(rt)
                    cycles.append(sum(s.seconds for s in result.stages))
                    prom = next(s for s in result.snapshot.sources if s.name == "prometheus")
                    waits.append(prom.duration_s)
            finally:
                rt.close()
        finally:
            server.stop()
    cycle, wait = statistics.median(cycles), statistics.median(waits)
    print(
        f"24 panels (18 queries + 6 histograms x 3 percentiles = 36 range + 36 instant queries) "
        f"against a local Prometheus, {runs} cycles:"
    )
    print(
        f"  cycle median {cycle * 1000:.1f} ms; Prometheus source median {wait * 1000:.1f} ms "
        f"= {100 * wait / cycle:.0f}% of the cycle (it runs in parallel with the host "
        f"source's 250 ms sample)"
    )


def bench_cycles(cycles: int) -> None:
    """Run full cycles of the embedded default back to back: memory, CPU and latency."""
    from sitegen.config import parse
    from sitegen.cycle import Runtime, run_cycle

    me = psutil.Process()
    with tempfile.TemporaryDirectory() as d:
        cfg = parse("[site]\nworkers = 2\n", env={}, base_dir=Path(d))
        rt = Runtime.start(cfg)
        latencies, rss = [], {}
        cpu0 = _cpu(me)
        try:
            for i in range(1, cycles + 1):
                started = time.perf_counter()
                run_cycle(rt)
                latencies.append(time.perf_counter() - started)
                if i in (10, cycles):
                    rss[i] = me.memory_info().rss
            cpu = _cpu(me) - cpu0  # before close(): the workers are still there to ask
        finally:
            rt.close()
    q = statistics.quantiles(latencies, n=100)
    print(f"{cycles} cycles of the embedded default, back to back, pool of 2:")
    print(
        f"  RSS after 10 cycles {rss[10] / 2**20:.1f} MiB, after {cycles}: "
        f"{rss[cycles] / 2**20:.1f} MiB"
    )
    print(f"  CPU per cycle (main process and workers): {cpu / cycles * 1000:.0f} ms")
    print(
        f"  cycle latency p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, "
        f"p99 {q[98] * 1000:.0f} ms (the host source sleeps 250 ms of it on purpose)"
    )


def _cpu(me) -> float:
    own = me.cpu_times()
    kids = sum(c.cpu_times().user + c.cpu_times().system for c in me.children(recursive=True))
    return own.user + own.system + kids


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="render processes, this one included (0: a CPU each); always one worker at least",
    )
    ap.add_argument("--small", action="store_true", help="a tenth of the workload (quick check)")
    ap.add_argument(
        "--prometheus",
        action="store_true",
        help="instead: full cycles with 24 panels against a local Prometheus",
    )
    ap.add_argument(
        "--publish",
        type=int,
        metavar="CYCLES",
        default=0,
        help="instead: publish a changing site CYCLES times: sitegen, rclone, aws s3 sync",
    )
    ap.add_argument(
        "--cycles",
        type=int,
        default=0,
        help="instead: run this many full cycles back to back (memory, CPU, latency)",
    )
    ap.add_argument(
        "--charts",
        action="store_true",
        help="instead: render time and bytes per chart kind, bytes per point",
    )
    ap.add_argument(
        "--ingest",
        action="store_true",
        help="instead: spans/s and log lines/s parsed, and a cycle's memory over a 1 GB log",
    )
    ap.add_argument(
        "--soak",
        type=float,
        metavar="MINUTES",
        default=0,
        help="instead: sitegen run at a 1 s interval for MINUTES (10 in the targets); "
        "CPU per cycle and RSS of the first and last minute",
    )
    ap.add_argument(
        "--history",
        metavar="DURATION",
        help="instead: a full cycle over DURATION (e.g. 7d) of history against one hour",
    )
    ap.add_argument(
        "--traces",
        type=int,
        metavar="N",
        default=0,
        help="instead: a cycle of a site of N finished traces, 10 new a cycle, against 100",
    )
    args = ap.parse_args()
    if args.soak:
        import bench_soak

        bench_soak.main(["--minutes", str(args.soak)])
        return
    if args.history or args.traces:
        import bench_scale

        scale = ["--history", args.history] if args.history else []
        bench_scale.main([*scale, *(["--traces", str(args.traces)] if args.traces else [])])
        return
    if args.ingest:
        import bench_logs
        import bench_traces

        bench_traces.main([])
        bench_logs.main([])
        return
    if args.charts:
        import bench_charts

        bench_charts.main([])
        return
    if args.cycles:
        bench_cycles(args.cycles)
        return
    if args.prometheus:
        bench_prometheus(args.runs)
        return
    if args.publish:
        import bench_publish

        bench_publish.main([str(args.publish)])
        return
    w = Workload(traces=20, log_lines=1000, panels=6) if args.small else Workload()
    workers = max(1, worker_count(args.workers))  # a pool to measure, even on one CPU
    times: dict[str, list[float]] = {}
    pooled = 0  # runs whose pages went (in part) to the workers, not all rendered here
    short: list[float] = []  # of those, the share of the render with a CPU short of a task
    machine: list[float] = []  # the machine's own speedup, measured beside each pair
    busy: list[float] = []  # CPUs this process and the workers kept busy in a pooled render
    me = psutil.Process()
    cpus = os.cpu_count() or 1
    with (
        RenderPool(workers) as pool,
        RenderPool(0) as inline,
        ProcessPoolExecutor(workers, get_context("spawn")) as others,  # not a fork of threads
        tempfile.TemporaryDirectory() as d,
    ):
        pool.warm_up()  # start the workers before timing
        list(others.map(fixed_work, [0] * workers))  # and the fixed work's
        for run in range(args.runs):
            # Each render of its own snapshot, as a first render: a process keeps what it made
            # of the objects it saw (a log line's markup, a point's JSON) while they are shown,
            # and of traces by their state (ids, spans), so each gets traces no render had.
            seq_snap, snap = (snapshot(w, first_trace=(2 * run + k) * w.traces) for k in (0, 1))
            gc.collect()  # the last run's snapshots, gone: not a collection inside a render
            set_aside()  # as a cycle sets its snapshot aside once collected
            t_opt, assets = timed(build_assets)
            common = _common(snap, assets.css_href)
            css_gz = assets.css_gzip
            t_seq, _ = timed(render_site, inline.render, seq_snap, common, css_gz, _no_reports)
            started, cpu_before = time.time_ns(), _cpu(me)  # time_ns: the task records' clock
            t_pool, done = timed(render_site, pool.render, snap, common, css_gz, _no_reports)
            busy.append((_cpu(me) - cpu_before) / t_pool)
            if any(r.pid != os.getpid() for r in done.records):
                pooled += 1
                short.append(short_share(done.records, started, time.time_ns(), cpus))
            # A shared VM's CPUs change speed from second to second, alone and at once:
            # measured in turns with the renders, a yardstick for the pool's at the time.
            machine.append(machine_speedup(others, workers + 1))
            reports = pool.render(
                report_tasks(snap, common, done.records, (), workers, "bench", assets.files)
            )
            files = {**assets.files, **{p.path: p.body for p in (*done.pages, *reports)}}
            t_json, files["data/snapshot.json"] = timed(snapshot_json, snap)
            t_write, _ = timed(write_site, Path(d) / "public", files, iso(snap.generated_at))
            for k, v in (
                ("optimize (css)", t_opt),
                ("render sequential", t_seq),
                ("render pool", t_pool),
                ("snapshot.json", t_json),
                ("write", t_write),
            ):
                times.setdefault(k, []).append(v)
    css = next(v for k, v in files.items() if k.endswith(".css"))
    html = {k: v for k, v in files.items() if k.endswith(".html")}
    # At level 6, as the site measures its pages against the budget (level 9 made an over-budget
    # concurrency page look 800 bytes lighter).
    gz = {k: len(gzip.compress(v, 6)) for k, v in html.items()}
    largest = max(gz, key=gz.get)
    print(
        f"workload: {w.panels} panels x {w.series_per_panel} series x {w.points} points, "
        f"{w.traces} traces x {w.spans_per_trace} spans, {w.log_lines} log lines; "
        f"{len(html)} pages; {args.runs} runs; pool of {workers} workers and this process"
    )
    for k, v in times.items():
        print(
            f"  {k:<18} median {statistics.median(v) * 1000:8.1f} ms  "
            f"(min {min(v) * 1000:.1f}, max {max(v) * 1000:.1f})"
        )
    seq, par = (
        statistics.median(times["render sequential"]),
        statistics.median(times["render pool"]),
    )
    print(f"  pool speedup over sequential: {seq / par:.2f}x")
    print(
        f"  the machine's own speedup, a fixed piece of work in this process and {workers} "
        f"more at once (nothing sent): median {statistics.median(machine):.2f}x "
        f"(min {min(machine):.2f}, max {max(machine):.2f}); the pool's speedup is "
        f"{seq / par / statistics.median(machine):.0%} of it"
    )
    print(
        f"  the pool sent work to its workers in {pooled} of {args.runs} runs (else it rendered "
        f"here); its last measured speedup over this process: {pool.speedup():.2f}x"
    )
    if short:
        print(
            f"  share of a pooled render with fewer than {cpus} tasks running (from the "
            f"task records; this process makes tasks between its own): median "
            f"{100 * statistics.median(short):.1f}%"
        )
    print(
        f"  CPUs busy during a pooled render (this process and its children, from the "
        f"system's counters): median {statistics.median(busy):.2f} of {cpus}"
    )
    css_gz = len(gzip.compress(css, 6))
    print(
        f"  largest page gzipped: {largest} {gz[largest]} B (+ CSS {css_gz} B = "
        f"{gz[largest] + css_gz} B; budget {PAGE_BUDGET} B)"
    )
    print(f"  page weights (+ CSS: what one page costs a reader; budget {PAGE_BUDGET} B):")
    shown = [*MAIN_PAGES, *sorted(k for k in html if k.startswith("metrics/page-"))]
    shown.append(next(k for k in sorted(html) if k.startswith("traces/") and "index" not in k))
    for name in shown:
        mark = "  over" if gz[name] + css_gz > PAGE_BUDGET else ""
        print(
            f"    {name:<28} {len(html[name]):>8} B raw {gz[name]:>7} B gzipped "
            f"{gz[name] + css_gz:>7} B with CSS{mark}"
        )
    older = [k for k in html if k.startswith("logs/before-")]
    if older:
        top = max(older, key=gz.get)
        print(
            f"    logs/before-*.html: {len(older)} pages of older lines, the "
            f"heaviest {gz[top]} B gzipped, {gz[top] + css_gz} B with CSS"
        )


def short_share(records, start_ns: int, end_ns: int, cpus: int) -> float:
    """Return the share of [start_ns, end_ns] during which fewer than `cpus` of the records'
    tasks were running: the time the render left a CPU idle, whatever else ran on it."""
    events = sorted([(r.start_ns, 1) for r in records] + [(r.end_ns, -1) for r in records])
    short, running, last = 0, 0, start_ns
    for at, step in events:
        if running < cpus:
            short += max(0, min(at, end_ns) - last)
        running, last = running + step, max(last, at)
    if running < cpus:
        short += max(0, end_ns - last)
    return short / max(1, end_ns - start_ns)


def _no_reports(_records, _kept) -> list:
    return []


def _common(snap, css_href: str) -> Common:
    return Common(
        snap.title, snap.generated_at, 30, None, css_href, "", "bench", "bench-host", (), ()
    )


if __name__ == "__main__":
    main()

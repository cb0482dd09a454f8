"""Benchmark: render the reference workload N times; print median stage times and page weights.

Reference workload (sitegen.synthetic.Workload): 24 panels x 3 series x 720 points,
200 traces x 25 spans, 10,000 log lines. Sequential means every page rendered in this
process one after another; pool means the persistent process pool (created once, warm).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sitegen.cycle import snapshot_json
from sitegen.optimize import build_assets
from sitegen.output import write_site
from sitegen.pool import RenderPool, worker_count
from sitegen.render import MAIN_PAGES, Common, iso, page_tasks, report_tasks
from sitegen.synthetic import Workload, snapshot


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


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=0, help="pool size (0 = one per CPU)")
    ap.add_argument("--small", action="store_true", help="a tenth of the workload (quick check)")
    ap.add_argument(
        "--prometheus",
        action="store_true",
        help="instead: full cycles with 24 panels against a local Prometheus",
    )
    args = ap.parse_args()
    if args.prometheus:
        bench_prometheus(args.runs)
        return
    w = Workload(traces=20, log_lines=1000, panels=6) if args.small else Workload()
    workers = max(2, worker_count(args.workers))
    snap = snapshot(w)
    times: dict[str, list[float]] = {}
    with RenderPool(workers) as pool, RenderPool(1) as inline, tempfile.TemporaryDirectory() as d:
        pool.render(page_tasks(snap, _common(snap, "x.css"))[:workers])  # start the workers
        for _ in range(args.runs):
            t_opt, assets = timed(build_assets)
            common = _common(snap, assets.css_href)
            tasks = page_tasks(snap, common)
            t_seq, _ = timed(inline.render, tasks)
            t_pool, pages = timed(pool.render, tasks)
            records = tuple(p.record for p in pages)
            reports = pool.render(
                report_tasks(snap, common, records, (), workers, "bench", assets.files)
            )
            files = {**assets.files, **{p.path: p.body for p in (*pages, *reports)}}
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
    gz = {k: len(gzip.compress(v, 9)) for k, v in html.items()}
    largest = max(gz, key=gz.get)
    print(
        f"workload: {w.panels} panels x {w.series_per_panel} series x {w.points} points, "
        f"{w.traces} traces x {w.spans_per_trace} spans, {w.log_lines} log lines; "
        f"{len(html)} pages; {args.runs} runs; pool of {workers} workers"
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
    css_gz = len(gzip.compress(css, 9))
    print(
        f"  largest page gzipped: {largest} {gz[largest]} B (+ CSS {css_gz} B = "
        f"{gz[largest] + css_gz} B; budget 14000 B)"
    )
    for name in MAIN_PAGES:
        print(f"    {name:<24} {len(html[name]):>8} B raw {gz[name]:>7} B gzipped")


def _common(snap, css_href: str) -> Common:
    return Common(snap.title, snap.generated_at, 30, css_href, "", "bench", "bench-host", (), ())


if __name__ == "__main__":
    main()

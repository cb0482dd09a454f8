#!/usr/bin/env python3
"""Benchmark the logs source: lines parsed per second per format, and the time and peak
memory of a cycle over a 1 GB log file. Every figure is the median of --runs runs.

    scripts/bench_logs.py [--runs N] [--lines N] [--size-gb G] [--no-big]

Besides the four synthetic formats, every real format of tests/fixtures/logs (its few lines
repeated to --lines) is parsed as `auto`, as a site with such files would read it.
"parse" is the first stage, run on every new line (its level is counted); "record" is the
second, run only on the lines shown (redaction, cuts). The 1 GB file is real data (a
repeating block, written once, deleted after); each run collects it in a fresh process
with a fresh state_dir, so the cycle meets the whole file as a backlog.

    scripts/bench_logs.py --collect FILE STATE_DIR

runs one logs collect over FILE in this process and prints its peak RSS, time and detail
as JSON (the tests use it too).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sitegen.logs.parse import FileParser, FileState, to_record  # noqa: E402

NOW = 1_795_600_800.0
FIXTURES = ROOT / "tests" / "fixtures" / "logs"
FORMATS = ("json", "logfmt", "plain", "auto")
_LEVELS = ("info", "info", "info", "warn", "error", "debug")


def _json(i: int) -> str:
    return json.dumps(
        {
            "ts": f"2026-11-25T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
            "level": _LEVELS[i % 6],
            "msg": f"GET /api/items/{i} done",
            "trace_id": f"{i:032x}",
            "duration_ms": i % 500,
            "user": f"user{i % 97}",
            "http": {"status": 200 + i % 5, "method": "GET"},
        }
    )


def _logfmt(i: int) -> str:
    return (
        f"ts=2026-11-25T10:{i // 60 % 60:02d}:{i % 60:02d}Z level={_LEVELS[i % 6]} "
        f'msg="GET /api/items/{i} done" duration={i % 500}ms user=user{i % 97} status=200'
    )


def _plain(i: int) -> str:
    shapes = (
        f"2026-11-25 10:00:{i % 60:02d},123 - api - {_LEVELS[i % 6].upper()} - item {i} done",
        f"Nov 25 10:00:{i % 60:02d} web1 nginx[42]: item {i} served in 12ms",
        f'10.0.0.{i % 250} - - [25/Nov/2026:10:00:{i % 60:02d} +0000] "GET /i/{i} HTTP/1.1" '
        f"{200 + (i % 7) * 50} 512",
        f"I1125 10:00:{i % 60:02d}.123456   4242 server.go:88] handled item {i}",
        f"2026/11/25 10:00:{i % 60:02d} [{_LEVELS[i % 6]}] worker {i} finished",
    )
    return shapes[i % len(shapes)]


def _mixed(i: int) -> str:
    return (_json, _logfmt, _plain)[i % 3](i)


LINES: dict[str, Callable[[int], str]] = {
    "json": _json,
    "logfmt": _logfmt,
    "plain": _plain,
    "auto": _mixed,
}


def sample(fmt: str, count: int) -> list[bytes]:
    """Return `count` lines in one format (auto: json, logfmt and plain lines interleaved)."""
    return [LINES[fmt](i).encode() for i in range(count)]


def rates(fmt: str, lines: list[bytes], runs: int) -> tuple[float, float]:
    """Return the median lines/s of parsing every line and of making records of them."""
    parse_times, record_times = [], []
    for _ in range(runs):
        start = time.perf_counter()
        parsed = list(FileParser(fmt, FileState()).parse(lines, NOW))
        parse_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        for line in parsed:
            to_record(line, "bench.log", NOW)
        record_times.append(time.perf_counter() - start)
    return len(lines) / statistics.median(parse_times), len(lines) / statistics.median(record_times)


def corpus_rates(count: int, runs: int) -> list[tuple[str, float]]:
    """Return the median lines/s of parsing each real format's fixture (repeated to `count`
    lines) as `auto`."""
    out = []
    for path in sorted(FIXTURES.glob("*.log")):
        block = path.read_bytes().splitlines()
        lines = (block * (count // len(block) + 1))[:count]
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            for _ in FileParser("auto", FileState()).parse(lines, NOW):
                pass
            times.append(time.perf_counter() - start)
        out.append((path.stem, count / statistics.median(times)))
    return out


def _peak_rss() -> int:
    """Return this process's peak resident set size in bytes (VmHWM where /proc has it)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def collect_once(path: Path, state: Path) -> dict:
    """Run one logs collect over `path` in this process; return its cost and what it said."""
    from sitegen.config import parse
    from sitegen.history import History
    from sitegen.sources import logs
    from sitegen.sources.base import SourceContext

    cfg = parse(f'[site]\nstate_dir = "{state}"\n[logs]\npaths = ["{path}"]\n', env={})
    ctx = SourceContext(cfg, History(state, 86400), state, time.time(), time.monotonic() + 15)
    before = _peak_rss()
    start = time.perf_counter()
    part = logs.collect(ctx)
    seconds = time.perf_counter() - start
    return {"before": before, "peak": _peak_rss(), "seconds": seconds,
            "shown": len(part.logs), "detail": part.detail}  # fmt: skip


def measure(path: Path, state: Path) -> dict:
    """Run collect_once in a fresh process (its own peak RSS); return what it printed."""
    out = subprocess.run(
        [sys.executable, __file__, "--collect", str(path), str(state)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout)


def write_big(path: Path, size: int) -> float:
    """Write a log file of about `size` bytes of real lines; return the seconds it took."""
    block = b"".join(line + b"\n" for line in sample("json", 8000))
    start = time.perf_counter()
    with path.open("wb") as f:
        written = 0
        while written + len(block) <= size:
            f.write(block)
            written += len(block)
        f.write(block[: block.rfind(b"\n", 0, size - written) + 1])  # whole lines only
    return time.perf_counter() - start


def bench_big(size: int, runs: int) -> None:
    """Print the median time and peak RSS of a cycle over a `size`-byte file, vs 1 MiB."""
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        big, small = Path(tmp) / "big.log", Path(tmp) / "small.log"
        seconds = write_big(big, size)
        write_big(small, 1 << 20)
        print(f"\n{big.stat().st_size / 1e9:.2f} GB file written in {seconds:.1f} s")
        for name, path in (("1 MiB file", small), (f"{size / 1e9:g} GB file", big)):
            got = [measure(path, Path(tmp) / f"state-{name}-{i}") for i in range(runs)]
            peak = statistics.median(g["peak"] for g in got) / 2**20
            growth = statistics.median(g["peak"] - g["before"] for g in got) / 2**20
            took = statistics.median(g["seconds"] for g in got)
            print(f"{name:>12}: cycle {took * 1000:7.1f} ms, peak RSS {peak:6.1f} MiB "
                  f"(+{growth:.1f} MiB during collect); {got[-1]['detail']}")  # fmt: skip
        big.unlink()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or one --collect) and print the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lines", type=int, default=50_000, help="lines per format")
    ap.add_argument("--size-gb", type=float, default=1.0, help="size of the big file")
    ap.add_argument("--no-big", action="store_true", help="skip the big-file measurement")
    ap.add_argument("--collect", nargs=2, metavar=("FILE", "STATE_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.collect:
        print(json.dumps(collect_once(Path(args.collect[0]), Path(args.collect[1]))))
        return 0
    print(f"{args.lines:,} lines per format, median of {args.runs} runs")
    print(f"{'format':>8} {'parse lines/s':>14} {'record lines/s':>15}")
    for fmt in FORMATS:
        parse_rate, record_rate = rates(fmt, sample(fmt, args.lines), args.runs)
        print(f"{fmt:>8} {parse_rate:>14,.0f} {record_rate:>15,.0f}")
    print(f"\nreal formats, parsed as auto: {args.lines // 10:,} lines each")
    for name, rate in corpus_rates(args.lines // 10, args.runs):
        print(f"{name:>22} {rate:>10,.0f} lines/s")
    if not args.no_big:
        bench_big(int(args.size_gb * 1e9), args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

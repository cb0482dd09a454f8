"""Soak: `sitegen run` of the embedded default at a 1 s interval; CPU per cycle and RSS over time.

Samples, every few seconds, the CPU time of the process and its workers, the main process's
RSS, and the cycles finished (counted from sitegen's own log); prints every minute from the
first finished cycle on, the trend of the second half (whether the cost still grows once
the site is full), then the first and the last side by side. Uses only the command line
and psutil, so it measures any checkout.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

SAMPLE_SECONDS = 5.0


def _free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cycles(state: Path) -> int:
    """Count the cycles finished so far in sitegen's log (its rotated files too)."""
    return sum(
        path.read_bytes().count(b'"cycle finished"') for path in state.glob("logs/sitegen.jsonl*")
    )


def _cpu(proc: psutil.Process) -> tuple[float, float]:
    """CPU seconds of the process itself, and of it with its live children (workers)."""
    main = total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker that just ended
            total += sum(child.cpu_times()[:2])
    return main, total


Sample = tuple[float, float, int, int, float]  # seconds, cpu, cycles, main rss, main cpu


def soak(minutes: float, interval: int, state: Path | None = None) -> list[Sample]:
    """Run `sitegen run` for `minutes`; return its samples, every SAMPLE_SECONDS. In `state`
    (a directory kept, its site and state as a soak before left them), else in a new one."""
    samples = []
    with contextlib.ExitStack() as stack:
        d = state or stack.enter_context(tempfile.TemporaryDirectory())
        Path(d).mkdir(parents=True, exist_ok=True)
        cfg = Path(d) / "sitegen.toml"
        site = f'interval_seconds = {interval}\nout_dir = "{d}/public"\nstate_dir = "{d}/state"'
        # The metrics endpoint stays on, as by default, on a free port: another soak (or a
        # sitegen run) on this machine holds the default one.
        site += f'\nmetrics_listen = "127.0.0.1:{_free_port()}"'
        cfg.write_text(f"[site]\n{site}\n")
        errors = Path(d) / "stderr"
        with errors.open("wb") as stderr:
            child = subprocess.Popen(
                [sys.executable, "-m", "sitegen", "run", "--quiet", "--config", str(cfg)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        proc, start = psutil.Process(child.pid), time.monotonic()
        try:
            while (now := time.monotonic() - start) < minutes * 60:
                if child.poll() is not None:  # e.g. the metrics port taken by another run
                    sys.exit(f"sitegen run exited with {child.returncode}: "
                             f"{errors.read_text(errors='replace')[-2000:]}")  # fmt: skip
                main, total = _cpu(proc)
                cycles = _cycles(Path(d) / "state")
                samples.append((now, total, cycles, proc.memory_info().rss, main))
                time.sleep(SAMPLE_SECONDS)
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)
    return samples


def _window(samples: list[Sample], first: float, last: float) -> tuple[float, int, int, float]:
    """Return (CPU per cycle, cycles, RSS at the end, the main process's share of the CPU)
    between two times of the soak."""
    a = min(samples, key=lambda s: abs(s[0] - first))
    b = min(samples, key=lambda s: abs(s[0] - last))
    cycles, cpu = b[2] - a[2], b[1] - a[1]
    per_cycle = cpu / cycles if cycles else float("nan")
    return per_cycle, cycles, b[3], ((b[4] - a[4]) / cpu if cpu else float("nan"))


def main(argv: list[str]) -> None:
    """Run the soak and print CPU per cycle and RSS of its first and last minute."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--interval", type=int, default=1, help="site.interval_seconds")
    ap.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="run in DIR and keep it (site and state): a second soak in it starts from a full "
        "site, as `sitegen run` restarted on a machine does",
    )
    args = ap.parse_args(argv)
    samples = soak(args.minutes, args.interval, args.state)
    end = samples[-1][0]
    # Minutes count from the first finished cycle: before it the process was starting
    # (imports, the history check), CPU that is no cycle's and would flatter the first minute.
    # The log of a kept state holds the cycles of the soaks before this one.
    begin = next((s[0] for s in samples if s[2] > samples[0][2]), 0.0)
    first = _window(samples, begin, begin + 60.0)
    last = _window(samples, end - 60.0, end)
    print(f"sitegen run, embedded default, interval {args.interval}s, {end / 60:.1f} min:")
    # Every minute, so a cost that grows (or a step in memory) shows when it happened.
    for minute in range(math.ceil((end - begin) / 60)):
        start = begin + minute * 60.0
        cpu, cycles, rss, main = _window(samples, start, min(end, start + 60.0))
        print(
            f"  minute {minute + 1:3d}: {cycles:4d} cycles, CPU {cpu * 1000:6.0f} ms/cycle "
            f"({main:4.0%} in the main process), main RSS {rss / 2**20:6.1f} MiB"
        )
    # Whether the cost still grows once the site is full (the charts hold their points and
    # the logs tail its lines by minute 4 of a fresh state): the trend of the second half.
    minutes = range(math.ceil((end - begin) / 120), math.floor((end - begin) / 60))
    if len(minutes) >= 2:
        ends = [_window(samples, begin + m * 60.0, begin + m * 60.0 + 60.0) for m in minutes]
        cpu = statistics.linear_regression(list(minutes), [e[0] for e in ends]).slope
        rss = statistics.linear_regression(list(minutes), [e[2] for e in ends]).slope
        print(f"  trend over minutes {minutes[0] + 1}-{minutes[-1] + 1}: CPU {cpu * 1000:+.2f} "
              f"ms/cycle a minute, main RSS {rss / 2**20:+.2f} MiB a minute")  # fmt: skip
    for name, (cpu, cycles, rss, _main) in (("first minute", first), ("last minute ", last)):
        print(
            f"  {name}: {cycles:4d} cycles, CPU {cpu * 1000:6.0f} ms/cycle, "
            f"main RSS {rss / 2**20:6.1f} MiB"
        )
    print(
        f"  CPU per cycle last/first: {last[0] / first[0]:.2f}x; "
        f"RSS growth after the first minute: {(last[2] - first[2]) / 2**20:+.1f} MiB"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

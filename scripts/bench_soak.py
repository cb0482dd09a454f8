"""Soak: `sitegen run` of the embedded default at a 1 s interval; CPU per cycle and RSS over time.

Samples, every few seconds, the CPU time of the process and its workers, the main process's
RSS, and the cycles finished (counted from sitegen's own log); prints the first and the last
minute side by side. Uses only the command line and psutil, so it measures any checkout.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

SAMPLE_SECONDS = 5.0


def _cycles(state: Path) -> int:
    """Count the cycles finished so far in sitegen's log (its rotated files too)."""
    return sum(
        path.read_bytes().count(b'"cycle finished"') for path in state.glob("logs/sitegen.jsonl*")
    )


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds of the process and its live children (workers, forkserver)."""
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker that just ended
            total += sum(child.cpu_times()[:2])
    return total


def soak(minutes: float, interval: int) -> list[tuple[float, float, int, int]]:
    """Run `sitegen run` for `minutes`; return samples (seconds, cpu, cycles, main rss)."""
    samples = []
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "sitegen.toml"
        site = f'interval_seconds = {interval}\nout_dir = "{d}/public"\nstate_dir = "{d}/state"'
        cfg.write_text(f"[site]\n{site}\n")
        child = subprocess.Popen(
            [sys.executable, "-m", "sitegen", "run", "--quiet", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc, start = psutil.Process(child.pid), time.monotonic()
        try:
            while (now := time.monotonic() - start) < minutes * 60:
                samples.append(
                    (now, _cpu(proc), _cycles(Path(d) / "state"), proc.memory_info().rss)
                )
                time.sleep(SAMPLE_SECONDS)
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)
    return samples


def _window(samples, first: float, last: float) -> tuple[float, int, int]:
    """Return (CPU per cycle, cycles, RSS at the end) between two times of the soak."""
    a = min(samples, key=lambda s: abs(s[0] - first))
    b = min(samples, key=lambda s: abs(s[0] - last))
    cycles = b[2] - a[2]
    return ((b[1] - a[1]) / cycles if cycles else float("nan")), cycles, b[3]


def main(argv: list[str]) -> None:
    """Run the soak and print CPU per cycle and RSS of its first and last minute."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--interval", type=int, default=1, help="site.interval_seconds")
    args = ap.parse_args(argv)
    samples = soak(args.minutes, args.interval)
    end = samples[-1][0]
    first = _window(samples, 0.0, 60.0)
    last = _window(samples, end - 60.0, end)
    print(f"sitegen run, embedded default, interval {args.interval}s, {end / 60:.1f} min:")
    for name, (cpu, cycles, rss) in (("first minute", first), ("last minute ", last)):
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

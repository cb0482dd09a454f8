"""A real Prometheus server on loopback, over a data dir backfilled with known series.

The data is written as OpenMetrics and turned into TSDB blocks by `promtool tsdb
create-blocks-from openmetrics`; it runs from three hours ago to an hour ahead, so every
rate() window at "now" is fully covered and the expected numbers are exact.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

STEP = 15
# Per step: counters grow by these amounts, so rate() is exactly amount / STEP.
REQUESTS = {"checkout": 1.5, "cart": 3.0}  # 0.1/s and 0.2/s
# Cumulative histogram bucket growth per step (le -> count): 1 obs/s at <=0.1, 2 obs/s total.
BUCKETS = {"0.05": 0, "0.1": 15, "0.25": 15, "0.5": 30, "+Inf": 30}
EXPECTED_QUANTILES = {"0.5": 0.1, "0.95": 0.475, "0.99": 0.495}


def openmetrics(now: int) -> str:
    """Return the known series as OpenMetrics text."""
    stamps = list(enumerate(range(now - 3 * 3600, now + 3600, STEP)))
    lines = ["# TYPE http_requests counter"]
    for service, amount in REQUESTS.items():
        lines += [f'http_requests_total{{service="{service}"}} {i * amount} {t}' for i, t in stamps]
    lines.append("# TYPE http_request_duration_seconds histogram")
    for le, count in BUCKETS.items():
        lines += [
            f'http_request_duration_seconds_bucket{{service="checkout",le="{le}"}} {i * count} {t}'
            for i, t in stamps
        ]
    lines += [
        f'http_request_duration_seconds_count{{service="checkout"}} {i * 30} {t}' for i, t in stamps
    ]
    lines += [
        f'http_request_duration_seconds_sum{{service="checkout"}} {i * 6} {t}' for i, t in stamps
    ]
    lines.append("# TYPE odd_value gauge")
    lines += [f'odd_value{{kind="nan"}} NaN {t}' for _, t in stamps]
    lines += [f'odd_value{{kind="inf"}} +Inf {t}' for _, t in stamps]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PromServer:
    """Start and stop a real `prometheus` process over a backfilled data dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        source = workdir / "data.om"
        source.write_text(openmetrics(int(time.time())))
        subprocess.run(
            [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source),
             str(self.data)],
            check=True, capture_output=True,
        )  # fmt: skip
        (workdir / "prometheus.yml").write_text("global: {}\n")

    def start(self) -> None:
        """Start the server and wait until it answers /-/ready."""
        self.proc = subprocess.Popen(
            [binary("prometheus"), f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.data}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time=30d", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=(self.workdir / "prometheus.log").open("ab"),
        )  # fmt: skip
        wait_ready(self.url, self.proc, self.workdir / "prometheus.log", "prometheus")

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def query(self, promql: str, at: float) -> list[dict]:
        """Ask the server directly (not through sitegen) for an instant vector."""
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql, "time": at}, timeout=10)
        r.raise_for_status()
        return r.json()["data"]["result"]


def wait_ready(url: str, proc: subprocess.Popen, log: Path, what: str) -> None:
    """Wait (30 s at most) until a server answers GET /-/ready; raise with its log if not."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start: {log.read_text()}")


def binary(name: str) -> str:
    """Return the path of a Prometheus tool; CI must have it (scripts/test installs it)."""
    path = shutil.which(name)
    if path:
        return path
    from tests.conftest import unavailable  # pytest only here: scripts/bench uses this module

    unavailable(
        f"{name} is not installed: scripts/test installs the Debian prometheus package",
        f"{name} is not installed (apt-get install prometheus)",
    )

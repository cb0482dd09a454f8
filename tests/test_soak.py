"""Soak: `sitegen run` at a 1 s interval for about a minute, with real faults injected.

Faults: Prometheus stopped and started again; Prometheus frozen (SIGSTOP: it accepts
connections and never answers, so the source hangs past the cycle's deadline); a render
worker killed; file writes failing (the running process's RLIMIT_FSIZE lowered).
Cycles must keep completing and never overlap, memory must stay flat, and a reader polling
the output directory must never see a broken or partial site.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from sitegen import telemetry
from sitegen.charts.spark import sparkline
from sitegen.config import Config
from sitegen.history import History
from sitegen.model import CycleRecord, StageTiming
from sitegen.sources import selfmetrics, traces
from sitegen.sources.base import SourceContext
from sitegen.telemetry import Telemetry
from tests.promserver import PromServer

DURATION = 62.0


class Reader(threading.Thread):
    """Polls the site like a web server would; records anything broken or partial."""

    def __init__(self, site: Path) -> None:
        super().__init__(daemon=True)
        self.site, self.stop, self.reads, self.errors = site, threading.Event(), 0, []

    def run(self) -> None:
        while not self.stop.is_set():
            if (self.site / "manifest.json").exists():
                try:
                    # One build per pass, as a reader following one page's links would see
                    # it; the symlink may move on to the next build in the meantime.
                    build = self.site.resolve()
                    manifest = json.loads((build / "manifest.json").read_text())
                    for name, entry in manifest["files"].items():
                        if (build / name).stat().st_size != entry["size"]:
                            self.errors.append(f"{name}: size differs from the manifest")
                    if not (build / "index.html").read_text().rstrip().endswith("</html>"):
                        self.errors.append("index.html is cut short")
                    self.reads += 1
                except FileNotFoundError:
                    # The previous build was pruned while being read: only the build older
                    # than the one before can go, so this means a very slow reader; retry.
                    continue
                except (ValueError, OSError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)


def at(start: float, second: float) -> None:
    time.sleep(max(0.0, start + second - time.monotonic()))


@pytest.mark.skipif(sys.platform != "linux", reason="injects faults with Linux rlimits")
def test_a_minute_of_cycles_with_faults(tmp_path: Path) -> None:
    (tmp_path / "prom").mkdir()
    prom = PromServer(tmp_path / "prom")
    prom.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text('{"level": "info", "msg": "hello"}\n')
    config = tmp_path / "sitegen.toml"
    config.write_text(
        f'[site]\ninterval_seconds = 1\nworkers = 3\nmetrics_listen = ""\n'
        f'[prometheus]\nurl = "{prom.url}"\ntimeout_seconds = 30\n'
        f'[[panels]]\ntitle = "r"\nquery = "sum(rate(http_requests_total[5m]))"\n'
        f'[logs]\npaths = ["{logs}/*.log"]\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitegen", "run", "--config", str(config), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    reader = Reader(tmp_path / "public")
    reader.start()
    me = psutil.Process(proc.pid)
    start = time.monotonic()
    try:
        at(start, 10)
        rss_early = me.memory_info().rss
        prom.stop()  # Prometheus down for 8 s
        at(start, 18)
        prom.start()
        at(start, 24)
        prom.proc.send_signal(signal.SIGSTOP)  # frozen: queries hang, past the deadline
        at(start, 30)
        prom.proc.send_signal(signal.SIGCONT)
        at(start, 34)
        # Render workers are the forkserver's children, the grandchildren of sitegen.
        workers = [c for c in me.children(recursive=True) if c.ppid() != me.pid]
        assert len(workers) == 2
        workers[0].kill()  # a render worker dies
        at(start, 42)
        soft, hard = me.rlimit(psutil.RLIMIT_FSIZE)
        # Writes past this size fail (EFBIG): the history and the spans file are larger, so
        # cycles fail; the log is smaller, so the failures can still be logged.
        log_size = (tmp_path / ".sitegen/logs/sitegen.jsonl").stat().st_size
        me.rlimit(psutil.RLIMIT_FSIZE, (log_size + 16384, hard))
        at(start, 46)
        me.rlimit(psutil.RLIMIT_FSIZE, (soft, hard))
        at(start, DURATION - 2)
        rss_late = me.memory_info().rss
        at(start, DURATION)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        reader.stop.set()
        prom.stop()
    reader.join()
    assert proc.returncode == 0, err[-2000:]
    assert not reader.errors, reader.errors[:5]
    assert reader.reads > 200

    state = tmp_path / ".sitegen"
    lines = [json.loads(line) for p in sorted(state.glob("logs/sitegen.jsonl*"), reverse=True)
             for line in p.read_text().splitlines()]  # fmt: skip
    finished = [r for r in lines if r["msg"] == "cycle finished"]
    failed_sources = {r["source"] for r in lines if r["msg"] == "source failed"}
    assert len(finished) >= 35, len(finished)
    # Prometheus for its faults; sources that write state (history, caches) may also fail
    # while writes fail, and fall back like any other.
    assert "prometheus" in failed_sources
    prometheus_errors = {r["error"].split(":")[0] for r in lines if r["msg"] == "source failed"}
    # The frozen server: the source is cut off at the cycle's deadline (2 s at a 1 s interval).
    assert any(e.startswith("timed out after") for e in prometheus_errors), prometheus_errors
    assert any(r["msg"] == "cycle failed" for r in lines)  # the disk-write fault
    assert any(r["msg"] == "render pool broken; restarting it" for r in lines)
    assert lines[-1]["msg"] == "stopped"
    # Cycles kept completing after every fault, the last one included.
    last_fault = max(r["ts"] for r in lines if r["msg"] == "cycle failed")
    assert sum(1 for r in finished if r["ts"] > last_fault) >= 8

    # Never two cycles at once: the cycle spans, in start order, never overlap.
    spans = []
    for line in (state / "spans.jsonl").read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                spans += [s for s in ss["spans"] if s["name"] == "cycle"]
    windows = sorted((int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])) for s in spans)
    assert len(windows) >= 35
    assert all(b[0] >= a[1] for a, b in itertools.pairwise(windows))

    # Memory flat: what the process holds after ~50 more cycles is about what it held early.
    assert rss_late - rss_early < 40 * 2**20, (rss_early, rss_late)


def test_own_spans_are_rotated_and_each_is_read_once(cfg: Config, monkeypatch) -> None:
    # A file trimmed in place is a new file to a reader following inodes: it read its whole
    # kept half again, a megabyte of old spans in one cycle, every few minutes of a long run.
    monkeypatch.setattr(telemetry, "SPANS_MAX_BYTES", 20_000)
    state = cfg.site.state_dir
    tel = Telemetry(state, hostname="h")
    history, previous = History(state, 86400), None
    rotations, size = 0, 0
    for cycle in range(60):
        with tel.tracer.start_as_current_span(f"cycle {cycle}"):
            for stage in ("collect", "render", "write"):
                tel.tracer.start_span(stage).end()
        assert tel.flush() == 4
        part = traces.collect(
            SourceContext(cfg, history, state, time.time(), time.monotonic() + 30, previous)
        )
        previous = part
        assert part.detail.startswith("4 new spans"), (cycle, part.detail)
        rotations += (state / "spans.jsonl").stat().st_size < size
        size = (state / "spans.jsonl").stat().st_size
        kept = [p.stat().st_size for p in state.glob("spans.jsonl*")]
        assert len(kept) <= 2 and max(kept) <= 20_000, kept
    tel.close()
    assert rotations >= 2  # the test went through several rotations


def _vertices(svg: str) -> int:
    """Count the points a chart's line path draws (a move, then relative x y pairs)."""
    d = re.search(r'<path d="([^"]+)"', svg)[1]
    return sum(1 + len(re.findall(r"-?\d+", part[1:])) // 2 for part in d.split("M")[1:])


def test_a_sparkline_draws_half_a_point_per_column_however_long_its_history() -> None:
    # A key figure's sparkline gets every point of its history window: an hour of one-second
    # samples drew four points a column, a cost that grew with the history for 4 minutes.
    hour = [(1_795_000_000.0 + i, float(i % 97)) for i in range(3600)]
    for points in (hour[:300], hour):
        svg = str(sparkline(points, width=120))
        assert _vertices(svg) <= 60
        assert re.search(r'<path d="([^"]+)"', svg)[1].count("M") == 1  # no gap made up
    short = hour[:40]  # fewer than that: every sample is drawn
    assert _vertices(str(sparkline(short, width=120))) == 40


def test_the_self_source_reads_only_the_cycles_the_about_page_lists(cfg: Config) -> None:
    state = cfg.site.state_dir
    history = History(state, 86400)
    now = time.time()
    first = selfmetrics.collect(SourceContext(cfg, history, state, now, time.monotonic() + 30))
    assert first.cycles == () and first.detail == "no cycle in the history yet"
    stages = (StageTiming("render", 0.1),)
    for n in range(300):
        history.add_cycle(CycleRecord(now - 300 + n, 0.1, stages, 9, 9, ok=True))
    part = selfmetrics.collect(SourceContext(cfg, history, state, now, time.monotonic() + 30))
    assert [c.ts for c in part.cycles] == [now - 20 + n for n in range(20)]
    assert part.detail == "the last 20 cycles read from history"

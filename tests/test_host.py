"""The host source: CPU shares and I/O rates over the interval, from the kept reading."""

from __future__ import annotations

import logging
import time
from collections import namedtuple
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from sitegen.config import Config, parse
from sitegen.history import History
from sitegen.sources import collect_all, host
from sitegen.sources.base import Counters, Part, SourceContext
from sitegen.state import LastGood

CpuTimes = namedtuple("CpuTimes", "user system idle iowait")
Disk = namedtuple("Disk", "read_bytes write_bytes")
Net = namedtuple("Net", "bytes_recv bytes_sent")
BOOT = 1_700_000_000.0


def _config(tmp_path: Path, interval: int = 30) -> Config:
    return parse(f"[site]\ninterval_seconds = {interval}\n", env={}, base_dir=tmp_path)


def _context(cfg: Config, previous: Part | None = None) -> SourceContext:
    history = History(cfg.site.state_dir, 86400)
    return SourceContext(cfg, history, cfg.site.state_dir, time.time(), time.monotonic() + 10,
                         previous)  # fmt: skip


class Machine:
    """A host whose counters and clock the test sets: psutil reads real ones, which no test
    can predict."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: float) -> None:
        self.now, self.boot, self.slept = now, BOOT, []
        self.cpu, self.disk, self.net = CpuTimes(100.0, 50.0, 850.0, 0.0), Disk(0, 0), Net(0, 0)
        monkeypatch.setattr(host.psutil, "cpu_times", lambda: self.cpu)
        monkeypatch.setattr(host.psutil, "disk_io_counters", lambda: self.disk)
        monkeypatch.setattr(host.psutil, "net_io_counters", lambda: self.net)
        monkeypatch.setattr(host.psutil, "boot_time", lambda: self.boot)
        monkeypatch.setattr(host.time, "time", lambda: self.now)
        monkeypatch.setattr(host.time, "sleep", self.sleep)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _latest(ctx: SourceContext, metric: str) -> dict[str, float]:
    return {
        dict(s.labels).get("mode") or dict(s.labels)["direction"]: s.points[-1][1]
        for s in ctx.history.series(metric, ctx.now - 3600)
    }


def test_cpu_and_io_are_taken_over_the_interval_since_the_kept_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = Machine(monkeypatch, now=time.time() - 30)
    kept = host.reading()  # the last cycle's, 30 s ago
    machine.now += 30
    machine.cpu = CpuTimes(130.0, 60.0, 910.0, 0.0)  # +30 user, +10 system, +60 idle
    machine.disk, machine.net = Disk(3_000_000, 600_000), Net(90_000, 0)
    ctx = _context(_config(tmp_path), Part(counters=kept))
    part = host.collect(ctx)
    assert machine.slept == []  # no quarter second of waiting in the cycle
    cpu = _latest(ctx, "host_cpu_percent")
    assert cpu == {"user": 30.0, "system": 10.0, "iowait": 0.0, "other": 0.0}
    assert _latest(ctx, "host_disk_bytes_per_second") == {"read": 100_000.0, "write": 20_000.0}
    assert _latest(ctx, "host_network_bytes_per_second") == {"receive": 3000.0, "transmit": 0.0}
    assert part.counters == host.reading()  # this reading, for the next cycle
    assert "CPU and I/O over the last 30 s" in part.detail


def _kept(now: float, age: float, boot: float = BOOT, names: tuple[str, ...] = ()) -> Counters:
    values = host.reading().values
    if names:
        values = tuple(zip(names, (v for _, v in values), strict=False))
    return Counters(now - age, boot, values)


@pytest.mark.parametrize(
    "kept",
    [
        lambda now: None,  # a first cycle
        lambda now: _kept(now, 30, boot=BOOT + 3600),  # the machine rebooted since
        lambda now: _kept(now, 61),  # older than two intervals of 30 s and a minute
        lambda now: _kept(now, -5),  # "taken" after now: the clock was stepped back
        lambda now: _kept(now, 30, names=("cpu user", "cpu idle")),  # other counters
    ],
    ids=["none", "another boot", "too old", "from the future", "other counters"],
)
def test_without_a_usable_kept_reading_two_readings_are_taken_a_moment_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept
) -> None:
    machine = Machine(monkeypatch, now=time.time())
    previous = kept(machine.now)
    ctx = _context(_config(tmp_path), Part(counters=previous) if previous else None)
    part = host.collect(ctx)
    assert machine.slept == [host.SAMPLE_SECONDS]
    assert part.counters is not None and part.counters.taken_at == machine.now
    assert "CPU and I/O over the last 250 ms" in part.detail


def test_a_kept_reading_of_a_moment_ago_is_waited_on_to_the_short_samples_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two renders back to back: CPU times move in 10 ms ticks, so shares over a few
    # milliseconds would be a tick or two. The rest of the short sample is waited for.
    machine = Machine(monkeypatch, now=time.time() - 0.1)
    kept = host.reading()
    machine.now += 0.1
    machine.cpu = CpuTimes(100.5, 50.0, 850.0, 0.0)  # +0.5 s user over the whole sample
    part = host.collect(_context(_config(tmp_path), Part(counters=kept)))
    assert machine.slept == [pytest.approx(host.SAMPLE_SECONDS - 0.1)]
    assert "CPU and I/O over the last 250 ms" in part.detail
    assert _latest(_context(_config(tmp_path)), "host_cpu_percent")["user"] == 100.0


def test_a_kept_reading_serves_two_intervals_and_a_boot_time_that_moved_a_little(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = Machine(monkeypatch, now=time.time())
    now = host.reading()
    # psutil's boot time is the clock minus the uptime: an NTP step moves it a second.
    assert host.usable(_kept(machine.now, 120, boot=BOOT - 1), now, interval=60)
    assert not host.usable(_kept(machine.now, 121), now, interval=60)
    assert host.usable(_kept(machine.now, 60), now, interval=5)  # at least a minute


def test_a_clock_step_between_two_readings_gives_no_rates_rather_than_made_up_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = Machine(monkeypatch, now=time.time())
    before = host.reading()
    machine.now -= 1
    machine.cpu, machine.disk = CpuTimes(101.0, 50.0, 851.0, 0.0), Disk(5000, 0)
    samples = host.sample(before, host.reading())
    metrics = {metric for metric, *_ in samples}
    assert "host_cpu_percent" in metrics  # shares need no clock
    assert not metrics & {"host_disk_bytes_per_second", "host_network_bytes_per_second"}


def test_the_real_host_source_waits_only_in_its_first_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # psutil's own readings; the kept one goes through the last-good store on disk, as from
    # one `sitegen render` to the next, a little more than a short sample later.
    slept: list[float] = []
    pause = time.sleep
    monkeypatch.setattr(host.time, "sleep", slept.append)
    cfg = _config(tmp_path)
    tracer, logger = TracerProvider().get_tracer("test"), logging.getLogger("sitegen.test")
    for _ in range(2):
        done = collect_all(
            _context(cfg), [(host.NAME, host.collect)], LastGood(cfg.site.state_dir), tracer,
            logger,
        )  # fmt: skip
        assert done.statuses[0].ok, done.statuses
        pause(host.SAMPLE_SECONDS + 0.05)
    assert slept == [host.SAMPLE_SECONDS]
    assert "CPU and I/O over the last" in done.statuses[0].detail

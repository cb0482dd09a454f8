"""Host metrics of the machine sitegen runs on, through psutil (Linux, macOS, BSD, Windows).

CPU shares and I/O rates are taken between two readings of the host's cumulative counters:
the one kept in the last cycle's part and this cycle's, so they cover the whole interval,
as Prometheus's rate() over node_exporter's counters does. A quarter-second glimpse each
cycle saw a hundredth of a 30 s interval, most of it sitegen's own collecting, and held
every cycle's collect stage that long. Without a usable kept reading (a first cycle, a
restart after a while, another boot) two readings are taken a quarter second apart, so
the figures are real from the very first run. The sample goes into the history and the
panels are drawn from it.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from dataclasses import replace

import psutil

from sitegen.history import Sample
from sitegen.model import HostInfo, Labels
from sitegen.sources.base import Counters, MetricDef, Part, SourceContext, history_part
from sitegen.units import counted, format_duration_ns

NAME = "host"
SAMPLE_SECONDS = 0.25  # between two readings when no kept one is usable
# A kept reading serves up to this many intervals back (at least KEPT_MIN_SECONDS): its
# rates are drawn as one point at this cycle's time, so they must not average a long stop.
KEPT_INTERVALS, KEPT_MIN_SECONDS = 2, 60.0
# psutil's boot time is the clock now minus the uptime: a clock step moves it a little.
SAME_BOOT_SECONDS = 2.0
_IO = ("disk read", "disk write", "network receive", "network transmit")
# Pseudo and container file systems say nothing about the machine's disks.
_SKIP_FSTYPES = {"squashfs", "overlay", "tmpfs", "devtmpfs", "iso9660", "nsfs", "ramfs"}
_MAX_MOUNTS = 4

METRICS = (
    MetricDef("CPU busy by mode", "host_cpu_percent", "percent", "area", figure="CPU"),
    MetricDef("Memory", "host_memory_bytes", "bytes", "area"),
    MetricDef("Memory used", "host_memory_used_percent", "percent", figure="Memory"),
    MetricDef("Load average", "host_load", "", figure="Load 1m", pick=(("period", "1m"),)),
    MetricDef(
        "Disk space used",
        "host_disk_used_percent",
        "percent",
        figure="Disk /",
        pick=(("mount", "/"),),
    ),
    MetricDef("Disk I/O", "host_disk_bytes_per_second", "bytes/s"),
    MetricDef("Network", "host_network_bytes_per_second", "bytes/s", figure="Network"),
)


def host_info() -> HostInfo:
    """Return the static facts about this machine."""
    return HostInfo(
        hostname=socket.gethostname(),
        system=platform.system(),
        release=platform.release(),
        machine=platform.machine(),
        python=sys.version.split()[0],
        cpu_count=os.cpu_count() or 1,
        memory_total=psutil.virtual_memory().total,
        boot_time=psutil.boot_time(),
    )


def _mounts() -> list[str]:
    mounts = []
    for part in psutil.disk_partitions(all=False):
        if part.fstype in _SKIP_FSTYPES or part.mountpoint.startswith(("/snap", "/boot/efi")):
            continue
        mounts.append(part.mountpoint)
    return sorted(mounts)[:_MAX_MOUNTS] or ["/"]


def _cpu_shares(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Return the percent of CPU time per busy mode between two readings of cpu_times()."""
    delta = {m: after[m] - before[m] for m in after}  # the same modes: usable() saw to it
    total = sum(delta.values())
    if total <= 0:
        return {"user": 0.0, "system": 0.0, "iowait": 0.0, "other": 0.0}
    shares = {m: 100.0 * delta.get(m, 0.0) / total for m in ("user", "system", "iowait")}
    idle = 100.0 * delta.get("idle", 0.0) / total
    shares["other"] = max(0.0, 100.0 - idle - sum(shares.values()))
    return shares


def _io_counters() -> tuple[float, float, float, float]:
    disk = psutil.disk_io_counters()
    net = psutil.net_io_counters()
    return (
        float(disk.read_bytes if disk else 0),
        float(disk.write_bytes if disk else 0),
        float(net.bytes_recv if net else 0),
        float(net.bytes_sent if net else 0),
    )


def reading() -> Counters:
    """Read the host's cumulative CPU times (by mode) and disk and network bytes."""
    cpu = psutil.cpu_times()
    values = (*((f"cpu {m}", float(getattr(cpu, m))) for m in cpu._fields),
              *zip(_IO, _io_counters(), strict=True))  # fmt: skip
    return Counters(time.time(), psutil.boot_time(), values)


def usable(kept: Counters | None, now: Counters, interval: float) -> bool:
    """Return whether a kept reading gives this one's rates: the same boot and counters,
    taken before it and not longer ago than KEPT_INTERVALS intervals."""
    if kept is None or abs(kept.epoch - now.epoch) > SAME_BOOT_SECONDS:
        return False
    if [name for name, _ in kept.values] != [name for name, _ in now.values]:
        return False  # another psutil or platform: modes that do not match
    age = now.taken_at - kept.taken_at
    return 0 < age <= max(KEPT_INTERVALS * interval, KEPT_MIN_SECONDS)


def _cpu_seconds(values: tuple[tuple[str, float], ...]) -> dict[str, float]:
    """Return the CPU seconds by mode of a reading's values."""
    return {name.removeprefix("cpu "): v for name, v in values if name.startswith("cpu ")}


def sample(before: Counters, after: Counters) -> list[Sample]:
    """Take one host sample at `after`'s time: CPU shares and I/O rates since `before`."""
    now = after.taken_at

    def one(metric: str, labels: Labels, value: float) -> Sample:
        return (metric, labels, now, float(value))

    shares = _cpu_shares(_cpu_seconds(before.values), _cpu_seconds(after.values))
    out = [one("host_cpu_percent", (("mode", m),), v) for m, v in shares.items()]
    mem = psutil.virtual_memory()
    cache = getattr(mem, "cached", 0) + getattr(mem, "buffers", 0)
    out += [
        one("host_memory_bytes", (("state", "used"),), mem.total - mem.available),
        one("host_memory_bytes", (("state", "cache"),), min(cache, mem.available)),
        one("host_memory_bytes", (("state", "free"),), max(0, mem.available - cache)),
        one("host_memory_used_percent", (), 100.0 * (mem.total - mem.available) / mem.total),
    ]
    load = psutil.getloadavg()
    out += [
        one("host_load", (("period", p),), v)
        for p, v in zip(("1m", "5m", "15m"), load, strict=False)
    ]
    for mount in _mounts():
        try:
            used = psutil.disk_usage(mount).percent
        except OSError:  # a mount that vanished or denies us: skip it, keep the rest
            continue
        out.append(one("host_disk_used_percent", (("mount", mount),), used))
    elapsed = after.taken_at - before.taken_at
    if elapsed <= 0:  # the clock stepped back between the readings: no rate to tell
        return out
    was, got = dict(before.values), dict(after.values)
    for name in _IO:
        kind, direction = name.split()
        rate = max(0.0, (got[name] - was[name]) / elapsed)
        out.append(one(f"host_{kind}_bytes_per_second", (("direction", direction),), rate))
    return out


def collect(ctx: SourceContext) -> Part:
    """Sample the host, store the sample, and return its panels and key figures."""
    kept = ctx.previous.counters if ctx.previous else None
    after = reading()
    # The kept reading when usable, else this one: then a short sample of our own follows.
    before = kept if usable(kept, after, ctx.cfg.site.interval_seconds) else after
    # Never less than the short sample: CPU times move in clock ticks (10 ms), so the
    # shares of a few milliseconds (two renders back to back) would be a tick or two.
    short = SAMPLE_SECONDS - (after.taken_at - before.taken_at)
    if short > 0:
        time.sleep(short)
        after = reading()
    samples = sample(before, after)
    ctx.history.add(samples)
    part = history_part(ctx, METRICS, source=NAME)
    over = format_duration_ns(round((after.taken_at - before.taken_at) * 1e9))
    return replace(
        part,
        detail=f"{counted(len(samples), 'sample')} taken, CPU and I/O over the last {over}, "
        f"{counted(len(part.panels), 'chart')}",
        counters=after,
    )

"""Host metrics of the machine sitegen runs on, through psutil (Linux, macOS, BSD, Windows).

Each cycle takes two readings a quarter second apart, so CPU shares and I/O rates are real
from the very first run; the sample goes into the history and the panels are drawn from it.
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
from sitegen.sources.base import MetricDef, Part, SourceContext, history_part
from sitegen.units import counted

NAME = "host"
SAMPLE_SECONDS = 0.25
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


def _cpu_shares(before: object, after: object) -> dict[str, float]:
    """Return the percent of CPU time per busy mode between two cpu_times() readings."""
    delta = {f: getattr(after, f) - getattr(before, f) for f in after._fields}
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


def sample(seconds: float = SAMPLE_SECONDS) -> list[Sample]:
    """Take one host sample: two readings `seconds` apart give CPU shares and I/O rates."""
    cpu0, io0, t0 = psutil.cpu_times(), _io_counters(), time.monotonic()
    time.sleep(seconds)
    cpu1, io1, t1 = psutil.cpu_times(), _io_counters(), time.monotonic()
    now = time.time()
    rates = [max(0.0, (b - a) / (t1 - t0)) for a, b in zip(io0, io1, strict=True)]

    def one(metric: str, labels: Labels, value: float) -> Sample:
        return (metric, labels, now, float(value))

    out = [one("host_cpu_percent", (("mode", m),), v) for m, v in _cpu_shares(cpu0, cpu1).items()]
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
    names = (("disk", "read"), ("disk", "write"), ("network", "receive"), ("network", "transmit"))
    for (kind, direction), rate in zip(names, rates, strict=True):
        metric = f"host_{kind}_bytes_per_second"
        out.append(one(metric, (("direction", direction),), rate))
    return out


def collect(ctx: SourceContext) -> Part:
    """Sample the host, store the sample, and return its panels and key figures."""
    samples = sample()
    ctx.history.add(samples)
    part = history_part(ctx, METRICS, source=NAME)
    return replace(
        part,
        detail=f"{counted(len(samples), 'sample')} taken, {counted(len(part.panels), 'chart')}",
    )

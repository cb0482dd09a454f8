"""`sitegen run`: cycles every interval, /metrics served, a clean exit on SIGTERM or SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.promserver import free_port


def wait_for(check, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def scrape(url: str) -> dict[str, float]:
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.TransportError:
        return {}
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_cycles_serves_metrics_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    config = tmp_path / "sitegen.toml"
    config.write_text(
        f'[site]\ninterval_seconds = 1\nworkers = 2\nmetrics_listen = "127.0.0.1:{port}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitegen", "run", "--config", str(config), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        metrics = wait_for(
            lambda: (
                (m := scrape(f"http://127.0.0.1:{port}/metrics"))
                and m.get('sitegen_cycles_total{outcome="ok"}', 0) >= 3
                and m
            )
        )
        assert metrics['sitegen_stage_duration_seconds_count{stage="render"}'] >= 3
        assert metrics["sitegen_pages"] >= 6
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        assert health.status_code == 200 and health.text.startswith("ok: last successful cycle")
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    site = tmp_path / "public"
    manifest = json.loads((site / "manifest.json").read_text())
    assert all((site / name).is_file() for name in manifest["files"])
    logs = (tmp_path / ".sitegen/logs/sitegen.jsonl").read_text().splitlines()
    messages = [json.loads(line)["msg"] for line in logs]
    assert messages.count("cycle finished") >= 3
    # The cycle under way at the signal may finish after "stopping"; no other starts.
    stopping = messages.index("stopping")
    assert messages[-1] == "stopped" and messages[stopping + 1 : -1].count("cycle finished") <= 1
    assert json.loads(logs[stopping])["signal"] == sig.name
    assert "next update due <time" in (site / "index.html").read_text()


def test_a_one_shot_render_of_a_small_site_starts_no_workers(tmp_path: Path) -> None:
    import os

    config = tmp_path / "sitegen.toml"
    config.write_text("[site]\nworkers = 0\n")
    done = subprocess.run(
        [sys.executable, "-m", "sitegen", "render", "--config", str(config), "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "public/concurrency/index.html").read_text()
    if (os.cpu_count() or 1) > 1:
        # Nothing learned yet and no pool running: a pool would cost more than it saves.
        assert "in the main process" in page
    assert "in a pool of" not in page


def test_memory_freed_in_the_middle_of_the_heap_goes_back_to_the_system() -> None:
    # What `sitegen run` does after each cycle. 40 MiB of 1 KiB blocks (past pymalloc's
    # small objects: glibc's heap), every 64th kept so the heap cannot simply shrink.
    script = """
import psutil
from sitegen.schedule import release_memory
blocks = [bytearray(1024) for _ in range(40 * 1024)]
kept = blocks[::64]
del blocks
before = psutil.Process().memory_info().rss
released = release_memory()
print(released, (before - psutil.Process().memory_info().rss) / 2**20)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()  # fmt: skip
    if out[0] != "True":
        pytest.skip("this C library has no malloc_trim")
    assert float(out[1]) > 20, out  # MiB back to the system


def test_closing_after_a_failed_write_still_releases_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sitegen.config import parse
    from sitegen.cycle import Runtime
    from sitegen.state import StateLock

    cfg = parse("[site]\nworkers = 1\n", env={}, base_dir=tmp_path)
    rt = Runtime.start(cfg)

    def full_disk() -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rt.last_good, "flush", full_disk)
    with pytest.raises(OSError, match="No space"):
        rt.close()
    # The steps after the failed write ran: the next sitegen gets the state_dir.
    StateLock(cfg.site.state_dir).release()


def test_a_cycle_renders_with_its_snapshot_set_aside(tmp_path: Path, monkeypatch) -> None:
    # A full pass of the collector during the render walked the whole snapshot: a tenth of a
    # first render of a large site. Frozen once collected, it is not walked.
    import gc

    from sitegen import cycle
    from sitegen.config import parse

    seen: list[bool] = []
    real = cycle.pages_round

    def pages_round(render, snap, *args):
        walked = {id(o) for g in range(3) for o in gc.get_objects(g)}
        parts = (snap, *snap.panels, *snap.logs[:5], *snap.sources)
        seen.append(gc.is_tracked(snap) and not walked & set(map(id, parts)))
        return real(render, snap, *args)

    monkeypatch.setattr(cycle, "pages_round", pages_round)
    cfg = parse('[site]\nworkers = 1\nmetrics_listen = ""\n', env={}, base_dir=tmp_path)
    rt = cycle.Runtime.start(cfg)
    try:
        cycle.run_cycle(rt)
    finally:
        rt.close()
        gc.unfreeze()  # the rest of the test process must not keep what the cycle froze
    assert seen == [True]

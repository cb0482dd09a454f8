"""Faults found by attacking the generator: each test reproduces one, and shows it mended."""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from sitegen.cli import main
from sitegen.metrics import SelfMetrics, serve
from sitegen.schedule import is_resource_tracker
from sitegen.sources.base import Part
from sitegen.sources.logs import TAIL_STATE as LOGS_TAIL
from sitegen.sources.traces import TAIL_STATE as TRACES_TAIL
from sitegen.state import LastGood, StateLock
from tests.promserver import free_port
from tests.test_prometheus import faulty
from tests.test_run import wait_for


def test_metrics_serve_on_an_ipv6_loopback_address() -> None:
    port = free_port()
    server = serve(SelfMetrics(), f"[::1]:{port}", lambda: (True, "ok"))
    try:
        answer = httpx.get(f"http://[::1]:{port}/healthz", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200 and answer.text == "ok\n"


def test_state_files_of_the_wrong_shape_are_moved_aside_not_fatal(tmp_path: Path) -> None:
    # Each parses, but holds what no cycle wrote: a cache pickle of 5, a source cache that is
    # not (time, Part), tail offsets of 1e999 and -5, a tail entry of three items.
    config = tmp_path / "sitegen.toml"
    config.write_text(
        '[site]\nworkers = 1\nstate_dir = "state"\n[prometheus]\nurl = "http://127.0.0.1:1"\n'
        f'[[panels]]\ntitle = "p"\nquery = "up"\n[logs]\npaths = ["{tmp_path}/app.log"]\n'
    )
    (tmp_path / "app.log").write_text("hello\n")
    cache = tmp_path / "state/cache"
    cache.mkdir(parents=True)
    (tmp_path / "state/tail").mkdir()
    (cache / "prometheus-panels.pickle").write_bytes(pickle.dumps(5))
    (cache / "logs.pickle").write_bytes(pickle.dumps(("yesterday", Part())))
    (tmp_path / f"state/{LOGS_TAIL}").write_text('{"1:2": [1e999, "ab"], "3:4": [-5, ""]}')
    (tmp_path / f"state/{TRACES_TAIL}").write_text('{"1:2": [1, 2, 3]}')
    assert main(["render", "--config", str(config), "--quiet"]) == 0
    moved = sorted(p.name.split(".corrupt-")[0] for p in (tmp_path / "state").rglob("*.corrupt-*"))
    assert moved == sorted(
        ["prometheus-panels.pickle", "logs.pickle",
         Path(LOGS_TAIL).name, Path(TRACES_TAIL).name]
    )  # fmt: skip
    doc = json.loads((tmp_path / "public/data/snapshot.json").read_text())
    assert doc["sources"]["logs"]["ok"] and doc["sources"]["prometheus"]["stale_since"] is None
    # The next cycle reads back what this one wrote: nothing more is moved aside.
    assert main(["render", "--config", str(config), "--quiet"]) == 0
    assert len(list((tmp_path / "state").rglob("*.corrupt-*"))) == len(moved)


def test_last_good_gives_back_only_what_fits_the_shape_asked_for(tmp_path: Path) -> None:
    store = LastGood(tmp_path)
    store.save("a", (12.5, Part(detail="x")))
    assert store.load("a") == (12.5, Part(detail="x"))
    store.save("b", {"k": 1})
    assert store.load("b", lambda v: isinstance(v, dict)) == {"k": 1}
    assert store.load("b") is None  # not (time, Part): moved aside
    assert (
        store.load("b") is None and len(list((tmp_path / "cache").glob("b.pickle.corrupt-*"))) == 1
    )


def _start_run(config: Path) -> subprocess.Popen:
    # Output to a file: a pipe nobody reads until the end could fill up and block the run.
    with (config.parent / "run.err").open("a") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "sitegen", "run", "--config", str(config), "-q"],
            stdout=err, stderr=err,
        )  # fmt: skip


def _sigterm(proc: subprocess.Popen) -> float:
    """Send SIGTERM; return how many seconds the process took to exit."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return time.monotonic() - started


def _run_err(root: Path) -> str:
    return (root / "run.err").read_text()[-2000:]


def _messages(state: Path) -> list[str]:
    log = state / "logs/sitegen.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line)["msg"] for line in lines if line.endswith("}")]


def _alive(pids: list[int]) -> list[int]:
    def running(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return [pid for pid in pids if running(pid)]


def _skipped_since_a_cycle_finished(said: list[str]) -> int:
    """Return how many runs were skipped since the last cycle that finished."""
    last = max((k for k, msg in enumerate(said) if msg == "cycle finished"), default=-1)
    return said[last + 1 :].count("cycle overran its interval; a run was skipped")


def test_sigterm_ends_run_within_10s_while_its_render_workers_are_frozen(tmp_path: Path) -> None:
    config = tmp_path / "sitegen.toml"
    config.write_text('[site]\ninterval_seconds = 1\nworkers = 2\nmetrics_listen = ""\n')
    state = tmp_path / ".sitegen"
    semaphores = set(Path("/dev/shm").glob("sem.mp-*"))  # the pool's, while it runs
    proc = _start_run(config)
    children: list[int] = []
    try:
        wait_for(lambda: "cycle finished" in _messages(state))
        started = psutil.Process(proc.pid).children(recursive=True)
        tracker = [c.pid for c in started if is_resource_tracker(c)]
        children = [c.pid for c in started if c.pid not in tracker]
        # The forkserver and the workers it started so far (a second starts when needed).
        assert len(children) >= 2 and len(tracker) == 1
        for pid in children:
            os.kill(pid, signal.SIGSTOP)  # frozen: alive, holding its task, never answering
        seen = len(_messages(state))
        # A cycle is stuck in render once three runs in a row are skipped for it: on a loaded
        # machine a cycle merely slow overran once, finished, and was not there to abandon.
        wait_for(lambda: _skipped_since_a_cycle_finished(_messages(state)[seen:]) >= 3)
        took = _sigterm(proc)
    finally:
        proc.kill()
        for pid in _alive(children):  # only if the test failed: leave nothing behind
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 0 and took <= 10.5, (proc.returncode, took, _run_err(tmp_path))
    assert _alive(children) == []
    # Left alive, the resource tracker removes what the killed pool held, then ends.
    wait_for(lambda: not _alive(tracker))
    assert set(Path("/dev/shm").glob("sem.mp-*")) <= semaphores
    said = _messages(state)
    stopping = said.index("stopping")  # the abandoned cycle's thread may log in between
    abandoned = said.index("abandoned the running cycle at shutdown", stopping)
    assert "stopped" in said[abandoned:], said[stopping:]
    manifest = json.loads((tmp_path / "public/manifest.json").read_text())
    assert all((tmp_path / "public" / name).is_file() for name in manifest["files"])


def test_a_process_gone_is_not_taken_for_the_resource_tracker() -> None:
    # Shutdown spares the tracker only: a child it cannot read is killed like the rest.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    process = psutil.Process(child.pid)
    child.wait(timeout=30)
    assert is_resource_tracker(process) is False


def test_a_second_sitegen_on_one_state_dir_exits_2_naming_the_first(tmp_path: Path) -> None:
    config = tmp_path / "sitegen.toml"
    config.write_text('[site]\ninterval_seconds = 5\nworkers = 1\nmetrics_listen = ""\n')
    first = _start_run(config)
    try:
        wait_for(lambda: "sitegen started" in _messages(tmp_path / ".sitegen"))
        for verb in ("run", "render"):
            second = subprocess.run(
                [sys.executable, "-m", "sitegen", verb, "--config", str(config), "-q"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert second.returncode == 2, second.stderr
            assert f"is in use by another sitegen (pid {first.pid} on " in second.stderr
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    finally:
        first.kill()
    # The lock goes with its process: the next one starts.
    assert main(["render", "--config", str(config), "--quiet"]) == 0


def _file_size_limit(size: int) -> Callable[[], None]:
    """Return what makes a child's files unable to grow past `size` bytes (EFBIG, as a full
    disk's ENOSPC)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))

    return limit


FULL_DISK = """
import sys
from pathlib import Path
from sitegen.site.output import write_site

out = Path(sys.argv[1])
write_site(out, {"index.html": b"first"}, "t0")  # within the limit: b.html is not
for _ in range(3):
    try:
        write_site(out, {"a.html": b"a" * 10_000, "b.html": b"b" * 30_000}, "t1")
    except OSError as exc:
        print(exc.errno, Path(exc.filename).name)
"""


def test_a_build_that_cannot_be_written_is_removed_and_the_site_stays(tmp_path: Path) -> None:
    out = tmp_path / "public"
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(out)], capture_output=True, text=True,
        timeout=60, preexec_fn=_file_size_limit(20_000),
    )  # fmt: skip
    # EFBIG each time, naming the file that could not be written (the error alone does not).
    assert done.stdout.splitlines() == ["27 b.html"] * 3, done.stderr
    assert (out / "index.html").read_bytes() == b"first"
    builds = [p.name for p in (tmp_path / ".public.builds").iterdir()]
    assert len(builds) == 1 and not builds[0].endswith(".tmp"), builds  # space comes back


@pytest.mark.parametrize(
    ("size", "said"),
    [
        (0, "sitegen: [Errno 27] File too large: '{state}/lock'"),
        (200, "sitegen: cannot open the history {state}/history.sqlite: disk I/O error"),
    ],
)
def test_a_state_dir_that_cannot_be_written_stops_a_render_with_a_line_naming_the_file(
    tmp_path: Path, size: int, said: str
) -> None:
    config = tmp_path / "sitegen.toml"
    config.write_text('[site]\nmetrics_listen = ""\n')
    done = subprocess.run(
        [sys.executable, "-m", "sitegen", "render", "--config", str(config)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        preexec_fn=_file_size_limit(size),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == said.format(state=tmp_path / ".sitegen")
    assert "Traceback" not in done.stderr


FULL_LOG = """
import logging, resource, sys
from pathlib import Path
from sitegen.telemetry import Telemetry, log

state = Path(sys.argv[1])
telemetry = Telemetry(state)
log(telemetry.logger, logging.INFO, "before", n=0)  # within the limit; the next are not
for n in range(1, 5):
    log(telemetry.logger, logging.WARNING, "cannot grow", n=n, pad="x" * 60)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
log(telemetry.logger, logging.INFO, "after", n=5)
telemetry.close()
"""


def test_a_log_that_cannot_be_written_goes_to_stderr_a_line_a_record(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FULL_LOG, str(tmp_path)], capture_output=True, text=True,
        timeout=60, preexec_fn=_file_size_limit(250),  # stderr is a pipe: not limited
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    log_file = tmp_path / "logs/sitegen.jsonl"
    assert lines[0] == f"sitegen: cannot write its log {log_file} ([Errno 27] File too large); " \
        "its records come here until it can"  # fmt: skip
    assert [json.loads(line)["n"] for line in lines[1:-1]] == [1, 2, 3, 4]  # each whole, once
    assert lines[-1] == f"sitegen: writing its log {log_file} again"
    # In the file: the record cut short on its own line, the next one whole after it.
    written = log_file.read_text().splitlines()
    assert json.loads(written[0])["n"] == 0 and json.loads(written[-1])["n"] == 5
    assert len(written) == 3 and written[1].startswith('{"ts"')


def test_publish_beside_a_running_sitegen_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "sitegen.toml"
    config.write_text('[site]\nworkers = 1\n[publish]\nbucket = "site-bucket"\n')
    assert main(["render", "--config", str(config), "--quiet"]) == 0
    held = StateLock(tmp_path / ".sitegen")  # as a `run` on this state_dir holds it
    try:
        assert main(["publish", "--config", str(config)]) == 2  # before any request is sent
    finally:
        held.release()


def _fewest_threads(process: psutil.Process, seconds: float) -> int:
    """The fewest threads seen over one interval: what is left between two cycles."""
    seen, until = [], time.monotonic() + seconds
    while time.monotonic() < until:
        seen.append(process.num_threads())
        time.sleep(0.05)  # a sampling period, not a wait for something to happen
    return min(seen)


def test_run_against_a_trickling_prometheus_keeps_its_threads_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    config = tmp_path / "sitegen.toml"
    state = tmp_path / ".sitegen"
    with faulty("trickle") as url:
        config.write_text(
            f'[site]\ninterval_seconds = 3\nworkers = 1\nmetrics_listen = ""\n'
            f'[prometheus]\nurl = "{url}"\ntimeout_seconds = 30\n'
            '[[panels]]\ntitle = "a"\nquery = "a"\n[[panels]]\ntitle = "b"\nquery = "b"\n'
        )
        proc = _start_run(config)
        try:
            run = psutil.Process(proc.pid)
            wait_for(lambda: _messages(state).count("cycle finished") >= 1)
            first = _fewest_threads(run, 3.0)
            wait_for(lambda: _messages(state).count("cycle finished") >= 5)
            threads, sockets = _fewest_threads(run, 3.0), len(run.net_connections("tcp"))
            took = _sigterm(proc)
        finally:
            proc.kill()
    # Each cycle's requests end by its deadline: nothing piles up from cycle to cycle (the old
    # client went from 5 threads to 17 and 12 connections in five cycles).
    assert threads <= first + 2 and sockets <= 4, (first, threads, sockets)
    assert proc.returncode == 0 and took <= 10.5, (took, _run_err(tmp_path))

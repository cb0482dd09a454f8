"""Faults found by attacking the generator: each test reproduces one, and shows it mended."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import httpx

from sitegen.cli import main
from sitegen.metrics import SelfMetrics, serve
from sitegen.sources.base import Part
from sitegen.sources.logs import TAIL_STATE as LOGS_TAIL
from sitegen.sources.traces import TAIL_STATE as TRACES_TAIL
from sitegen.state import LastGood
from tests.promserver import free_port


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

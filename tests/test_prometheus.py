"""Prometheus panels against a real server: exact numbers, failures per panel, staleness."""

from __future__ import annotations

import http.server
import json
import math
import threading
import time
from pathlib import Path

import pytest

from sitegen.cli import main
from sitegen.config import PrometheusConfig, parse
from sitegen.sources.prometheus import client, queries, query_panel, step_for
from tests.promserver import EXPECTED_QUANTILES, PromServer

PANELS = """
[[panels]]
title = "Requests"
query = 'sum by (service) (rate(http_requests_total[5m]))'
unit = "req/s"
legend = "{{service}}"

[[panels]]
title = "Latency"
histogram = 'http_request_duration_seconds{service="checkout"}'
unit = "seconds"

[[panels]]
title = "Odd values"
query = 'odd_value'

[[panels]]
title = "Broken query"
query = 'sum(rate(http_requests_total[5m]'

[[panels]]
title = "Nothing here"
query = 'no_such_metric'
"""


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory):
    server = PromServer(tmp_path_factory.mktemp("prom"))
    server.start()
    yield server
    server.stop()


def render(config: Path) -> dict:
    assert main(["render", "--config", str(config), "--quiet"]) == 0
    return json.loads((config.parent / "public/data/snapshot.json").read_text())


def panel(doc: dict, title: str) -> dict:
    return next(p for p in doc["panels"] if p["title"] == title)


def test_numbers_match_promql_then_go_stale_and_come_back(prom: PromServer, tmp_path: Path) -> None:
    config = tmp_path / "sitegen.toml"
    config.write_text(
        f'[site]\nworkers = 2\n[prometheus]\nurl = "{prom.url}"\ntimeout_seconds = 2\n{PANELS}'
    )
    doc = render(config)
    assert doc["sources"]["prometheus"] == {"ok": True, "stale_since": None, "error": None}

    requests = panel(doc, "Requests")
    last = {s["labels"]["service"]: s["last"] for s in requests["series"]}
    direct = prom.query("sum by (service) (rate(http_requests_total[5m]))", time.time())
    assert {r["metric"]["service"]: float(r["value"][1]) for r in direct} == pytest.approx(last)
    assert last == pytest.approx({"checkout": 0.1, "cart": 0.2})
    (checkout,) = [s for s in requests["series"] if s["labels"]["service"] == "checkout"]
    # About one point per column over the hour, none near the 11,000-point limit.
    assert 500 <= len(checkout["points"]) <= 700
    assert all(v == pytest.approx(0.1) for _, v in checkout["points"])

    latency = panel(doc, "Latency")
    got = {s["labels"]["quantile"]: s["last"] for s in latency["series"]}
    assert got == pytest.approx(EXPECTED_QUANTILES)

    odd = panel(doc, "Odd values")
    values = {s["labels"]["kind"]: s["points"][-1][1] for s in odd["series"]}
    assert values == {"nan": None, "inf": None}  # JSON has no NaN/Inf: null, and the page says so

    broken = panel(doc, "Broken query")
    assert (
        broken["error"].startswith("PromQL error (bad_data:") and "parse error" in broken["error"]
    )
    assert panel(doc, "Nothing here")["series"] == []

    page = (tmp_path / "public/metrics/index.html").read_text()
    assert "checkout <b>100m req/s</b>" in page or "checkout <b>0.1 req/s</b>" in page
    assert "<b>475 ms</b>" in page and "<b>100 ms</b>" in page
    assert "the query returned no series" in page and "+Inf" in page and "NaN" in page
    assert "parse error" in page

    prom.stop()
    try:
        started = time.monotonic()
        doc = render(config)
        assert time.monotonic() - started < 15  # a dead server never stalls a cycle
        status = doc["sources"]["prometheus"]
        assert status["ok"] is False and "connection refused" in status["error"]
        assert status["stale_since"] is not None
        stale = panel(doc, "Requests")
        assert stale["stale_since"] == status["stale_since"]
        assert {s["labels"]["service"]: s["last"] for s in stale["series"]} == last
        page = (tmp_path / "public/metrics/index.html").read_text()
        assert "stale since" in page and "connection refused" in page
        assert doc["sources"]["host"]["ok"]  # the rest of the site renders
    finally:
        prom.start()
    doc = render(config)
    assert doc["sources"]["prometheus"] == {"ok": True, "stale_since": None, "error": None}
    assert panel(doc, "Requests")["stale_since"] is None


def test_histogram_panels_become_one_quantile_query_each() -> None:
    cfg = parse(
        '[[panels]]\ntitle = "l"\nhistogram = \'h{job="a"}\'\nby = ["service"]\n'
        'percentiles = [0.9]\nrate = "1m"\n',
        env={},
    )
    (q,) = queries(cfg.panels[0])
    assert (
        q.promql == 'histogram_quantile(0.9, sum by (le, service) (rate(h_bucket{job="a"}[60s])))'
    )
    assert q.extra == (("quantile", "0.9"),) and q.legend == "p90 {{service}}"


@pytest.mark.parametrize(("seconds", "step"), [(3600, 7), (60, 1), (90 * 86400, 13739)])
def test_step_gives_about_one_point_per_column(seconds: int, step: int) -> None:
    assert step_for(seconds) == step
    assert math.ceil(seconds / step) <= 11_000


def test_the_stack_sample_config_is_valid_and_its_promql_parses(prom: PromServer) -> None:
    env = {
        "STACK_DIR": "/tmp/stack",
        "STACK_SITEGEN_PORT": "19464",
        "STACK_PROMETHEUS_URL": prom.url,
    }
    text = (Path(__file__).parent.parent / "scripts/stack-sitegen.toml").read_text()
    cfg = parse(text, env=env)
    assert len(cfg.panels) >= 12
    for p in cfg.panels:
        for q in queries(p):
            prom.query(q.promql, time.time())  # raises on a PromQL parse error (HTTP 400)


class Faulty(http.server.BaseHTTPRequestHandler):
    """A stand-in server for faults a healthy Prometheus won't produce on demand."""

    mode = "503"
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        if self.mode == "slow":
            time.sleep(3)
        body = b'{"status":"error","errorType":"unavailable","error":"overloaded, try later"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("mode", "error", "hits"),
    [("503", "HTTP 503 from http://127.0.0.1:", 3), ("slow", "timed out after 0.5s", 3)],
)
def test_5xx_and_timeouts_are_retried_within_the_deadline(
    cfg, mode: str, error: str, hits: int
) -> None:
    Faulty.mode, Faulty.hits = mode, 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        panel = parse('[[panels]]\ntitle = "x"\nquery = "up"\n', env={}).panels[0]
        prom_cfg = PrometheusConfig(url=url, timeout_seconds=0.5)
        started = time.monotonic()
        result = query_panel(client(prom_cfg), prom_cfg, panel, time.time(), started + 5)
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
    assert result.error.startswith(error), result.error
    if mode == "503":
        assert "unavailable: overloaded, try later" in result.error
    assert Faulty.hits == hits  # three tries, then the panel shows the error


def test_retries_stop_at_the_deadline(cfg) -> None:
    Faulty.mode, Faulty.hits = "slow", 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        prom_cfg = PrometheusConfig(url=f"http://127.0.0.1:{server.server_address[1]}")
        panel = parse('[[panels]]\ntitle = "x"\nquery = "up"\n', env={}).panels[0]
        started = time.monotonic()
        result = query_panel(client(prom_cfg), prom_cfg, panel, time.time(), started + 1.2)
        assert time.monotonic() - started < 2.5
    finally:
        server.shutdown()
    assert result.error is not None and Faulty.hits <= 2

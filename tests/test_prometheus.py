"""Prometheus panels against a real server: exact numbers, failures per panel, staleness."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_api_client import PrometheusConnect

from sitegen.cli import main
from sitegen.config import PrometheusConfig, parse
from sitegen.sources import httpapi
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
    """A stand-in server for faults a healthy Prometheus won't produce on demand.

    Modes: "503" (overloaded), "slow" (3 s before answering), "trickle" (a byte a second,
    forever), "answers" (each query's (status, body) from `answers`; a real-looking empty
    vector for any other query).
    """

    mode = "503"
    hits = 0
    answers: ClassVar[dict[str, tuple[int, bytes]]] = {}
    seen: ClassVar[list[tuple[str, str | None]]] = []  # (path, Authorization) of each request

    def do_GET(self) -> None:
        type(self).hits += 1
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.mode == "slow":
            time.sleep(3)
        status, body = (
            503,
            b'{"status":"error","errorType":"unavailable","error":"overloaded, try later"}',
        )
        if self.mode == "answers":
            query = parse_qs(urlsplit(self.path).query).get("query", [""])[0]
            empty = b'{"status":"success","data":{"resultType":"matrix","result":[]}}'
            status, body = self.answers.get(query, (200, empty))
        # The client may hang up first (its deadline): that is the point, not an error.
        with contextlib.suppress(OSError):
            if self.mode == "trickle":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
                while True:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(1)  # the fault itself: one byte a second
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def faulty(mode: str, answers: dict[str, tuple[int, bytes]] | None = None) -> Iterator[str]:
    """Serve Faulty in `mode` on a loopback port; yield its URL."""
    Faulty.mode, Faulty.hits, Faulty.answers, Faulty.seen = mode, 0, answers or {}, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    server.daemon_threads = True  # a trickling handler ends when its client hangs up
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("mode", "error", "hits"),
    [("503", "HTTP 503 from http://127.0.0.1:", 3), ("slow", "timed out after 0.5s", 3)],
)
def test_5xx_and_timeouts_are_retried_within_the_deadline(
    cfg, mode: str, error: str, hits: int
) -> None:
    with faulty(mode) as url:
        panel = parse('[[panels]]\ntitle = "x"\nquery = "up"\n', env={}).panels[0]
        # A short timeout only where a timeout is tested: a loaded machine may stall the
        # stand-in's quick answers for a few tenths of a second.
        prom_cfg = PrometheusConfig(url=url, timeout_seconds=0.5 if mode == "slow" else 3)
        started = time.monotonic()
        result = query_panel(
            client(prom_cfg, httpapi.client()), prom_cfg, panel, time.time(), started + 5
        )
        assert time.monotonic() - started < 5
    assert result.error.startswith(error), result.error
    if mode == "503":
        assert "unavailable: overloaded, try later" in result.error
    assert Faulty.hits == hits  # three tries, then the panel shows the error


def test_retries_stop_at_the_deadline(cfg) -> None:
    with faulty("slow") as url:
        prom_cfg = PrometheusConfig(url=url)
        panel = parse('[[panels]]\ntitle = "x"\nquery = "up"\n', env={}).panels[0]
        started = time.monotonic()
        result = query_panel(
            client(prom_cfg, httpapi.client()), prom_cfg, panel, time.time(), started + 1.2
        )
        assert time.monotonic() - started < 2.5
    assert result.error is not None and Faulty.hits <= 2


def test_the_library_queries_with_our_credentials_and_its_errors_reach_the_panel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Record what prometheus-api-client is asked, then let it ask the stand-in for real.
    called = []
    for name in ("custom_query_range", "custom_query"):
        real = getattr(PrometheusConnect, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            called.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(PrometheusConnect, name, spy)
    bad = (400, b'{"status":"error","errorType":"bad_data","error":"unexpected end of input"}')
    ok = _answer([{"metric": {"job": "x"}, "values": [[time.time() - 60, "2"]]}])
    panels = parse(
        '[[panels]]\ntitle = "ok"\nquery = "ok"\n[[panels]]\ntitle = "bad"\nquery = "bad("\n',
        env={},
    ).panels
    with faulty("answers", {"ok": ok, "bad(": bad}) as url:
        prom_cfg = PrometheusConfig(url=url, bearer_token="t0k3n")
        deadline = time.monotonic() + 10
        good = query_panel(
            client(prom_cfg, httpapi.client()), prom_cfg, panels[0], time.time(), deadline
        )
        prom_cfg = PrometheusConfig(url=url, username="u", password="p")
        failed = query_panel(
            client(prom_cfg, httpapi.client()), prom_cfg, panels[1], time.time(), deadline
        )
    assert called == ["custom_query_range", "custom_query", "custom_query_range"]
    assert [s.points[-1][1] for s in good.series] == [2.0] and good.error is None
    # The library raises PrometheusApiClientException on the 400; its body is the error text.
    assert failed.error == "PromQL error (bad_data: unexpected end of input)"
    paths = [urlsplit(path).path for path, _ in Faulty.seen]
    assert paths == ["/api/v1/query_range", "/api/v1/query", "/api/v1/query_range"]
    range_params = parse_qs(urlsplit(Faulty.seen[0][0]).query)
    assert range_params["query"] == ["ok"] and set(range_params) == {
        "query",
        "start",
        "end",
        "step",
    }
    # The series know the step they were asked at: a chart tells a gap even from two points.
    assert [s.step for s in good.series] == [float(range_params["step"][0])]
    basic = "Basic " + base64.b64encode(b"u:p").decode()
    assert [auth for _, auth in Faulty.seen] == ["Bearer t0k3n", "Bearer t0k3n", basic]


def test_the_session_answers_every_way_the_library_asks() -> None:
    # request() and .ok (check_prometheus_connection), get() (get_series; 0.6's queries).
    with faulty("answers") as url, httpapi.client() as http:
        prom = client(PrometheusConfig(url=url), http)
        assert prom.check_prometheus_connection() is True
        assert prom.get_series(datetime.now(UTC), datetime.now(UTC)) == {
            "resultType": "matrix",
            "result": [],
        }
    with faulty("503") as url, httpapi.client() as http:
        assert client(PrometheusConfig(url=url), http).check_prometheus_connection() is False
    assert [urlsplit(path).path for path, _ in Faulty.seen] == ["/"]


def _answer(series: list, kind: str = "matrix") -> tuple[int, bytes]:
    return 200, json.dumps(
        {"status": "success", "data": {"resultType": kind, "result": series}}
    ).encode()


def _render_against(
    url: str, tmp_path: Path, panels: str, redact: str = "", interval: int = 30
) -> dict:
    # The sources get half the interval: 15 s by default, so a loaded machine still answers.
    config = tmp_path / "sitegen.toml"
    config.write_text(
        f'[site]\nworkers = 1\ninterval_seconds = {interval}\n[prometheus]\nurl = "{url}"\n'
        f"timeout_seconds = 5\n{redact}{panels}"
    )
    return render(config)


def test_a_trickling_server_costs_the_deadline_not_more_and_leaves_no_thread(
    tmp_path: Path,
) -> None:
    # A per-read timeout never fires on a byte a second: only a whole-request limit does.
    before = set(threading.enumerate())
    with faulty("trickle") as url:
        started = time.monotonic()
        doc = _render_against(url, tmp_path, '[[panels]]\ntitle = "t"\nquery = "up"\n', interval=4)
        took = time.monotonic() - started
        # Threads of this test's stand-in server aside, nothing the cycle started is left.
        left = [t.name for t in set(threading.enumerate()) - before if "serve" not in t.name
                and "process_request" not in t.name]  # fmt: skip
    assert took < 15, took  # the sources' deadline is 2 s (half the interval of 4 s)
    assert "timed out after" in doc["sources"]["prometheus"]["error"]
    assert left == []


MALFORMED = {
    "bad_point": _answer([{"metric": {"a": "1"}, "values": [[1, "x"], [2]]}]),
    "not_a_list": _answer({"oops": 1}),
    "not_json": (200, b"<html>proxy</html>"),
    "metric_list": _answer([{"metric": ["a"], "values": []}]),
}


def test_a_malformed_answer_costs_only_its_panel(tmp_path: Path) -> None:
    panels = "".join(f'[[panels]]\ntitle = "{q}"\nquery = "{q}"\n' for q in MALFORMED)
    panels += '[[panels]]\ntitle = "good"\nquery = "good"\n'
    good = _answer([{"metric": {"job": "x"}, "values": [[time.time() - 60, "1.5"]]}])
    with faulty("answers", {**MALFORMED, "good": good}) as url:
        doc = _render_against(url, tmp_path, panels)
    assert doc["sources"]["prometheus"]["ok"] is True
    errors = {q: panel(doc, q)["error"] for q in MALFORMED}
    assert errors["bad_point"].startswith("malformed series #0 in the answer"), errors
    assert errors["metric_list"].startswith("malformed series #0 in the answer"), errors
    assert errors["not_a_list"].startswith("malformed answer from http://127.0.0.1:"), errors
    assert errors["not_json"].startswith("not JSON from http://127.0.0.1:"), errors
    assert panel(doc, "good")["series"][0]["last"] == 1.5


def test_series_label_length_and_answer_size_are_capped(tmp_path: Path) -> None:
    now = time.time()
    many = [
        {"metric": {"i": str(i), "long": "v" * 10_000}, "values": [[now - 60, str(i)]]}
        for i in range(10_000)
    ]
    huge = [{"metric": {"i": "0"}, "values": [[now - 60, "1"]] * 400_000}]
    panels = '[[panels]]\ntitle = "many"\nquery = "many"\n'
    panels += '[[panels]]\ntitle = "few"\nquery = "many"\nmax_series = 3\n'
    panels += '[[panels]]\ntitle = "huge"\nquery = "huge"\n'
    short = [{**s, "metric": {"i": s["metric"]["i"]}} for s in many]
    with faulty("answers", {"many": _answer(short), "huge": _answer(huge)}) as url:
        doc = _render_against(url, tmp_path, panels)
    drawn = panel(doc, "many")
    assert (
        len(drawn["series"]) == 50
        and drawn["note"] == "9950 more series not shown (max_series = 50)"
    )
    # The largest newest values are the ones kept.
    assert sorted(s["last"] for s in drawn["series"]) == [float(i) for i in range(9950, 10_000)]
    assert [s["last"] for s in panel(doc, "few")["series"]] == [9999.0, 9998.0, 9997.0]
    assert panel(doc, "huge")["error"].endswith("is larger than 4194304 bytes")
    page = (tmp_path / "public/metrics/index.html").read_bytes()
    assert len(page) < 300_000 and b"9950 more series not shown" in page
    with faulty("answers", {"many": _answer(many[:60])}) as url:
        doc = _render_against(url, tmp_path, '[[panels]]\ntitle = "l"\nquery = "many"\n')
    (label,) = {s["labels"]["long"] for s in panel(doc, "l")["series"]}
    assert label == "v" * 119 + "…"


def test_labels_titles_queries_and_error_texts_are_redacted(tmp_path: Path) -> None:
    now = time.time()
    secret = _answer([{"metric": {"dsn": "postgres://app:hunter2@db/x", "tenant": "TENANT-123456"},
                       "values": [[now - 60, "1"]]}])  # fmt: skip
    html_500 = (500, b"<html><body>upstream auth failed for Bearer abcdefghijkl0123456789</body>")
    bad_400 = (
        400,
        b'{"status":"error","errorType":"bad_data","error":"parse error near password=hunter3"}',
    )
    panels = (
        '[[panels]]\ntitle = "labels"\nquery = "secret"\n'
        '[[panels]]\ntitle = "token TENANT-999999"\nquery = "html"\n'
        '[[panels]]\ntitle = "promql"\nquery = \'up{key="TENANT-424242"}\'\n'
        '[[panels]]\ntitle = "bad"\nquery = "bad"\n'
    )
    with faulty("answers", {"secret": secret, "html": html_500, "bad": bad_400}) as url:
        doc = _render_against(
            url, tmp_path, panels, redact='[redact]\npatterns = ["TENANT-\\\\d{6}"]\n'
        )
    labels = panel(doc, "labels")["series"][0]["labels"]
    assert labels == {"dsn": "postgres://app:[REDACTED]@db/x", "tenant": "[REDACTED]"}
    failed = panel(doc, "token [REDACTED]")["error"]
    assert failed.startswith("HTTP 500 from") and "Bearer [REDACTED]" in failed
    assert panel(doc, "promql")["query"] == 'up{key="[REDACTED]"}'
    # The 400's own message, masked (the ")" after it is taken as part of the value).
    failed = panel(doc, "bad")["error"]
    assert failed == "PromQL error (bad_data: parse error near password=[REDACTED]"
    site = b"".join(p.read_bytes() for p in (tmp_path / "public").rglob("*") if p.is_file())
    state = b"".join(p.read_bytes() for p in (tmp_path / ".sitegen").rglob("*") if p.is_file())
    for leak in (
        b"hunter2",
        b"hunter3",
        b"TENANT-123456",
        b"TENANT-999999",
        b"abcdefghijkl0123456789",
    ):
        assert leak not in site and leak not in state, leak

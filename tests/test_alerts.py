"""Alerts and incidents: transitions, state across restarts, the source, pages, feed, badges."""

from __future__ import annotations

import dataclasses
import http.server
import json
import re
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import feedparser
import httpx
import pytest

from sitegen.alerts.badges import COLOURS, badge, badges, stat_badge
from sitegen.alerts.feed import feed_atom
from sitegen.alerts.files import alert_files
from sitegen.alerts.incidents import (
    IncidentStore,
    Tracked,
    failing_sources,
    firing_links,
    transition,
    witness,
)
from sitegen.alerts.pages import incident_pages
from sitegen.alerts.select import parse_matcher, public
from sitegen.alerts.status import day_strip
from sitegen.cli import main
from sitegen.config import ConfigError, parse
from sitegen.history import History
from sitegen.model import Alert, Incident, Panel, Series, Snapshot, SourceStatus
from sitegen.render.environment import iso
from sitegen.render.keys import task_key
from sitegen.render.rounds import render_site
from sitegen.render.tasks import PAGE_BUDGET, Common, PageTask, render_all, render_page
from sitegen.render.twins import twins
from sitegen.site.output import content_type
from sitegen.site.publish import cache_control
from sitegen.sources.alerts import alertmanager_alerts, prometheus_alerts, scrubbed
from sitegen.sources.base import SourceContext
from sitegen.sources.selfmetrics import site_stats
from sitegen.synthetic import Workload, snapshot
from tests.alertmanager import AlertmanagerServer, Switch
from tests.promserver import PromServer

DAY = 86400.0
NOW = 1_795_953_600.0  # 2026-11-29T12:00:00Z
KEEP = 90 * DAY


def alert(name: str = "HighLatency", since: float | None = NOW - 60, **labels: str) -> Alert:
    labels = {"alertname": name, "severity": "critical", **labels}
    return Alert(name, labels["severity"], f"{name} summary", tuple(sorted(labels.items())), since)


def test_an_incident_opens_continues_and_closes_with_its_duration():
    t = transition(Tracked(since=NOW - DAY), (alert(),), frozenset(), NOW, KEEP)
    [opened] = t.incidents
    assert (opened.name, opened.start, opened.end) == ("HighLatency", NOW - 60, None)
    t = transition(t, (alert(),), frozenset(), NOW + 30, KEEP)
    assert t.incidents == (opened,)  # still the same incident, same id
    t = transition(t, (), frozenset(), NOW + 60, KEEP)
    [closed] = t.incidents
    assert (closed.id, closed.end, closed.duration) == (opened.id, NOW + 60, 120.0)


def test_a_failed_source_neither_opens_nor_closes_its_incidents():
    t = transition(Tracked(since=NOW), (alert(),), frozenset(), NOW, KEEP)
    silent = frozenset({"prometheus"})
    t2 = transition(t, (), silent, NOW + 30, KEEP)
    assert t2.incidents[0].end is None
    t3 = transition(t2, (alert("Other"),), silent, NOW + 60, KEEP)
    assert [i.name for i in t3.incidents] == ["HighLatency"]


def test_ids_are_stable_and_distinct_per_alert_and_start():
    a = transition(Tracked(since=NOW), (alert(),), frozenset(), NOW, KEEP).incidents[0]
    b = transition(Tracked(since=0), (alert(),), frozenset(), NOW + 99, KEEP).incidents[0]
    c = transition(Tracked(since=NOW), (alert(since=NOW - 5),), frozenset(), NOW, KEEP)
    d = transition(Tracked(since=NOW), (alert(job="x"),), frozenset(), NOW, KEEP)
    assert a.id == b.id
    assert len({a.id, c.incidents[0].id, d.incidents[0].id}) == 3


def test_refiring_opens_a_new_incident_that_never_overlaps_the_last():
    t = transition(Tracked(since=NOW), (alert(since=NOW - 600),), frozenset(), NOW, KEEP)
    t = transition(t, (), frozenset(), NOW + 30, KEEP)
    # The source still reports the old activeAt (it restarted its rule): starts at the end.
    t = transition(t, (alert(since=NOW - 600),), frozenset(), NOW + 60, KEEP)
    new, old = t.incidents
    assert new.end is None and new.start == NOW + 30 and new.id != old.id
    # A third time: it starts after the newest of the two that ended, not the oldest.
    t = transition(t, (), frozenset(), NOW + 90, KEEP)
    t = transition(t, (alert(since=NOW - 600),), frozenset(), NOW + 120, KEEP)
    assert [i.start for i in t.incidents] == [NOW + 90, NOW + 30, NOW - 600]


def test_ongoing_first_then_newest_and_old_ones_dropped_after_keep_days():
    t = Tracked(since=NOW - 100 * DAY)
    t = transition(t, (alert("Old", since=NOW - 95 * DAY),), frozenset(), NOW - 95 * DAY, KEEP)
    t = transition(t, (), frozenset(), NOW - 91 * DAY, KEEP)
    t = transition(t, (alert("A", since=NOW - 3 * DAY),), frozenset(), NOW - 3 * DAY, KEEP)
    both = (alert("A", since=NOW - 3 * DAY), alert("B", since=NOW - 2 * DAY))
    t = transition(t, both, frozenset(), NOW - 2 * DAY, KEEP)
    t = transition(t, (alert("A"),), frozenset(), NOW - DAY, KEEP)  # B ends
    assert [(i.name, i.end is None) for i in t.incidents] == [
        ("A", True),
        ("B", False),
        ("Old", False),
    ]
    t = transition(t, (alert("A"),), frozenset(), NOW, KEEP)
    assert [i.name for i in t.incidents] == ["A", "B"]


def test_incidents_survive_a_restart_and_garbage_state_is_moved_aside(tmp_path: Path):
    store = IncidentStore(tmp_path)
    t = transition(store.load(NOW), (alert(),), frozenset(), NOW, KEEP)
    store.save(t)
    assert IncidentStore(tmp_path).load(NOW + 10) == t
    store.path.write_text('{"since": 1, "incidents": [{"id": 3}]}')
    assert IncidentStore(tmp_path).load(NOW + 20) == Tracked(since=NOW + 20)
    assert not store.path.exists()
    assert len(list(tmp_path.glob("incidents.json.corrupt-*"))) == 1


def test_a_source_failing_three_cycles_in_a_row_raises_an_alert_of_sitegens_own():
    bad = (SourceStatus("logs", False, error="boom"), SourceStatus("host", True))
    t, raised = Tracked(since=NOW), ()
    for n in range(3):
        assert raised == ()
        t, raised = failing_sources(t, bad, NOW + 30 * n, 3)
    [a] = raised
    assert (a.name, a.source, dict(a.labels), a.since) == ("SourceFailing", "sitegen",
                                                          {"source": "logs"}, NOW)  # fmt: skip
    t, raised = failing_sources(t, (SourceStatus("logs", True),), NOW + 90, 3)
    assert raised == () and t.failing == ()


def test_witness_opens_an_incident_for_a_failing_source_and_closes_it(tmp_path: Path):
    cfg = parse("").alerts
    bad = (SourceStatus("logs", False, error="boom"),)
    for n in range(3):
        w = witness(cfg, tmp_path, (), bad, NOW + 30 * n)
    [i] = w.tracked.incidents
    assert i.name == "SourceFailing" and i.start == NOW and w.alerts
    w = witness(cfg, tmp_path, (), (SourceStatus("logs", True),), NOW + 90)
    assert w.tracked.incidents[0].end == NOW + 90 and w.alerts == ()


def test_matchers_and_severities_choose_what_is_public():
    alerts = [alert("A", team="web"), alert("B", team="db"), alert("C", severity="info")]
    assert [a.name for a in public(alerts, ("critical",), ())] == ["A", "B"]
    assert [a.name for a in public(alerts, (), ('team=~"w.*"',))] == ["A"]
    assert [a.name for a in public(alerts, (), ('team!="web"',))] == ["B", "C"]
    assert [a.name for a in public(alerts, (), ('team!~"web|db"', 'alertname="C"'))] == ["C"]
    assert parse_matcher(r'x="a\"b"').value == 'a"b'


def test_alerts_config_errors_name_the_key():
    with pytest.raises(ConfigError) as err:
        parse('[alerts]\nmatchers = ["team"]\nkeep_days = 0\nalertmanager_url = "x"\n')
    text = str(err.value)
    assert "alerts.matchers: not a label matcher" in text
    assert "alerts.keep_days: must be between 1" in text
    assert "alerts.alertmanager_url: must be an http(s) URL" in text
    assert parse("").alerts.prometheus is False  # no [prometheus]: its alerts are not read
    assert parse("[prometheus]\n").alerts.prometheus is True
    assert parse('[prometheus]\n[alerts]\nalertmanager_url = "http://a:9093"').alerts.prometheus \
        is False  # fmt: skip


def test_the_strip_marks_days_by_incidents_and_probes_and_unknown_before_tracking():
    t = transition(Tracked(since=NOW - 10 * DAY), (alert(since=NOW - 2 * DAY),), frozenset(),
                   NOW - 2 * DAY, KEEP)  # fmt: skip
    t = transition(t, (), frozenset(), NOW - 2 * DAY + 600, KEEP)
    probes = {"2026-11-28": (3, 4)}
    days = day_strip(t, lambda since: probes, NOW, KEEP)
    assert len(days) == 90 and days[-1].date == "2026-11-29"
    by = {d.date: d for d in days}
    assert by["2026-11-27"].state == "down" and by["2026-11-27"].incidents == (t.incidents[0].id,)
    assert (by["2026-11-28"].state, by["2026-11-28"].availability) == ("degraded", 75.0)
    assert by["2026-11-29"].state == "ok" and by["2026-11-18"].state == "unknown"
    assert by["2026-11-19"].state == "ok"  # tracking began that day
    assert json.dumps([d.__dict__ for d in days])  # plain data
    # Incidents are kept 1 day here: the days before that are unknown, not "ok".
    short = {d.date: d.state for d in day_strip(t, lambda since: probes, NOW, DAY)}
    assert (short["2026-11-26"], short["2026-11-27"], short["2026-11-28"]) == (
        "unknown",
        "down",  # an incident still in state counts wherever it falls
        "degraded",  # partly within the day kept: the probes count
    )


# --- the source, on documented answers and on real servers ---

FIXTURES = Path(__file__).parent / "fixtures" / "alerts"
PROM_CONFIG = """
global:
  scrape_interval: 1s
  evaluation_interval: 1s
# The backfilled blocks reach an hour ahead: the exporter's samples are "older" than them.
storage:
  tsdb:
    out_of_order_time_window: 2h
rule_files: [rules.yml]
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ["{target}"]
"""


def test_prometheus_answer_keeps_firing_alerts_and_skips_bad_entries_alone():
    answer = json.loads((FIXTURES / "prometheus-alerts.json").read_text())
    alerts, bad = prometheus_alerts(answer)
    assert bad == 2
    assert [(a.name, a.severity) for a in alerts] == [
        ("HighRequestLatency", "page"),
        ("DiskFull", "critical"),
        ("ReplicaLag", "warning"),
    ]
    assert alerts[0].since == pytest.approx(1530728832.606, abs=0.001)
    assert alerts[0].summary == "High request latency"
    assert alerts[1].since is None  # Go's zero time: unknown, not year 1


def test_secrets_in_alerts_are_redacted_and_long_texts_cut():
    answer = json.loads((FIXTURES / "prometheus-alerts.json").read_text())
    lag = prometheus_alerts(answer)[0][2]
    safe = scrubbed(lag, (r"TENANT-\d{6}",))
    labels = dict(safe.labels)
    assert safe.summary == "replica lag on postgres://app:[REDACTED]@db1/shop"
    assert (labels["password"], labels["tenant"]) == ("[REDACTED]", "[REDACTED]")
    assert "hunter2" not in repr(safe)
    long = scrubbed(dataclasses.replace(lag, summary="x" * 5000, labels=(("k", "v" * 500),)), ())
    assert len(long.summary) == 500 and long.summary.endswith("…")
    assert dict(long.labels)["k"] == "v" * 119 + "…"


def test_alertmanager_answer_keeps_active_alerts_only():
    answer = json.loads((FIXTURES / "alertmanager-alerts.json").read_text())
    alerts, bad = alertmanager_alerts(answer)
    assert bad == 0
    [a] = alerts
    assert (a.name, a.source, dict(a.labels)["team"]) == ("V2SitesOffline", "alertmanager", "hit")
    assert a.since == pytest.approx(1675698734.957, abs=0.001)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    """Poll until check() holds; real servers take a scrape and an evaluation to move."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def firing(url: str) -> set[str]:
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


@pytest.fixture(scope="module")
def rules_prom(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("prom-rules")
    switch = Switch()
    server = PromServer(workdir)
    shutil.copy(FIXTURES / "rules.yml", workdir / "rules.yml")
    (workdir / "prometheus.yml").write_text(PROM_CONFIG.format(target=switch.address))
    server.start()
    yield server, switch
    server.stop()
    switch.close()


def render(config: Path) -> dict:
    assert main(["render", "--config", str(config), "--quiet"]) == 0
    return json.loads((config.parent / "public/data/status.json").read_text())


def svg_badge(body: bytes) -> str:
    """Return a badge's <title> after checking it is small, well-formed SVG."""
    assert len(body) < 1024
    root = ET.fromstring(body)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("role") == "img"
    return root.findtext("{http://www.w3.org/2000/svg}title")


def test_a_real_rule_fires_then_resolves_across_cycles_and_a_restart(rules_prom, tmp_path):
    server, switch = rules_prom
    base = "https://status.example.org/shop"
    config = tmp_path / "sitegen.toml"
    config.write_text(
        f'[site]\ntitle = "shop"\nbase_url = "{base}"\nworkers = 1\n'
        f'[prometheus]\nurl = "{server.url}"\n'
        "[alerts]\nmatchers = ['public=\"true\"']\n"
    )
    site = tmp_path / "public"
    switch.value = 1
    wait_for(lambda: firing(server.url) == {"CartTrafficHigh", "InternalOnly"}, "the rules to fire")

    status = render(config)
    assert status["state"] == "down"
    [alert] = status["alerts"]
    assert (alert["name"], alert["severity"]) == ("CartTrafficHigh", "critical")
    assert alert["summary"] == "cart takes 0.2 requests/s" and alert["since"]
    [incident] = status["incidents"]
    assert incident["end"] is None and incident["url"] == f"incidents/{incident['id']}.html"
    refreshing = ["index.html", "metrics/index.html", "logs/index.html", "traces/index.html",
                  "about/index.html", "incidents/index.html", incident["url"]]  # fmt: skip
    for page in refreshing:
        html = (site / page).read_text()
        assert 'class="alerting"' in html and "CartTrafficHigh" in html, page
        assert "cart takes 0.2 requests/s" in html, page
        assert 'rel="alternate" type="application/atom+xml"' in html, page
    for path in site.rglob("*"):
        if path.is_file():
            assert b"InternalOnly" not in path.read_bytes(), path  # not public
    trace_pages = [
        p for p in site.glob("traces/*.html") if re.fullmatch(r"[0-9a-f]{32}\.html", p.name)
    ]
    assert trace_pages  # sitegen's own cycles are traces
    for trace_page in trace_pages:  # a finished trace carries no alert state
        assert 'class="alerting"' not in trace_page.read_text()
    ongoing_page = (site / incident["url"]).read_text()
    assert 'http-equiv="refresh"' in ongoing_page  # a reader watching it sees it resolve
    still = incident["url"].replace(".html", ".still.html")
    assert 'http-equiv="refresh"' not in (site / still).read_text()
    feed = feedparser.parse((site / "feed.atom").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    [entry] = feed.entries
    assert entry.link == f"{base}/{incident['url']}" and entry.title.startswith("started:")
    assert svg_badge((site / "badges/status.svg").read_bytes()) == "status: down"
    assert svg_badge((site / "badges/availability-30d.svg").read_bytes()).endswith("unknown")

    # Another run (a restart: a new process, state from disk) carries the same incident on.
    again = render(config)
    assert [(i["id"], i["end"]) for i in again["incidents"]] == [(incident["id"], None)]

    switch.value = 0
    wait_for(lambda: not firing(server.url), "the rules to resolve")
    status = render(config)
    assert status["state"] == "ok" and status["alerts"] == []
    [closed] = status["incidents"]
    assert closed["id"] == incident["id"] and closed["end"] >= closed["start"]
    permalink = (site / incident["url"]).read_text()
    assert "✓ resolved" in permalink and "lasted" in permalink
    assert 'http-equiv="refresh"' not in permalink and 'class="alerting"' not in permalink
    listing = (site / "incidents/index.html").read_text()
    assert 'http-equiv="refresh"' in listing and 'href="still.html"' in listing
    assert 'http-equiv="refresh"' not in (site / "incidents/still.html").read_text()
    assert "✓ all quiet" in (site / "index.html").read_text()
    feed = feedparser.parse((site / "feed.atom").read_bytes())
    assert not feed.bozo
    assert [e.title.split(":")[0] for e in feed.entries] == ["resolved", "started"]
    assert "lasted" in feed.entries[0].summary and feed.entries[0].link.startswith(base)
    assert svg_badge((site / "badges/status.svg").read_bytes()) == "status: ok"
    # A resolved incident's page is published once: the next cycle writes the same bytes.
    render(config)
    assert (site / incident["url"]).read_text() == permalink


@pytest.fixture
def alertmanager(tmp_path: Path):
    server = AlertmanagerServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_alertmanager_alerts_are_read_and_a_silence_is_honoured(alertmanager, tmp_path: Path):
    started = datetime.now(UTC) - timedelta(minutes=5)
    alertmanager.post({"alertname": "CheckoutDown", "severity": "critical"}, "checkout", started)
    alertmanager.post({"alertname": "DiskAlmostFull", "severity": "warning"}, "disk", started)
    alertmanager.silence("DiskAlmostFull")
    config = tmp_path / "sitegen.toml"
    config.write_text(f'[site]\nworkers = 1\n[alerts]\nalertmanager_url = "{alertmanager.url}"\n')
    status = render(config)
    assert [(a["name"], a["summary"]) for a in status["alerts"]] == [("CheckoutDown", "checkout")]
    assert status["alerts"][0]["since"] == started.strftime("%Y-%m-%dT%H:%M:%SZ")
    html = (tmp_path / "public/index.html").read_text()
    assert "CheckoutDown" in html and "DiskAlmostFull" not in html
    [incident] = status["incidents"]
    assert incident["title"] == "CheckoutDown"
    assert not (tmp_path / "public/feed.atom").exists()  # no base_url, no feed

    alertmanager.stop()  # the source fails: its incident is neither closed nor forgotten
    status = render(config)
    assert [i["end"] for i in status["incidents"]] == [None]
    assert (
        "as of the alerts source's last good answer" in (tmp_path / "public/index.html").read_text()
    )


# --- bad input, badges, publishing, the embedded default ---

EVIL = '<script>alert(1)</script> \x1b[31m \u202eevil\n"quoted" & </title>'


def hostile_site() -> tuple[Snapshot, dict[str, bytes]]:
    """Render every page, twin, badge and the feed of a snapshot whose alert is all bad input."""
    snap = snapshot(Workload(panels=1, points=20, traces=1, spans_per_trace=3, log_lines=5))
    now = snap.generated_at
    bad = Alert(f"Bad{EVIL}", "critical", EVIL, (("alertname", "Bad"), ("x", EVIL)), now - 60)
    tracked = transition(Tracked(since=now - DAY), (bad,), frozenset(), now, KEEP)
    stat = Panel(EVIL, "q", "percent", "prometheus", (Series((), ((now, 99.5),)),), kind="stat")
    snap = dataclasses.replace(snap, alerts=(bad,), incidents=tracked.incidents,
                               days=day_strip(tracked, lambda since: {}, now, KEEP),
                               panels=(*snap.panels, stat))  # fmt: skip
    common = Common("t", now, 30, None, "assets/site.css", "", "test", "host", (), (),
                    alerts=firing_links(snap.alerts, snap.incidents), feed=True)  # fmt: skip
    done = render_site(render_all, snap, common, 0,
                       lambda _records, _kept: [])  # fmt: skip
    assert not [r.error for r in done.records if r.error]
    files = {p.path: p.body for p in done.pages}
    return snap, {**files, **twins(snap), **alert_files(snap, "https://example.org")}


def test_bad_alert_text_is_escaped_everywhere_and_costs_nothing_else():
    snap, files = hostile_site()
    incident = snap.incidents[0]
    assert {"index.html", "incidents/index.html", f"incidents/{incident.id}.html"} <= set(files)
    # Pages, the feed and the badges; the JSON twins carry the text as data (checked below).
    for path, body in ((p, b) for p, b in files.items() if not p.endswith(".json")):
        assert b"<script>" not in body and b"\x1b" not in body, path
        assert "\u202e".encode() not in body, path
    index = files["index.html"].decode()
    assert "&lt;script&gt;" in index and "\\x1b" in index and "\\u202e" in index
    feed = feedparser.parse(files["feed.atom"])
    assert not feed.bozo, feed.bozo_exception
    assert "<script>alert(1)</script>" in feed.entries[0].summary  # as text, not markup
    status = json.loads(files["data/status.json"])
    assert status["alerts"][0]["summary"] == EVIL  # JSON carries the text as it was
    assert b"<" not in files["data/status.json"]  # escaped as \u003c: no byte reads as markup
    for path in (p for p in files if p.startswith("badges/")):
        assert svg_badge(files[path]), path


def test_badges_are_small_titled_and_never_invent_a_value():
    snap, files = hostile_site()
    stat = [p for p in files if p.startswith("badges/") and "status" not in p
            and "availability" not in p]  # fmt: skip
    [path] = stat
    title = svg_badge(files[path])
    assert title.endswith(": 99.5%") and "\\x1b" in title
    assert svg_badge(badge("x" * 500, "y" * 500, "#000")).count("…") == 2  # cut, still < 1 KB
    no_data = dataclasses.replace(snap.panels[-1], series=())
    assert svg_badge(stat_badge(no_data)).endswith(": unknown")
    two = dataclasses.replace(snap.panels[-1], series=snap.panels[-1].series * 2)
    assert svg_badge(stat_badge(two)).endswith(": 2 series")


def test_badges_and_the_feed_get_a_short_cache_control():
    for path in ("badges/status.svg", "feed.atom", "data/status.json"):
        assert cache_control(path, 30).startswith("public, max-age=30,"), path
    assert content_type("feed.atom") == "application/atom+xml"


def test_check_says_where_alerts_come_from_and_why_there_is_no_feed(
    tmp_path: Path, capsys: pytest.CaptureFixture
):
    config = tmp_path / "sitegen.toml"
    config.write_text("[site]\ntitle = 'x'\n")
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "no feed.atom: site.base_url is empty" in out
    assert "alerts: from no server (only sitegen's own failing sources)" in out
    config.write_text("[site]\nbase_url = 'https://example.org'\n[prometheus]\n")
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "feed" not in out and "alerts: from Prometheus http://127.0.0.1:9090," in out
    config.write_text("[alerts]\nalertmanager_url = 'http://am:9093'\nkeep_days = 30\n")
    assert main(["check", "--config", str(config)]) == 0
    assert "alerts: from Alertmanager http://am:9093, incidents kept 30 days" in (
        capsys.readouterr().out
    )


def test_the_embedded_default_opens_an_incident_when_a_source_fails_three_cycles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The embedded default plus one source that cannot answer (nothing listens on port 9).
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "sitegen.toml"
    config.write_text('[site]\nworkers = 1\n[traces]\njaeger_url = "http://127.0.0.1:9"\n')
    for _ in range(2):
        assert render(config)["incidents"] == []
    [incident] = render(config)["incidents"]
    assert incident["title"] == "SourceFailing" and incident["end"] is None
    page = (tmp_path / "public" / incident["url"]).read_text()
    assert "jaeger" in page and "✗ ongoing" in page
    config.write_text("[site]\nworkers = 1\n")
    [closed] = render(config)["incidents"]
    assert closed["id"] == incident["id"] and closed["end"] is not None


def test_a_long_history_is_split_into_linked_pages_each_within_the_budget():
    snap = snapshot(Workload(panels=0, points=1, traces=0, log_lines=1))
    t = Tracked(since=snap.generated_at - 80 * DAY)
    for n in range(120):  # an alert flapping every few hours for weeks
        at = snap.generated_at - 80 * DAY + n * 4 * 3600
        t = transition(t, (alert(f"Flap{n % 3}", since=at, note=EVIL),), frozenset(), at, KEEP)
        t = transition(t, (), frozenset(), at + 600, KEEP)
    snap = dataclasses.replace(snap, incidents=t.incidents)
    pages = {p["path"]: p["data"] for p in incident_pages(snap)}
    lists = [p for p in pages if p == "incidents/index.html" or "/page-" in p]
    assert lists == ["incidents/index.html", "incidents/page-2.html", "incidents/page-3.html"]
    assert sum(len(pages[p]["incidents"]) for p in lists) == 120
    assert len(pages) == 3 + 120
    common = Common("t", snap.generated_at, 30, None, "assets/site.css", "", "test", "h", (), ())
    tasks = [PageTask(**p, common=common) for p in incident_pages(snap)[:3]]
    for page in (render_page(t) for t in tasks):
        assert page.record.error is None and page.record.gzip_size < PAGE_BUDGET - 4000
        assert b'aria-label="incidents pages"' in page.body


def test_the_feed_changes_only_when_an_incident_does():
    snap = snapshot(Workload(panels=0, points=1, traces=0, log_lines=1))
    empty = dataclasses.replace(snap, watched_since=snap.generated_at - DAY)
    later = dataclasses.replace(empty, generated_at=snap.generated_at + 30)
    assert feed_atom(empty, "https://example.org") == feed_atom(later, "https://example.org")
    parsed = feedparser.parse(feed_atom(empty, "https://example.org/"))
    assert not parsed.bozo and parsed.entries == []
    assert parsed.feed.updated == iso(snap.generated_at - DAY)
    assert parsed.feed.links[0].href == "https://example.org/feed.atom"  # one slash


def test_a_resolved_permalink_is_rendered_once_whatever_the_cycle_shows():
    snap, _ = hostile_site()
    now = snap.generated_at
    ongoing = snap.incidents[0]
    closed = transition(Tracked(now, snap.incidents), (), frozenset(), now + 60, KEEP)
    [resolved] = closed.incidents
    cycle_a = Common("t", now, 30, None, "assets/site.css", "", "v", "h", (), ())
    cycle_b = dataclasses.replace(cycle_a, generated_at=now + 30, failed_sources=("alerts",),
                                  alerts=firing_links(snap.alerts, snap.incidents))  # fmt: skip

    def key(incident: Incident, common: Common) -> bytes:
        [page] = [p for p in incident_pages(dataclasses.replace(snap, incidents=(incident,)))
                  if p["template"] == "incident.html"]  # fmt: skip
        return task_key(PageTask(**page, common=common), b"templates")

    assert key(resolved, cycle_a) == key(resolved, cycle_b)
    assert key(ongoing, cycle_a) != key(ongoing, cycle_b)  # it shows the banner and the time


def test_the_strip_is_reachable_by_keyboard_and_each_cell_names_its_day(tmp_path: Path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    config = tmp_path / "sitegen.toml"
    config.write_text("[site]\nworkers = 1\n")
    render(config)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto((tmp_path / "public/index.html").as_uri())
        in_strip = "document.activeElement.closest('.strip') !== null"
        for _ in range(30):  # skip link, navigation, the calm line's link, then the days
            page.keyboard.press("Tab")
            if page.evaluate(in_strip):
                break
        first = page.evaluate("document.activeElement.querySelector('.vh').textContent")
        page.keyboard.press("Tab")
        second = page.evaluate("document.activeElement.querySelector('.vh').textContent")
        browser.close()
    # The oldest day first (before sitegen ran: no data), then the day after it.
    day = datetime.strptime(first[:10], "%Y-%m-%d")
    assert first[10:] == ": no data (before sitegen watched)"
    assert second.startswith((day + timedelta(days=1)).strftime("%Y-%m-%d: "))


def test_the_availability_badge_reads_the_sites_probes(tmp_path: Path):
    history = History(tmp_path, 7 * DAY)
    for n, ok in enumerate((True, True, True, False)):
        history.add_probe(NOW - 3600 * n, ok, 0.2)
    ctx = SourceContext(parse(""), history, tmp_path, NOW, time.monotonic() + 10)
    snap = dataclasses.replace(snapshot(Workload(panels=0, traces=0)), site=site_stats(ctx))
    body = badges(snap)["badges/availability-30d.svg"]
    assert svg_badge(body) == "availability 30d: 75.00%" and COLOURS["down"].encode() in body
    days = {d.date: d for d in day_strip(Tracked(NOW - 5 * DAY), history.probes_by_day, NOW, KEEP)}
    assert (days["2026-11-29"].state, days["2026-11-29"].availability) == ("degraded", 75.0)


def test_a_storm_of_alerts_shows_the_critical_ones_first_and_counts_the_rest():
    storm = tuple(alert(f"Warn{n}", severity="warning", since=NOW - n) for n in range(20))
    storm += tuple(alert(f"Crit{n}", since=NOW - 100 - n) for n in range(5))
    tracked = transition(Tracked(since=NOW), storm, frozenset(), NOW, KEEP)
    common = Common("t", NOW, 30, None, "assets/site.css", "", "v", "h", (), (),
                    alerts=firing_links(storm, tracked.incidents))  # fmt: skip
    snap = dataclasses.replace(snapshot(Workload(panels=0, traces=0)), incidents=tracked.incidents)
    listing = incident_pages(snap)[0]
    page = render_page(PageTask(**listing, common=common))
    html = page.body.decode()
    banner = html[html.index('class="alerting"') : html.index("</section>")]
    names = re.findall(r'incidents/[0-9a-f]{16}\.html">(\w+)<', banner)
    assert names == ["Crit4", "Crit3", "Crit2", "Crit1", "Crit0",
                     "Warn19", "Warn18", "Warn17", "Warn16", "Warn15"]  # fmt: skip
    assert "… and 15 more" in banner and "25 alerts firing" in banner


def test_axe_finds_no_violation_on_the_banner_the_strip_and_the_incident_pages(tmp_path: Path):
    from tests.test_audit import AUDIT, CHROMIUM, NODE

    if not (CHROMIUM and NODE and (AUDIT / "node_modules" / "axe-core").is_dir()):
        pytest.skip("needs chromium, node and `npm ci` in tests/audit (scripts/test does it)")
    config = tmp_path / "sitegen.toml"
    failing = '[site]\nworkers = 1\n[traces]\njaeger_url = "http://127.0.0.1:9"\n'
    # An incident opened and resolved, then another one ongoing: every state on the pages.
    for toml in [failing] * 3 + ["[site]\nworkers = 1\n"] + [failing] * 3:
        config.write_text(toml)
        status = render(config)
    ongoing, resolved = status["incidents"]
    assert ongoing["end"] is None and resolved["end"] is not None
    site = str(tmp_path / "public")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    pages = ["index.html", "incidents/index.html", ongoing["url"], resolved["url"]]
    job = {"chromium": CHROMIUM, "pages": [f"{base}/{p}" for p in pages], "widths": [375],
           "schemes": ["dark", "light"], "geometry_width": 320}  # fmt: skip
    (tmp_path / "job.json").write_text(json.dumps(job))
    try:
        done = subprocess.run([NODE, str(AUDIT / "audit.mjs"), str(tmp_path / "job.json")],
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    live = {f"{base}/index.html", f"{base}/incidents/index.html", f"{base}/{ongoing['url']}"}
    axe = json.loads(done.stdout)["axe"]
    # axe flags a timed refresh: exactly the live pages do it, so the audit saw the pages.
    assert {v["url"] for v in axe if v["id"] == "meta-refresh"} == live
    found = [
        f"{v['url']} {v['scheme']}: {v['id']} ({v['impact']}) {v['nodes']}"
        for v in axe
        if not (v["id"] == "meta-refresh" and v["url"] in live)
    ]
    assert not found, "\n".join(found)

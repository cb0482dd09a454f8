"""Alerts and incidents: transitions, state across restarts, the source, pages, feed, badges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitegen.alerts.incidents import IncidentStore, Tracked, failing_sources, transition
from sitegen.alerts.select import parse_matcher, public
from sitegen.alerts.status import strip, witness
from sitegen.config import ConfigError, parse
from sitegen.model import Alert, SourceStatus

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
    days = strip(t, lambda since: probes, NOW)
    assert len(days) == 90 and days[-1].date == "2026-11-29"
    by = {d.date: d for d in days}
    assert by["2026-11-27"].state == "down" and by["2026-11-27"].incidents == (t.incidents[0].id,)
    assert (by["2026-11-28"].state, by["2026-11-28"].availability) == ("degraded", 75.0)
    assert by["2026-11-29"].state == "ok" and by["2026-11-18"].state == "unknown"
    assert by["2026-11-19"].state == "ok"  # tracking began that day
    assert json.dumps([d.__dict__ for d in days])  # plain data

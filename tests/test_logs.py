"""Logs: formats and their detection, levels, durations, far-off times, junk, bounded cost."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from sitegen.config import Config, ConfigError, parse
from sitegen.logs.fields import level_of
from sitegen.logs.parse import (
    MAX_LINE,
    MAX_MESSAGE,
    FileParser,
    FileState,
    parse_line,
    to_record,
)
from sitegen.logs.stats import by_level, level_samples
from sitegen.logs.timestamps import year_for
from sitegen.model import LogRecord, Panel, Series, SourceStatus
from sitegen.redact import MASK
from sitegen.sources import collect_all, journald, logs
from sitegen.sources.base import Part
from sitegen.state import LastGood
from sitegen.synthetic import Workload, snapshot
from sitegen.tail import Tailer
from tests import journal
from tests.test_sources import LOGGER, TRACER, context

NOW = datetime.fromisoformat("2026-11-25T10:00:00+00:00").timestamp()
ROOT = Path(__file__).resolve().parent.parent


def utc(iso: str) -> float:
    """Return UNIX seconds of an ISO time without zone, taken as UTC."""
    return datetime.fromisoformat(iso + "+00:00").timestamp()


def logs_config(tmp_path: Path, extra: str = "") -> Config:
    toml = f'[site]\nstate_dir = "state"\n[logs]\npaths = ["{tmp_path}/*.log"]\n{extra}'
    return parse(toml, source="test", env={}, base_dir=tmp_path)


def cycle(cfg: Config) -> Part:
    """Collect the logs source as a cycle does (its part kept as last good data)."""
    got = collect_all(
        context(cfg), [(logs.NAME, logs.collect)], LastGood(cfg.site.state_dir), TRACER, LOGGER
    )
    (status,) = got.statuses
    assert status.ok, status.error
    return Part(logs=got.part.logs, panels=got.part.panels, detail=status.detail)


@pytest.mark.parametrize(
    ("line", "when", "level", "message"),
    [
        ("2026-11-22T10:00:00Z INFO started", "2026-11-22T10:00:00", "info", "INFO started"),
        ("2026-11-22T10:00:00.123456789+01:00 WARN slow", "2026-11-22T09:00:00.123456",
         "warning", "WARN slow"),
        ("2026-11-22 10:00:00,250 - app - ERROR - db", "2026-11-22T10:00:00.250", "error",
         "app - ERROR - db"),
        ("[2026-11-22 10:00:00.5 +0200] [error] x", "2026-11-22T08:00:00.500", "error",
         "[error] x"),
        ("2026-11-22T10:00:00-05 NOTICE", "2026-11-22T15:00:00", "info", "NOTICE"),
        ("<34>Oct 11 22:14:15 host su: failed", "2026-10-11T22:14:15", "critical",
         "host su: failed"),
        ("Dec 31 23:59:59 host cron[1]: ran", "2025-12-31T23:59:59", None, "host cron[1]: ran"),
        ("Oct 11 2024 22:14:15 host app: y", "2024-10-11T22:14:15", None, "host app: y"),
        ("<165>1 2003-10-11T22:14:15.003Z web1 evntslog - ID47 [ex@32473 iut=\"3\"] event",
         "2003-10-11T22:14:15.003", "info", "event"),
        ('10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 404 2326',
         "2000-10-10T20:55:36", "warning", '10.0.0.1 - frank'),
        ('h - - [10/Oct/2000:13:55:36 +0000] "POST /b HTTP/1.1" 502 0', "2000-10-10T13:55:36",
         "error", "h - -"),
        ("[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708] AH00124",
         "2000-10-11T14:32:52.123456", "error", "[pid 35708] AH00124"),
        ("2006/01/02 15:04:05 [warn] 1234#0: upstream", "2006-01-02T15:04:05", "warning",
         "[warn] 1234#0: upstream"),
        ("2006/01/02 15:04:05.000123 plain go", "2006-01-02T15:04:05.000123", None, "plain go"),
        ("1700000000 epoch seconds", "2023-11-14T22:13:20", None, "epoch seconds"),
        ("1700000000123 epoch ms", "2023-11-14T22:13:20.123", None, "epoch ms"),
        ("1700000000.5 DEBUG fraction", "2023-11-14T22:13:20.500", "debug", "DEBUG fraction"),
        ("I1125 09:59:58.123456   12345 main.go:42] ready", "2026-11-25T09:59:58.123456",
         "info", "ready"),
        ("E1124 09:00:00.000001 7 x.go:1] broke", "2026-11-24T09:00:00.000001", "error", "broke"),
        ("W1231 23:00:00.000000 7 x.go:1] last year", "2025-12-31T23:00:00", "warning",
         "last year"),
    ],
)  # fmt: skip
def test_plain_timestamp_shapes(line: str, when: str, level: str | None, message: str) -> None:
    got = parse_line(line, "plain", NOW)
    assert got.ts == pytest.approx(utc(when), abs=1e-6)
    assert got.level == level
    assert got.message.startswith(message)


def test_lines_without_a_stamp_or_level_say_so_and_keep_their_place(tmp_path: Path) -> None:
    got = parse_line("    at Object.<anonymous> (app.js:1:1)", "plain", NOW)
    assert (got.ts, got.level) == (None, None)
    assert parse_line("2026-02-31T10:00:00Z impossible date", "plain", NOW).ts is None
    # A time or a number inside the message is what the line says, not when it was written.
    for text in (
        "backup of 2023-01-01 12:00:00 done",
        "order 1500000000 shipped to 1700000000",
        "retrying job 42 from 2023-01-01T12:00:00Z",
        "460803 bytes in 1077804742 ns",
    ):
        assert parse_line(text, "auto", NOW).ts is None, text
    (tmp_path / "a.log").write_text(
        "continued from an earlier write\n"
        "2026-11-22T10:00:00Z ERROR boom\n    at Object.<anonymous> (app.js:1:1)\n"
        "2026-11-22T10:00:05Z INFO later\n"
    )
    (tmp_path / "b.log").write_text("2026-11-22T10:00:02Z WARN between\n")
    cfg = logs_config(tmp_path)
    part = cycle(cfg)
    shown = [(r.message, r.ts, r.level) for r in part.logs]
    # The file's modification time is no line's time: the untimed first line is shown
    # without one (it sorts at the file's last write, an upper bound: here the newest), the
    # trace line right after the line it continues.
    assert shown == [
        ("ERROR boom", utc("2026-11-22T10:00:00"), "error"),
        ("    at Object.<anonymous> (app.js:1:1)", None, None),
        ("WARN between", utc("2026-11-22T10:00:02"), "warning"),
        ("INFO later", utc("2026-11-22T10:00:05"), "info"),
        ("continued from an earlier write", None, None),
    ]
    # A later cycle's untimed line goes after the file's last timed line of earlier cycles.
    with (tmp_path / "a.log").open("a") as f:
        f.write("    at next (app.js:2:2)\n")
    (tmp_path / "b.log").write_text("2026-11-22T10:00:09Z WARN b again\n")
    wanted = ("    at next (app.js:2:2)", "WARN b again")
    later = [r for r in cycle(cfg).logs if r.message in wanted]
    assert [(r.message, r.ts, r.place) for r in later] == [
        ("    at next (app.js:2:2)", None, utc("2026-11-22T10:00:05")),
        ("WARN b again", utc("2026-11-22T10:00:09"), None),
    ]


def test_level_badges_chart_and_top_errors_count_the_same_records() -> None:
    from tests.test_render import render_all

    snap = snapshot(Workload(panels=1, traces=1, log_lines=0))
    records = [
        LogRecord(None, None, "no time, no level", "x.log"),
        LogRecord(NOW - 60, "error", "disk 1 full", "x.log"),
        LogRecord(NOW - 50, "error", "disk 2 full", "x.log"),
        LogRecord(None, "critical", "kernel panic", "x.log", place=NOW - 40),
        LogRecord(NOW - 30, "info", "fine", "x.log"),
    ]
    files = render_all(dataclasses.replace(snap, logs=tuple(records)))
    page = files["logs/index.html"].decode()
    # Times from another day than the page's show their date, on the tail and the index.
    index = files["index.html"].decode()
    assert "11-25 09:59:00" in page and "11-25 09:59:00" in index  # NOW - 60: disk 1 full
    # The index's recent errors, newest first as on the logs pages.
    assert index.index("kernel panic") < index.index("disk 2 full") < index.index("disk 1 full")
    badges = dict(re.findall(r'<span class="lv[^"]*">([\w ]+) (\d+)</span>', page))
    assert badges == {"debug": "0", "info": "1", "warning": "0", "error": "2", "critical": "1",
                      "no level": "1"}  # fmt: skip
    assert '<svg class="chart" role="img"' in page and "<title>lines shown by level</title>" in page
    table = re.search(r"<table[^>]*>\s*<caption>lines shown by level.*?</table>", page, re.S)
    assert table, page
    rows = dict(re.findall(r"<th scope=\"row\">([\w ]+)</th><td class=\"num\">(\d+)</td>",
                           table.group(0)))  # fmt: skip
    assert rows == badges
    cells = r'<td class="num">(\d+)</td><td class="text">([^<]+)</td>'
    top = dict((m, int(n)) for n, m in re.findall(cells, page.split('id="top"')[1]))
    assert top == {"disk # full": 2, "kernel panic": 1}
    tail = re.search(r'<pre class="tail"[^>]*>(.*?)</pre>', page, re.S).group(1)
    assert re.search(
        r'<span class="dim">–</span> <span class="lv none">-    </span> '
        r'<span class="dim">x.log</span> no time, no level',
        tail,
    ), tail


@pytest.mark.parametrize(
    ("spellings", "level"),
    [
        (["TRACE", "trace", "debug", "DBG", "D", "v", "verbose", "FINE", "finest", 7, 10, 20],
         "debug"),
        (["INFO", "info", "I", "inf", "information", "notice", "NOTE", 5, 6, 30, "6"], "info"),
        (["WARN", "warning", "W", "wrn", "Warning", 4, 40], "warning"),
        (["ERROR", "err", "E", "eror", "ERRO", "SEVERE", 3, 50, "3"], "error"),
        (["FATAL", "fatal", "F", "crit", "CRITICAL", "ALERT", "emerg", "panic", "DPANIC", 0, 1, 2,
          60], "critical"),
        (["banana", "", 99, 8, -1, True, None, float("nan")], None),
    ],
)  # fmt: skip
def test_level_spellings(spellings: list, level: str | None) -> None:
    assert {s: level_of(s) for s in spellings} == dict.fromkeys(spellings, level)


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2026-11-22T10:00:00Z [error] upstream timed out", "error"),
        ("2026-11-22T10:00:00Z <warn> disk at 91%", "warning"),
        ("2026-11-22T10:00:00Z request done level=debug", "debug"),
        ("Error: cannot open file", "error"),
        ("2026-11-22T10:00:00Z all good, no error found", None),  # prose is no level
        ("2026-11-22T10:00:00Z default route added via eth0", None),
        ("2026-11-22T10:00:00Z config reloaded [config] (log) |fine|", None),
        ("2026-11-22T10:00:00Z log rotated, note the size", None),
        ("2026-11-22T10:00:00Z 0 [Note] InnoDB: ready", "info"),
        ("2026-11-22T10:00:00.1Z\twarn\tcache.go:44\tevicting", "warning"),
        ("Nov 22 10:00:00 host postfix/smtp[42]: warning: no route", "warning"),
        ("\x1b[31mERROR\x1b[0m colour codes are dropped", "error"),
    ],
)
def test_levels_in_plain_text(line: str, level: str | None) -> None:
    from sitegen.logs.parse import clean

    assert parse_line(clean(line.encode()), "plain", NOW).level == level


def test_json_lines_are_read_by_meaning_whatever_the_logger() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    cases = {
        # pino: numeric level, epoch ms, response time in ms
        '{"level":50,"time":1700000000000,"msg":"pino","responseTime":12}':
            (utc("2023-11-14T22:13:20"), "error", "pino", None, 0.012),
        # Elastic Common Schema: nested, event.duration in ns
        '{"@timestamp":"2026-11-22T10:00:00Z","log":{"level":"warn"},"message":"ecs",'
        '"event":{"duration":1500000},"trace":{"id":"' + trace + '"}}':
            (utc("2026-11-22T10:00:00"), "warning", "ecs", trace, 0.0015),
        # Docker's json-file driver
        '{"log":"docker line\\n","stream":"stderr","time":"2026-11-22T10:00:00.5Z"}':
            (utc("2026-11-22T10:00:00.5"), None, "docker line", None, None),
        # Serilog CLEF
        '{"@t":"2026-11-22T10:00:00Z","@l":"Error","@m":"clef","Elapsed":"1.5s"}':
            (utc("2026-11-22T10:00:00"), "error", "clef", None, 1.5),
        # OpenTelemetry-shaped, W3C traceparent
        '{"timeUnixNano":"1700000000000000000","severityNumber":17,"body":"otel",'
        '"traceparent":"00-' + trace + '-00f067aa0ba902b7-01"}':
            (utc("2023-11-14T22:13:20"), "error", "otel", trace, None),
        # Python json logger, GCP trace path, duration in the key
        '{"asctime":"2026-11-22 10:00:00,250","levelname":"CRITICAL","message":"py",'
        '"logging.googleapis.com/trace":"projects/p/traces/' + trace + '","duration_ms":350}':
            (utc("2026-11-22T10:00:00.25"), "critical", "py", trace, 0.35),
    }  # fmt: skip
    for line, (ts, level, message, trace_id, duration) in cases.items():
        got = parse_line(line, "json", NOW)
        assert (got.ts, got.level, got.message, got.trace_id) == (
            pytest.approx(ts),
            level,
            message,
            trace_id,
        ), line
        assert got.duration_s == (pytest.approx(duration) if duration else None), line
    flat = parse_line('{"msg":"x","http":{"status":500,"req":{"path":"/a"}},"ids":[1,2]}',
                      "json", NOW)  # fmt: skip
    assert dict(flat.fields) == {"http.status": 500, "http.req.path": "/a", "ids": [1, 2]}


@pytest.mark.parametrize(
    ("key", "value", "seconds"),
    [
        ("duration_ms", 12, 0.012),
        ("durationMs", "7", 0.007),
        ("duration_seconds", 2, 2.0),
        ("duration", "1m2.5s", 62.5),
        ("duration", 0.25, 0.25),
        ("latency", "1.5s", 1.5),
        ("latency_us", 40, 0.00004),
        ("elapsed", "350µs", 0.00035),
        ("elapsed", "350us", 0.00035),
        ("elapsed_time", "12 ms", 0.012),
        ("took", 12, 0.012),
        ("took", "1.2s", 1.2),
        ("response_time", 12, 0.012),
        ("request_time", "0.250", 0.25),
        ("upstream_response_time", 0.5, 0.5),
        ("time_taken", "100ns", 1e-7),
        ("duration_in_ms", 3, 0.003),
        ("duration", "fast", None),
        ("duration", -1, None),
        ("duration", True, None),
        ("time", 12, None),  # a time, not a duration
        ("duration_min", 3, None),  # a minimum, not minutes
    ],
)
def test_duration_fields(key: str, value: object, seconds: float | None) -> None:
    got = parse_line(json.dumps({"msg": "m", key: value}), "json", NOW).duration_s
    assert got == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("GET /a took 12ms", 0.012),
        ("done in 3s, latency=0.5", 0.5),
        ("request_time: 0.020 status 200", 0.02),
        ("elapsed 1.5 seconds", 1.5),
        ("took 3 retries", None),
        ("duration unknown", None),
    ],
)
def test_durations_in_plain_text(text: str, seconds: float | None) -> None:
    got = parse_line(f"2026-11-22T10:00:00Z {text}", "plain", NOW).duration_s
    assert got == (pytest.approx(seconds) if seconds is not None else None)


def test_logfmt_values_quoted_and_escaped() -> None:
    got = parse_line(
        'ts=2026-11-22T10:00:01Z level=error msg="db \\"main\\" down" err= retries=3', "logfmt", NOW
    )
    assert (got.level, got.message) == ("error", 'db "main" down')
    assert dict(got.fields) == {"err": "", "retries": "3"}
    assert parse_line('msg="unterminated level=info', "logfmt", NOW).message.startswith("msg=")


def test_auto_decides_per_file_and_falls_back_per_line(tmp_path: Path) -> None:
    (tmp_path / "api.log").write_text(
        '{"level":"info","msg":"json one"}\n{"level":"error","msg":"json two"}\n'
        "Traceback (most recent call last):\n"  # a stack trace in a JSON file
        "2026-11-22T10:00:00Z WARN plain among json\n"
    )
    (tmp_path / "worker.log").write_text(
        "level=info msg=start\nlevel=warn msg=slow elapsed=2s\nuser=bob action=login\n"
    )
    (tmp_path / "web.log").write_text(
        "2026-11-22T10:00:00Z INFO one\n2026-11-22T10:00:01Z INFO two\n"
        '{"level":"error","msg":"a json line in a plain file"}\n'
        "user=alice action=logout\n"
    )
    cfg = logs_config(tmp_path)
    part = cycle(cfg)
    by_message = {r.message: r for r in part.logs}
    assert by_message["json two"].level == "error"
    assert by_message["Traceback (most recent call last):"].source == "api.log"
    assert by_message["WARN plain among json"].level == "warning"
    assert by_message["slow"].duration_s == 2.0
    assert by_message["a json line in a plain file"].level == "error"
    # In a logfmt file, key=value pairs without a known key are still logfmt ...
    assert dict(by_message[""].fields) == {"user": "bob", "action": "login"}
    # ... in a plain file they are text.
    assert "user=alice action=logout" in by_message
    states = json.loads((cfg.site.state_dir / logs.FILE_STATE).read_text())
    assert sorted(v[0] for v in states.values()) == ["json", "logfmt", "plain"]
    # The format is remembered: a later cycle's lone line is read the same way.
    with (tmp_path / "worker.log").open("a") as f:
        f.write("user=carol action=login\n")
    (later,) = [r for r in cycle(cfg).logs if ("user", "carol") in r.fields]
    assert later.source == "worker.log"


def test_far_off_timestamps_keep_the_tail_in_arrival_order(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    cfg = logs_config(tmp_path)

    def write(*lines: str) -> list[str]:
        with log.open("a") as f:
            f.write("".join(f"{line}\n" for line in lines))
        return [r.message for r in cycle(cfg).logs]

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write(f"{stamp} first")
    shown = write("2100-01-01T00:00:00Z from the future", "1970-01-01T00:00:00Z from 1970",
                  f"{stamp} second")  # fmt: skip
    # In its own cycle the 1970 line sorts first, the 2100 one counts as now (after 'second').
    assert shown == ["first", "from 1970", "second", "from the future"]
    shown = write(f"{stamp} third")
    assert shown[-1] == "third"  # the future line does not hold the bottom for ever
    future = next(r for r in cycle(cfg).logs if r.message == "from the future")
    assert future.ts == utc("2100-01-01T00:00:00")  # kept as written
    assert next(r for r in cycle(cfg).logs if r.message == "from 1970").ts == 0.0


def test_junk_is_made_harmless_and_long_lines_are_cut(tmp_path: Path) -> None:
    token = "ghp_" + "A1b2" * 9
    long_line = "x " * ((MAX_LINE - 10) // 2) + token + " tail" + "y" * 100_000
    (tmp_path / "junk.log").write_bytes(
        b"\xff\xfe\xfd invalid utf-8 \x00 NUL\n"
        + b"\x1b[1;31mERROR\x1b[0m colour \x07 bell \x1b]0;title\x07\n"
        + "bidi \u202egnp.exe\n".encode()
        + b"[" * 200_000
        + b"\n"
        + b'{"a":' * 100_000
        + b"\n"
        + b"\x00" * 500
        + b"\n"
        + long_line.encode()
        + b"\n"
    )
    part = cycle(logs_config(tmp_path))
    text = "\n".join(r.message + repr(r.fields) for r in part.logs)
    for bad in ("\x00", "\x1b", "\x07", "\u202e", "A1b2"):
        assert bad not in text, repr(bad)
    assert "\ufffd invalid utf-8 \ufffd NUL" in text
    (colour,) = [r for r in part.logs if "colour" in r.message]
    assert colour.level == "error"
    assert all(len(r.message) <= MAX_MESSAGE for r in part.logs)
    assert "3 lines cut to 16,384 characters" in part.detail


def test_private_keys_over_several_lines_and_cycles_are_masked(tmp_path: Path) -> None:
    body = ["MIIEowIBAAKCAQEA" + "q" * 48, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB"]
    log = tmp_path / "app.log"
    log.write_text(
        "2026-11-22T10:00:00Z ERROR dumping the key:\n-----BEGIN RSA PRIVATE KEY-----\n"
        + f"{body[0]}\n"
    )
    cfg = logs_config(tmp_path)
    cycle(cfg)
    with log.open("a") as f:  # the rest of the key arrives in the next cycle
        f.write(f"2026-11-22T10:00:01Z {body[1]}\n-----END RSA PRIVATE KEY-----\nafter\n")
    shown = [r.message for r in cycle(cfg).logs]
    assert shown[0] == "ERROR dumping the key:" and shown[-1] == "after"
    assert not [m for m in shown if "MII" in m or "b3Bl" in m or "BEGIN" in m]
    assert shown.count("[REDACTED]") == 4


SECRETS = [
    ('{"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}',
     "wJalrXUtnFEMI/K7MDENG"),
    ('{"AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCY"}',
     "wJalrXUtnFEMI"),
    ("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI"),
    ("Authorization: Bearer eyJ0eXAi.Zq7Xw9Pk2m", "Zq7Xw9Pk2m"),
    ("authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ("Authorization: token 0123456789abcdef", "0123456789abcdef"),
    ('{"headers":{"Authorization":"AWS4-HMAC-SHA256 Credential=x, Signature=fe5f80f7"}}',
     "fe5f80f7"),
    ("Proxy-Authorization: Digest username=u, response=6629fae4", "6629fae4"),
    ("Cookie: session=0a1b2c3d; theme=dark", "0a1b2c3d"),
    ("push with ghp_R4nd0mT0k3nV4lu3Xy7Zq9Wv2Ks5Lm8Np1Qa", "R4nd0mT0k3nV4lu3"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789", "11ABCDEFG"),
    ("glpat-Gq3vTz8LmN0pRs5uWx1y", "Gq3vTz8LmN0pRs5uWx1y"),
    ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "AbCdEfGhIjKlMnOp"),
    ("https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX", "XXXXXXXXXXXXXXXX"),
    ("key=AIzaSyA-9Kq2Wm4Xr6Tz8Vb1Nc3Pd5Fg7Hj0Lk2", "9Kq2Wm4Xr6Tz8Vb1"),
    ("Bearer ya29.a0AfH6SMBxyzxyzxyzxyzxyzxyz", "a0AfH6SMB"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ("openai sk-proj-Pq9Rt2Vw5Yz8Bc1Df4Gh7Jk0", "Pq9Rt2Vw5Yz8Bc1Df4Gh7Jk0"),
    ("postgres://admin:p@ss:w/rd!x@db.example.com:5432/app", "ss:w/rd"),
    ("redis://:s3cr3t@cache:6379/0", "s3cr3t"),
    ("mysql user:hunter2@tcp(127.0.0.1:3306)/db", "hunter2"),
    ('{"dsn": "amqp://guest:pa\\"ss@rabbit/"}', "pa\\"),
    ("jwt eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
    ("id_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlMTIz", "c2lnbmF0dXJl"),
    ('password="correct horse battery staple"', "horse battery"),
    ("db_password: hunter2 next", "hunter2"),
    ("Server=db;User Id=sa;Password=Pa55w0rd;", "Pa55w0rd"),
    ("client_secret=abc123def456", "abc123def456"),
    ('{\\"password\\":\\"escaped in a string\\"}', "escaped in"),
    ("GET /o?X-Amz-Credential=AKIA%2F20261122&X-Amz-Signature=9f2c0a", "9f2c0a"),
    ("https://acct.blob.core.windows.net/c?sv=2020&sig=abcDEF%2B123", "abcDEF"),
    ("AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==;EndpointSuffix=x", "Zm9vYmFy"),
    ("-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----",
     "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
    # Headers as arrays and maps: Caddy's JSON, Go's http.Header, Python dicts, curl
    ('{"request":{"headers":{"Cookie":["session=0a1b2c3d4e5f"]}}}', "0a1b2c3d4e5f"),
    ('"Set-Cookie":["id=a3fWa9x7; Expires=Thu, 21 Oct 2021 07:28:00 GMT", "csrf=Zx81Qw"]',
     "a3fWa9x7"),
    ('"Set-Cookie":["id=a3fWa9x7; Expires=Thu, 21 Oct 2021 07:28:00 GMT", "csrf=Zx81Qw"]',
     "Zx81Qw"),
    ('"set-cookie": ["a=b1c2d3", "theme=dark; csrftoken=Q9w8E7r6"]', "Q9w8E7r6"),
    ('"X-Auth-Token":["gAAAAABkZ1xYz0123"]', "gAAAAABkZ1xYz0123"),
    ('"Authorization":["Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"]', "9944b09199c62bcf"),
    ('Authorization: Token token="abc123secret"', "abc123secret"),
    ('curl -H "Authorization: Token 5f4dcc3b5aa765d61d8327deb882cf99" https://api/', "5f4dcc3b"),
    ("using Token 5f4dcc3b5aa765d61d8327deb882cf99 for the API", "5f4dcc3b5aa765d6"),
    ('{"X-Api-Key": "k3yv4lue9876"}', "k3yv4lue9876"),
    ("{'X-Auth-Token': 'abcd1234efgh'}", "abcd1234efgh"),
    ("map[Authorization:[Bearer abc.def.ghi123] Cookie:[session=xyz98765]]", "xyz98765"),
    ("X-Auth-Token: tok_12345678", "tok_12345678"),
    ("Proxy-Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    ("X-Api-Key=zz99yy88", "zz99yy88"),
    ("password=Summer{2024} token=Ab{c0ffee1 x", "Summer{2024}"),  # not an object printout
]  # fmt: skip


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_every_kind_of_secret_is_masked(text: str, secret: str) -> None:
    from sitegen.redact import MASK, redact

    masked = redact(text)
    assert secret not in masked and MASK in masked, masked


# Names and words that contain a secret word but hold none: they must stay as written.
BENIGN = [
    "at com.android.server.wm.AppWindowToken.destroySurfaces:374",
    "at com.example.auth.TokenRefreshService.refreshTokens(TokenRefreshService.java:88)",
    "printFreezingDisplayLogsopening app wtoken = AppWindowToken{9f4ef63 token=Token{a64f992 "
    "ActivityRecord{de9231d u0 com.tencent.qt.qtl/.activity.info.NewsDetailXmlActivity t761}}}",
    "Skipping AppWindowToken{df0798e token=Token{78af589 ActivityRecord{3b04890}}} -- going",
    "Token: Token { kind: HDFS_DELEGATION_TOKEN, service: 10.0.0.1:8020 }",
    "Kind: YARN_AM_RM_TOKEN, Service: , Ident: (appAttemptId { attemptId: 1 } keyId: -1276)",
    "Executing with tokens:",
    "CsrfTokenRepository loaded, tokenValiditySeconds: 3600, token_type=bearer",
    "password_length=12 passwordPolicy: strong",
    "New session 12 of user alice.",
    "pam_unix(sshd:session): session opened for user root by (uid=0)",
    "Removed session 7f3a9c.",
    "the token expired after 5 minutes",
    "Token Service started",
]


@pytest.mark.parametrize("text", BENIGN)
def test_names_and_words_that_hold_no_secret_stay_untouched(text: str) -> None:
    from sitegen.redact import redact

    assert redact(text) == text


def test_a_json_log_behind_a_compose_prefix_is_read_and_redacted() -> None:
    line = ('caddy  | {"level":"info","ts":1646861401.5,"msg":"handled request","request":'
            '{"headers":{"Cookie":["session=0a1b2c3d4e5f"],"X-Auth-Token":["gAAAAABkZ1xYz"],'
            '"User-Agent":["curl/7.81.0"]}}}')  # fmt: skip
    record = to_record(parse_line(line, "auto", NOW), "docker-compose.log", NOW)
    assert (record.message, record.level, record.ts) == ("handled request", "info", 1646861401.5)
    fields = dict(record.fields)
    assert fields["service"] == "caddy"
    assert fields["request.headers.Cookie"] == fields["request.headers.X-Auth-Token"] == MASK
    assert fields["request.headers.User-Agent"] == '["curl/7.81.0"]'
    assert "0a1b2c3d4e5f" not in repr(record) and "gAAAAABkZ1xYz" not in repr(record)


@pytest.mark.parametrize(
    "text",
    [
        "basic setup complete",
        "the token expired after 5 minutes",
        "bearer of bad news",
        "GET /search?q=cats&page=2 200",
        "https://example.com:8443/path",
        "user bob logged in",
    ],
)
def test_prose_stays_readable(text: str) -> None:
    from sitegen.redact import redact

    assert redact(text) == text


def test_redaction_covers_fields_keys_own_log_and_custom_patterns(tmp_path: Path) -> None:
    from sitegen.telemetry import Telemetry, log

    cfg = logs_config(
        tmp_path,
        '[redact]\npatterns = ["(?<=customer=)\\\\d+", "INTERNAL-[A-Z0-9]{8}"]\n',
    )
    (tmp_path / "app.log").write_text(
        '{"msg":"order for customer=48151623 INTERNAL-ABCD1234","note":"customer=48151623",'
        '"AKIAIOSFODNN7EXAMPLE":"key as a name","db":{"password":"hunter2"},'
        '"url":"https://u:pw0rd@h/"}\n'
    )
    telemetry = Telemetry(cfg.site.state_dir)
    log(telemetry.logger, 40, "push failed for INTERNAL-ZZZZ9999",
        token="ghp_0123456789abcdefghijABCDEFGHIJ012345")  # fmt: skip
    telemetry.close()
    part = cycle(cfg)
    secrets = ("48151623", "INTERNAL-", "AKIAIOSFODNN7EXAMPLE", "hunter2", "pw0rd", "ghp_", "ZZZZ")
    own = [r for r in part.logs if r.source == "sitegen"]
    assert own and own[0].level == "error"
    for record in part.logs:
        assert not [s for s in secrets if s in repr(record)], record
    cache = (cfg.site.state_dir / "cache" / "logs.pickle").read_bytes()
    assert not [s for s in secrets if s.encode() in cache]


def test_vanished_files_and_fifos_are_said_not_waited_on(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "ok.log").write_text("fine\n")
    os.mkfifo(tmp_path / "pipe.log")  # opening a FIFO for reading would wait for a writer
    # What the glob matched, then changed: one file deleted, one replaced by the FIFO.
    matched = [tmp_path / "ok.log", tmp_path / "gone.log", tmp_path / "pipe.log"]
    monkeypatch.setattr(logs, "expand", lambda patterns: matched)
    start = time.monotonic()
    part = cycle(logs_config(tmp_path))
    assert time.monotonic() - start < 5
    assert [r.message for r in part.logs] == ["fine"]
    assert part.detail.startswith("1 new line from 3 files, 1 shown")  # one of them read
    assert (
        "unreadable: gone.log (No such file or directory), pipe.log (not a regular file)"
        in part.detail
    )
    monkeypatch.undo()
    assert "unreadable" not in cycle(logs_config(tmp_path)).detail  # the glob skips FIFOs


def test_files_past_the_time_budget_wait_for_the_next_cycle(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("a1\n")
    b.write_text("b1\n")
    tailer = Tailer(tmp_path / "offsets.json")
    assert [c.lines for c in tailer.follow([a], 1 << 20)] == [[b"a1"]]
    with a.open("a") as f:
        f.write("a2\n")
    late = Tailer(tmp_path / "offsets.json")
    assert list(late.follow([a, b], 1 << 20, stop_at=time.monotonic() - 1)) == []
    assert late.deferred == 2
    again = Tailer(tmp_path / "offsets.json")
    assert [c.lines for c in again.follow([a, b], 1 << 20)] == [[b"a2"], [b"b1"]]


def test_level_counts_of_every_source_add_up_per_cycle() -> None:
    from collections import Counter

    samples = [
        *level_samples(Counter(error=2, info=5), 100.0),
        *level_samples(Counter(error=1), 100.0, source="journald"),
        *level_samples(Counter(info=1), 130.0),
    ]
    series: dict[tuple, list] = {}
    for _, labels, ts, value in samples:
        series.setdefault(labels, []).append((ts, value))
    panel = by_level(
        Panel("p", "log_lines", "", "logs", tuple(Series(k, tuple(v)) for k, v in series.items()))
    )
    got = {dict(s.labels)["level"]: s.points for s in panel.series}
    assert got["error"] == ((100.0, 3.0), (130.0, 0.0))
    assert got["info"] == ((100.0, 5.0), (130.0, 1.0))
    assert list(got) == ["debug", "info", "warning", "error", "critical"]
    # A level of one source keeps its series's points: the history's own, encoded once.
    only = Panel("p", "log_lines", "", "logs", (Series((("level", "info"),), ((1.0, 2.0),)),))
    assert by_level(only).series[0].points is only.series[0].points


def test_file_state_survives_a_damaged_state_file(tmp_path: Path) -> None:
    cfg = logs_config(tmp_path)
    (tmp_path / "app.log").write_text('{"msg":"one"}\n')
    cycle(cfg)
    (cfg.site.state_dir / logs.FILE_STATE).write_text("{not json")
    with (tmp_path / "app.log").open("a") as f:
        f.write('{"msg":"two"}\n')
    assert [r.message for r in cycle(cfg).logs][-1] == "two"
    assert list((cfg.site.state_dir / "tail").glob("logs-files.json.corrupt-*"))


def test_a_file_parser_resumes_a_key_block_from_its_state() -> None:
    parser = FileParser("auto", FileState("plain", key_lines=3))
    raws = [b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", b"-----END EC PRIVATE KEY-----", b"after"]
    lines = list(parser.parse(raws, NOW))
    assert [line.message for line in lines] == ["[REDACTED]", "[REDACTED]", "after"]
    assert parser.state == FileState("plain", -1)


# --- bounded cost: a 1 GB file ---


def measure_collect(path: Path, state: Path) -> dict:
    """Collect the logs source over one file in a fresh process; return its peak RSS and time."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_logs.py"), "--collect", str(path),
         str(state)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout)


BLOCK = b"".join(
    b'{"ts":"2026-11-22T10:00:%02d.%06dZ","level":"%s","msg":"request %d done","duration_ms":%d}\n'
    % (i % 60, i, (b"info", b"warn", b"error")[i % 3], i, i % 500)
    for i in range(10_000)
)


def test_a_1_gb_file_costs_what_a_1_mb_file_costs(tmp_path: Path) -> None:
    small = tmp_path / "small.log"
    small.write_bytes(BLOCK[: 1 << 20][: BLOCK[: 1 << 20].rfind(b"\n") + 1])
    big = tmp_path / "big.log"
    with big.open("wb") as f:  # sparse: 1 GB of holes (one long NUL "line"), then real lines
        f.truncate(1 << 30)
        f.seek(1 << 30)
        f.write(BLOCK * 2)
    try:
        base = measure_collect(small, tmp_path / "s1")
        huge = measure_collect(big, tmp_path / "s2")
        one_line = big.with_name("oneline.log")
        with one_line.open("wb") as f:  # one 1 GB line without a newline, still growing
            f.truncate(1 << 30)
        never_ending = measure_collect(one_line, tmp_path / "s3")
    finally:
        big.unlink()
        big.with_name("oneline.log").unlink(missing_ok=True)
    assert huge["shown"] == base["shown"] == 200
    assert "GiB skipped to keep up" in huge["detail"], huge
    growth = huge["peak"] - huge["before"]
    assert growth < 64 << 20, huge  # what one cycle reads (1 MiB), parsed, never the file
    assert huge["peak"] - base["peak"] < 32 << 20, (base, huge)
    assert huge["seconds"] < 10 and never_ending["seconds"] < 10, (huge, never_ending)
    assert never_ending["shown"] == 0


# --- journald, through the real journalctl ---


def journal_config(tmp_path: Path, extra: str = "") -> Config:
    toml = (
        '[site]\nstate_dir = "state"\n[logs]\njournald = true\n'
        f'journald_directory = "{tmp_path / "journal"}"\n{extra}'
    )
    return parse(toml, source="test", env={}, base_dir=tmp_path)


def journal_cycle(cfg: Config, seconds: float = 10.0) -> tuple[Part, SourceStatus]:
    """Collect the journald source as a cycle does; return its part and status."""
    got = collect_all(
        context(cfg, seconds),
        [(journald.NAME, journald.collect)],
        LastGood(cfg.site.state_dir),
        TRACER,
        LOGGER,
    )
    (status,) = got.statuses
    return got.part, status


T0 = utc("2026-11-22T10:00:00")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_journald_entries_are_mapped_and_followed_by_cursor(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    journal.append(
        directory,
        [
            journal.entry(T0, "nginx started", PRIORITY="6", _SYSTEMD_UNIT="nginx.service",
                          SYSLOG_IDENTIFIER="nginx", _HOSTNAME="web1"),
            journal.entry(T0 + 1, b"binary \xff\x00 <b>", PRIORITY="3", SYSLOG_IDENTIFIER="app",
                          TRACE_ID=TRACE),
            journal.entry(T0 + 2, "two\nlines took 12ms", PRIORITY="4", _COMM="worker"),
            journal.entry(T0 + 3, "kernel panic", PRIORITY="0", SYSLOG_IDENTIFIER="kernel"),
            journal.entry(T0 + 4, "details", PRIORITY="7", SYSLOG_IDENTIFIER="app",
                          TRACEPARENT=f"00-{TRACE}-00f067aa0ba902b7-01"),
            journal.entry(T0 + 5, "no priority"),
        ],
    )  # fmt: skip
    cfg = journal_config(tmp_path)
    part, status = journal_cycle(cfg)
    assert status.ok, status.error
    assert [r.level for r in part.logs] == ["info", "error", "warning", "critical", "debug", None]
    assert [r.ts for r in part.logs] == [T0 + i for i in range(6)]
    assert [r.source for r in part.logs] == ["nginx.service", "app", "worker", "kernel", "app",
                                             "journal"]  # fmt: skip
    first, binary, multi = part.logs[:3]
    assert first.fields == (("host", "web1"),)
    assert binary.message == "binary \ufffd\ufffd <b>" and binary.trace_id == TRACE
    assert multi.message == "two⏎lines took 12ms" and multi.duration_s == 0.012
    assert part.logs[4].trace_id == TRACE
    assert status.detail == "6 new entries, 6 shown"

    part, status = journal_cycle(cfg)  # nothing new: the cursor holds
    assert status.detail == "0 new entries, 6 shown" and len(part.logs) == 6
    journal.append(directory, [journal.entry(T0 + 6, "later one"), journal.entry(T0 + 7, "two")])
    part, status = journal_cycle(cfg)
    assert status.detail == "2 new entries, 8 shown"
    assert [r.message for r in part.logs[-2:]] == ["later one", "two"]
    history = context(cfg).history.series("log_lines", 0)
    assert {dict(s.labels).get("source") for s in history} == {"journald"}


def test_journald_matches_and_a_bounded_backlog(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(journald, "MAX_ENTRIES", 10)
    directory = tmp_path / "journal"
    journal.append(
        directory,
        [
            journal.entry(T0 + i, f"{unit} {i}", _SYSTEMD_UNIT=unit)
            for i, unit in enumerate(["nginx.service", "cron.service"] * 3)
        ],
    )
    cfg = journal_config(tmp_path, 'journald_matches = ["_SYSTEMD_UNIT=nginx.service"]\n')
    part, status = journal_cycle(cfg)
    assert [r.message for r in part.logs] == ["nginx.service 0", "nginx.service 2",
                                              "nginx.service 4"]  # fmt: skip
    journal.append(
        directory,
        [journal.entry(T0 + 9 + i, f"burst {i}", _SYSTEMD_UNIT="nginx.service") for i in range(25)],
    )
    part, status = journal_cycle(cfg)
    assert status.ok, status.error
    assert [r.message for r in part.logs[-10:]] == [f"burst {i}" for i in range(15, 25)]
    # Counted by sequence numbers: 15 bursts, and the cron entry the match left out.
    assert "up to 16 older entries skipped to keep up" in status.detail
    # Other matches are another journal view: it starts at the newest entries, no "skip".
    other = journal_config(tmp_path, 'journald_matches = ["_SYSTEMD_UNIT=cron.service"]\n')
    part, status = journal_cycle(other)
    assert status.detail.startswith("3 new entries") and "skipped" not in status.detail


def test_journalctl_is_killed_when_time_is_up(tmp_path: Path, monkeypatch) -> None:
    slow = tmp_path / "journalctl"
    line = json.dumps({"__CURSOR": "s=1;i=5", "__REALTIME_TIMESTAMP": str(int(T0 * 1e6)),
                       "MESSAGE": "first", "PRIORITY": "6"})  # fmt: skip
    slow.write_text(f"#!/bin/sh\nprintf '%s\\n' '{line}'\nexec sleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setattr(journald, "JOURNALCTL", str(slow))
    start = time.monotonic()
    # Killed a second before the deadline: the second the source has to hand in what it
    # read (a loaded machine took more than the 0.45 s a 1.5 s deadline left).
    part, status = journal_cycle(journal_config(tmp_path), seconds=4)
    # journalctl would sleep 30 s: far less proves it was killed at the deadline, with room
    # for a loaded machine.
    assert time.monotonic() - start < 10
    assert status.ok, status.error
    assert [r.message for r in part.logs] == ["first"]
    assert "out of time after 1 entry:" in status.detail


def test_journald_errors_are_clear_and_fail_alone(tmp_path: Path, monkeypatch) -> None:
    journal.require_tools()
    (tmp_path / "journal").mkdir()
    (tmp_path / "app.log").write_text("still here\n")
    cfg = journal_config(tmp_path, f'paths = ["{tmp_path}/*.log"]\n')
    got = collect_all(
        context(cfg),
        [(logs.NAME, logs.collect), (journald.NAME, journald.collect)],
        LastGood(cfg.site.state_dir),
        TRACER,
        LOGGER,
    )
    log_status, journal_status = got.statuses
    assert log_status.ok and [r.message for r in got.part.logs] == ["still here"]
    assert not journal_status.ok
    assert f"no readable journal in {tmp_path / 'journal'}: no journal files" in (
        journal_status.error
    )
    missing = journal_config(tmp_path / "nowhere")
    assert "Failed to open" in journal_cycle(missing)[1].error
    monkeypatch.setattr(journald, "JOURNALCTL", str(tmp_path / "no-journalctl"))
    error = journal_cycle(cfg)[1].error
    assert "journalctl not found: install systemd's journalctl" in error


def test_journald_secrets_and_keys_over_several_entries_are_masked(tmp_path: Path) -> None:
    body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gt"
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    journal.append(
        tmp_path / "journal",
        [
            journal.entry(T0, "-----BEGIN OPENSSH PRIVATE KEY-----"),
            journal.entry(T0 + 1, body),
            journal.entry(T0 + 2, body[::-1]),
            journal.entry(T0 + 3, "-----END OPENSSH PRIVATE KEY-----"),
            journal.entry(T0 + 4, f"loaded {pem}"),
            journal.entry(T0 + 5, "login password=hunter2 for customer=48151623"),
            journal.entry(T0 + 6, "after"),
        ],
    )
    cfg = journal_config(tmp_path, '[redact]\npatterns = ["(?<=customer=)\\\\d+"]\n')
    part, status = journal_cycle(cfg)
    assert status.ok, status.error
    text = repr(part.logs)
    for secret in ("b3Bl", "MIIE", "hunter2", "48151623", body[::-1][:20]):
        assert secret not in text, secret
    assert [r.message for r in part.logs][-1] == "after"


# --- a corpus of real formats: every time and level as written ---

FIXTURES = ROOT / "tests" / "fixtures" / "logs"
# Per file, per line: the time the line states (UTC; a number is epoch seconds; None: it
# states none) and the level it names (None: it names none). Year-less stamps are read
# relative to NOW (2026-11-25): December is last year's.
CORPUS: dict[str, list[tuple[str | float | None, str | None]]] = {
    "android.log": [("2026-03-17T16:13:38.811", "debug"), ("2026-03-17T16:13:38.819", "debug"),
                    ("2026-03-17T16:13:38.839", "debug"), ("2026-03-17T16:13:38.896", "info"),
                    ("2026-03-17T16:14:02.137", "warning"), ("2026-03-17T16:15:11.402", "error")],
    "hdfs.log": [("2008-11-09T20:36:15", "info"), ("2008-11-09T20:38:07", "info"),
                 ("2008-11-09T20:40:05", "info"), ("2008-11-09T21:40:43", "warning")],
    "spark.log": [("2017-06-09T20:10:40", "info"), ("2017-06-09T20:10:41", "info"),
                  ("2017-06-09T20:11:11", "warning"), ("2017-06-09T20:11:12", "error")],
    "openstack.log": [("2017-05-16T00:00:00.008", "info"), ("2017-05-16T00:00:04.500", "info"),
                      ("2017-05-16T00:00:05.185", "warning"), ("2017-05-16T00:00:10.296", "error")],
    "bgl.log": [(1117838570, "info"), (1117838573, "info"), (1117869872, "critical"),
                (1118536327, "critical")],
    "thunderbird.log": [(1131566461, None), (1131566461, None), (1131566462, "warning"),
                        (1131567242, "error")],
    "hpc.log": [(1077804742, None), (1077804746, None), (1074119817, None)],
    "healthapp.log": [("2017-12-23T22:15:29.606", None), ("2017-12-23T22:15:29.615", None),
                      ("2017-12-23T22:15:29.633", None)],
    "proxifier.log": [("2026-10-30T16:49:06", None), ("2026-10-30T16:49:06", None),
                      ("2026-10-30T16:49:07", None)],
    "apache-error.log": [("2005-12-04T04:47:44", "info"), ("2005-12-04T04:47:44", "error"),
                         ("2005-12-04T04:51:08", "info")],
    "hadoop.log": [("2015-10-18T18:01:47.978", "info"), ("2015-10-18T18:01:48.963", "info"),
                   ("2015-10-18T18:01:48.963", "info"), ("2015-10-18T18:10:49.386", "warning"),
                   ("2015-10-18T18:10:56.597", "error")],
    "zookeeper.log": [("2015-07-29T17:41:44.747", "info"), ("2015-07-29T19:04:12.394", "warning"),
                      ("2015-07-29T19:04:29.071", "error")],
    "linux-syslog.log": [("2026-06-14T15:16:01", None), ("2026-06-15T04:06:18", None),
                         ("2026-06-15T04:06:19", "critical")],
    "mac.log": [("2026-07-01T09:00:55", None), ("2026-07-01T09:01:05", None),
                ("2026-07-01T09:02:26", None)],
    "windows-cbs.log": [("2016-09-28T04:30:30", "info"), ("2016-09-28T04:30:31", "info"),
                        ("2016-09-28T04:30:31", "error")],
    "openssh.log": [("2025-12-10T06:55:46", None), ("2025-12-10T06:55:46", None),
                    ("2025-12-10T07:02:47", "error")],
    "nginx-access.log": [("2015-05-17T08:05:32", "info"), ("2015-05-17T08:05:24", "warning"),
                         ("2015-05-17T06:05:12", "info"), ("2000-10-10T20:55:36", "error")],
    "nginx-error.log": [("2015-05-17T08:05:32", "error"), ("2015-05-17T08:06:01", "warning"),
                        ("2015-05-17T08:07:12", "info")],
    "rfc5424.log": [("2003-10-11T22:14:15.003", "critical"), ("2003-08-24T12:14:15.000003", "info"),
                    ("2003-10-11T22:14:15.003", "info"), (None, "warning")],
    "rfc3164.log": [("2026-10-11T22:14:15", "critical"), ("2026-02-05T17:32:18", "info")],
    "klog.log": [("2026-07-15T14:26:15.123456", "info"), ("2026-07-15T14:26:16.000001", "warning"),
                 ("2026-07-15T14:26:17.5", "error")],
    "golang.log": [("2009-11-10T23:00:00", None), ("2009-11-10T23:00:01.123456", None),
                   ("2009-11-10T23:00:02", "error")],
    "zap-console.log": [("2023-03-15T10:20:30.123", "error"), ("2023-03-15T10:20:31.456", "info"),
                        ("2023-03-15T10:20:32", "warning"), ("2023-03-15T09:20:33", "debug")],
    "rust-tracing.log": [("2023-01-10T12:34:56.789012", "info"),
                         ("2023-01-10T12:34:57.000001", "warning"),
                         ("2023-01-10T12:34:58.1", "error"), ("2023-01-10T12:34:59", "debug")],
    "rust-tracing-json.log": [("2023-01-10T12:34:56.789012", "info"),
                              ("2023-01-10T12:34:58.1", "error")],
    "logstash-v0.log": [("2013-01-22T11:30:01.123", "error"), ("2013-01-22T11:30:02", "warning")],
    "ecs.log": [("2019-08-06T12:09:12.375", "error"), ("2019-08-06T12:09:13", "warning")],
    "docker-compose.log": [(1646861401.5241024, "info"), (1646861402.0, "error"),
                           ("2022-03-09T21:30:05", "info"), ("2022-03-09T21:30:06.123", "info")],
    "cri.log": [("2016-10-06T00:17:09.669794", None), ("2016-10-06T00:17:09.669794", None),
                ("2016-10-06T00:17:10.113243", "warning"), ("2016-10-06T00:17:11", "info")],
    "journald-export.log": [(1700000000.123456, "info"), (1700000001.0, "error")],
    "postgresql.log": [("2023-01-01T12:00:00.123", "info"), ("2023-01-01T12:00:05.456", "error"),
                       ("2023-01-01T12:00:05.456", None), ("2023-01-01T11:00:09", "warning")],
    "mysql.log": [("2023-01-01T12:00:00.123456", "info"), ("2023-01-01T12:00:01", "warning"),
                  ("2023-01-01T12:00:02", "error")],
    "python-logging.log": [("2023-01-01T12:00:00.123", "error"), ("2023-01-01T12:00:01", "info"),
                           ("2023-01-01T12:00:02.5", "critical")],
    "logfmt.log": [("2023-01-01T12:00:00.123", "info"), ("2023-01-01T12:00:01", "warning"),
                   ("2023-01-01T12:00:02", "error")],
    "pino.log": [(1700000000.0, "info"), (1700000001.5, "error")],
    "docker-json-file.log": [("2023-01-01T12:00:00", "error"), ("2023-01-01T12:00:01.5", None)],
    "redis.log": [("2026-11-25T09:58:00.123", "info"), ("2026-11-25T09:58:30", "warning"),
                  ("2026-11-25T09:59:00", "debug")],
}  # fmt: skip


def test_a_corpus_of_real_formats_reads_time_and_level_as_written() -> None:
    assert sorted(CORPUS) == sorted(p.name for p in FIXTURES.glob("*.log"))
    assert len(CORPUS) >= 25
    right, wrong = 0, []
    for name, expected in CORPUS.items():
        raws = (FIXTURES / name).read_bytes().splitlines()
        lines = list(FileParser("auto", FileState()).parse(raws, NOW))
        assert len(lines) == len(expected), name
        for n, (line, (when, level)) in enumerate(zip(lines, expected, strict=True), 1):
            ts = utc(when) if isinstance(when, str) else when
            if (line.ts is None, line.level) == (ts is None, level) and (
                ts is None or abs(line.ts - ts) < 1e-6
            ):
                right += 1
            else:
                wrong.append((f"{name}:{n}", line.ts, line.level, ts, level))
    total = sum(len(e) for e in CORPUS.values())
    assert right / total >= 0.98, wrong


def test_naive_times_are_read_in_the_configured_zone(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text(
        "2026-07-01 12:00:00,000 INFO summer, naive\n"
        "2026-01-01 12:00:00,000 INFO winter, naive\n"
        "2026-07-01T12:00:00Z INFO zoned\n"
        "Jul  1 12:00:00 host app: syslog, naive\n"
        '{"time":"2026-07-01T12:00:00","msg":"json, naive"}\n'
    )
    cfg = logs_config(tmp_path, 'timezone = "America/New_York"\n')
    got = {r.message.split(",")[0]: r.ts for r in cycle(cfg).logs}
    # The cycle reads the clock: the syslog line's year is the one given to a stamp without
    # one then (tested with a fixed clock above), 2027 from 2027-06-29 on.
    syslog_year = year_for(7, 1, time.time())
    assert got == {
        "INFO summer": utc("2026-07-01T16:00:00"),  # EDT, -4
        "INFO winter": utc("2026-01-01T17:00:00"),  # EST, -5
        "INFO zoned": utc("2026-07-01T12:00:00"),
        "host app: syslog": utc(f"{syslog_year}-07-01T16:00:00"),
        "json": utc("2026-07-01T16:00:00"),
    }
    assert parse('[logs]\ntimezone = "UTC"\n', env={}).logs.timezone == "UTC"
    with pytest.raises(ConfigError) as bad:
        parse('[logs]\ntimezone = "Mars/Olympus"\n', env={})
    assert bad.value.errors == [
        "logs.timezone: not an IANA time zone (e.g. UTC, Europe/Berlin): 'Mars/Olympus'"
    ]


@pytest.mark.parametrize(
    "line",
    ["[abc] " * 3000, "ERRORS " * 2500, "level=" * 2700, "x: " * 5000, "1" * 16000,
     "caddy | " * 2000, "2026-11-22 " * 1400],
)  # fmt: skip
def test_a_level_and_time_search_over_the_whole_line_stays_linear(line: str) -> None:
    started = time.perf_counter()
    for _ in range(20):
        parse_line(line[:MAX_LINE], "auto", NOW)
    assert time.perf_counter() - started < 2.0


def test_data_logs_json_holds_every_shown_record_newest_first() -> None:
    from sitegen.render.twins import twins

    records = (
        LogRecord(utc("2005-12-04T04:47:44"), "error", "mod_jk child in error state", "apache.log"),
        LogRecord(None, None, "    at x (app.js:1:1)", "app.log", place=utc("2005-12-04T04:47:44")),
        LogRecord(
            1700000000.123456,
            "info",
            "<b>done</b> & ok",
            "app.log",
            "ab" * 16,
            (("k", "v"),),
            0.012,
        ),
    )
    snap = dataclasses.replace(snapshot(Workload(panels=0, traces=0, log_lines=0)), logs=records)
    raw = twins(snap)["data/logs.json"]
    assert b"<" not in raw and b"&" not in raw  # markup in log text is escaped, not HTML
    doc = json.loads(raw)
    assert doc["generated_at"] == "2026-11-22T09:42:42Z"
    assert doc["records"] == [
        {"time": "2023-11-14T22:13:20.123456Z", "level": "info", "source": "app.log",
         "message": "<b>done</b> & ok", "fields": {"k": "v"}, "trace_id": "ab" * 16,
         "duration_seconds": 0.012},
        {"time": None, "level": None, "source": "app.log", "message": "    at x (app.js:1:1)",
         "fields": {}, "trace_id": None, "duration_seconds": None},
        {"time": "2005-12-04T04:47:44Z", "level": "error", "source": "apache.log",
         "message": "mod_jk child in error state", "fields": {}, "trace_id": None,
         "duration_seconds": None},
    ]  # fmt: skip

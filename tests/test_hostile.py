"""Hostile input, end to end: real `sitegen render` cycles over log files, a journal and
OTLP traces full of markup, junk, far-off times and secrets. Nothing may crash, run or leak.

Markers are checked both ways: the escaped form must be on the page (so the data was
shown, not dropped) and the raw form nowhere.
"""

from __future__ import annotations

import json
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sitegen.cli import main
from sitegen.redact import redact
from sitegen.render.environment import trace_path
from sitegen.state import LastGood
from tests import journal
from tests.test_logs import SECRETS
from tests.test_render import HOSTILE

TRACE = "0af7651916cd43dd8448eb211c80319c"
EVIL_NAME = '"><svg onload=alert(10)>.log'
CUSTOM = "TENANT-123456"  # masked by the [redact] pattern of the config below
PEM_LINES = [
    "-----BEGIN EC PRIVATE KEY-----",
    "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oRb2dVdyYQ2a",
    "oAoGCCqGSM49AwEHoUQDQgAEvB4XiB3E6e2y0gDB0EI3Klrd9x3qR0cj",
    "-----END EC PRIVATE KEY-----",
]
# Every secret written into the corpus; none may reach the site.
LEAKS = [secret for _, secret in SECRETS] + [CUSTOM, PEM_LINES[1][:24], PEM_LINES[2][:24]]


def stamp(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def config(root: Path, logs_extra: str = "") -> Path:
    """Write the hostile site's config (`logs_extra` goes into [logs]); return its path."""
    path = root / "sitegen.toml"
    path.write_text(
        f'[site]\ntitle = \'{HOSTILE[0]}\'\nout_dir = "public"\nstate_dir = "state"\n'
        "workers = 1\n"
        f'[logs]\npaths = ["{root}/logs/*.log"]\ntail_lines = 1000\n{logs_extra}'
        f'[traces]\notlp_json = ["{root}/traces/*.json"]\n'
        '[redact]\npatterns = ["TENANT-\\\\d{6}"]\n'
    )
    return path


def log_corpus(root: Path) -> None:
    """Log files with markup in every field, junk, far-off times and every kind of secret."""
    logs = root / "logs"
    logs.mkdir(parents=True)
    evil = " ".join(HOSTILE)
    lines = [
        {"ts": stamp(), "level": "error", "msg": evil, "trace_id": TRACE, "user": HOSTILE[1],
         HOSTILE[1]: "an evil key", "url": "javascript:alert(3)", "duration": "12ms"},
        {"ts": stamp(), "level": HOSTILE[1], "msg": "an evil level"},
        {"ts": stamp(), "msg": "an evil trace id", "trace_id": HOSTILE[1]},
        {"ts": stamp(), "msg": "<a href=javascript:alert(11)>link</a> <iframe srcdoc=x>"},
    ]  # fmt: skip
    (logs / "app.log").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (logs / EVIL_NAME).write_text(f"{stamp()} ERROR from a file with an evil name\n")
    (logs / "junk.log").write_bytes(
        b"\xff\xfe\xfd invalid utf-8\n\x00\x00 NUL \x00\n"
        + (bytes(range(32)) + bytes(range(127, 256))) * 4  # controls and non-ASCII bytes
        + b"\n\x1b[31mERROR\x1b[0m \x1b]0;title\x07 \xe2\x80\xae reversed\n"
        + b"1970-01-01T00:00:00Z ERROR from 1970\n2100-01-01T00:00:00Z ERROR from 2100\n"
        + b'{"ts": -1e308, "msg": "time below zero"}\n{"ts": 1e308, "msg": "time past 9999"}\n'
        + b'{"a":' * 50_000
        + b"\n"
    )
    (logs / "big.log").write_bytes(b"<script>" + b"A" * 1_000_000 + b"</script>\n")
    secret_lines = [f"{stamp()} WARN {text}" for text, _ in SECRETS]
    secret_lines += [json.dumps({"msg": text, "level": "warn"}) for text, _ in SECRETS]
    secret_lines += [f"{stamp()} ERROR key:", *PEM_LINES, f"{stamp()} tenant {CUSTOM} done"]
    (logs / "secrets.log").write_text("".join(f"{line}\n" for line in secret_lines))


def trace_corpus(root: Path, spans: list[dict], service: str = HOSTILE[1]) -> None:
    """One OTLP JSON file (the Collector's file exporter format) holding these spans."""
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name",
                                             "value": {"stringValue": service}}]},
                "scopeSpans": [{"spans": spans}],
            }
        ]
    }  # fmt: skip
    (root / "traces").mkdir(parents=True, exist_ok=True)
    (root / "traces" / "spans.json").write_text(json.dumps(doc) + "\n")


def span(trace_id: str, span_id: str, name: str, start_ns: int, **attributes: str) -> dict:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 1_000_000),
        "status": {"code": "STATUS_CODE_ERROR", "message": HOSTILE[4]},
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }


def render(config_path: Path) -> Path:
    """Run one real `sitegen render` cycle; return the built site's directory."""
    assert main(["render", "--config", str(config_path), "--quiet"]) == 0
    return (config_path.parent / "public").resolve()


def site_files(site: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(site)): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    # Hostile data must be shown, not make its page fall back to an error notice.
    assert not [p for p, body in files.items() if b"could not be rendered" in body]
    return files


class Executable(HTMLParser):
    """Collects what a browser would run or load as a document: script-capable elements,
    event-handler attributes, and script URLs (attribute values come unescaped)."""

    TAGS = frozenset(("script", "iframe", "frame", "object", "embed", "base", "form"))

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            url = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name.startswith("on") or url.startswith(("javascript:", "vbscript:", "data:text")):
                self.found.append(f"<{tag} {name}={value!r}>")


def assert_nothing_runs(files: dict[str, bytes]) -> None:
    """No built file holds a script element, an event handler or a javascript: URL."""
    for path, body in files.items():
        text = body.decode("utf-8", "replace")
        assert "<script" not in text.lower(), path
        if path.endswith((".html", ".svg")):
            parser = Executable()
            parser.feed(text)
            assert not parser.found, (path, parser.found)


def assert_no_leak(blobs: dict[str, bytes], leaks: list[str]) -> None:
    found = [(path, s) for path, body in blobs.items() for s in leaks if s.encode() in body]
    assert not found, found


def test_hostile_logs_and_traces_render_safely(tmp_path: Path) -> None:
    log_corpus(tmp_path)
    now_ns = time.time_ns()
    trace_corpus(
        tmp_path,
        [
            span(TRACE, "b7ad6b7169203331", HOSTILE[0], now_ns, **{HOSTILE[2]: HOSTILE[3],
                 "http.url": "javascript:alert(12)"}),
            span(HOSTILE[1], HOSTILE[4], "evil ids", now_ns - 10**9),
            span("1" * 32, "2" * 16, "from 1970", 0),
            span("3" * 32, "4" * 16, "from 2100", 4102444800 * 10**9),
        ],
    )  # fmt: skip
    cfg = config(tmp_path)
    first = (render(cfg) / "logs" / "index.html").read_text()
    assert "2 lines cut to 16,384 characters" in first  # said in the cycle that cut them
    with (tmp_path / "logs" / "app.log").open("a") as f:  # a second cycle reads what is new
        f.write(json.dumps({"ts": stamp(), "msg": f"second cycle {HOSTILE[0]}"}) + "\n")
    site = render(cfg)

    files = site_files(site)
    assert_nothing_runs(files)
    # Every line on one of the logs pages: the newest, or an older one.
    logs = sorted(p for p in files if re.fullmatch(r"logs/(index|before-[^/]+)\.html", p))
    page = "".join(files[p].decode() for p in logs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;svg onload=alert(2)&gt;" in page
    assert "&#34;&gt;&lt;svg onload=alert(10)&gt;.log" in page  # the evil file name
    assert "second cycle &lt;script&gt;" in page
    assert f'href="../{trace_path(TRACE)}"' in page  # the one valid trace id is linked
    assert "1970-01-01 00:00:00" in page and "2100-01-01 00:00:00" in page
    assert "took</span> 12 ms" in page
    assert "&lt;script&gt;" + "A" * 100 in page  # the 1 MB line, cut and escaped
    trace_page = files[trace_path(TRACE)].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in trace_page
    assert "&#34;&gt;&lt;svg onload=alert(2)&gt;" in trace_page  # the service name

    assert_no_leak(files, LEAKS)
    state = tmp_path / "state"
    assert_no_leak({"cache/logs.pickle": (state / "cache" / "logs.pickle").read_bytes()}, LEAKS)
    for junk in ("\x00", "\x1b", "\u202e"):
        assert junk not in page


def test_hostile_journal_entries_render_safely(tmp_path: Path) -> None:
    now = time.time()
    entries = [
        journal.entry(now - 5, " ".join(HOSTILE), PRIORITY="3", _SYSTEMD_UNIT=HOSTILE[1]),
        journal.entry(now - 4, b"\xff\x00 binary \x1b[31m" + HOSTILE[4].encode(),
                      SYSLOG_IDENTIFIER=HOSTILE[0], TRACE_ID=HOSTILE[1]),
        journal.entry(1e-6, "from 1970"),  # 0 is "no time" to the journal
        journal.entry(4102444800, "from 2100"),
        *(journal.entry(now - 3, text, PRIORITY="4") for text, _ in SECRETS),
        *(journal.entry(now - 2, line) for line in PEM_LINES),
        journal.entry(now - 1, f"tenant {CUSTOM}"),
    ]  # fmt: skip
    journal.append(tmp_path / "journal", entries)
    (tmp_path / "logs").mkdir()
    cfg = config(tmp_path, f'journald = true\njournald_directory = "{tmp_path}/journal"\n')
    site = render(cfg)
    files = site_files(site)
    assert_nothing_runs(files)
    # Every line on one of the logs pages: the newest, or an older one.
    logs = sorted(p for p in files if re.fullmatch(r"logs/(index|before-[^/]+)\.html", p))
    page = "".join(files[p].decode() for p in logs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;svg onload=alert(2)&gt;" in page  # the unit name
    assert "1970-01-01 00:00:00" in page and "2100-01-01 00:00:00" in page
    assert_no_leak(files, LEAKS)
    cache = tmp_path / "state" / "cache" / "journald.pickle"
    assert_no_leak({"journald.pickle": cache.read_bytes()}, LEAKS)


def test_secrets_in_span_names_are_masked(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    statement = "UPDATE users SET password='correct-horse' WHERE id=1"
    trace_corpus(tmp_path, [span(TRACE, "b7ad6b7169203331", statement, time.time_ns())],
                 service="db")  # fmt: skip
    files = site_files(render(config(tmp_path)))
    assert_no_leak(files, ["correct-horse"])


def test_a_span_time_past_year_9999_does_not_break_the_render(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    trace_corpus(tmp_path, [span(TRACE, "b7ad6b7169203331", "far", 10**30)], service="api")
    files = site_files(render(config(tmp_path)))
    page = next(body for path, body in files.items() if TRACE in path)
    assert b"out of range" in page  # the span's time, said to be nonsense, not a crash


@pytest.mark.parametrize(
    "piece",
    ["x:", "eyJa.", "ghp_", "ab://c:", "_", "sk_live_", "a.b-", "Cookie:[", "Authorization: ",
     "x-auth-token=[a ", "token ", "tokenType=", "a.b_token"],
)  # fmt: skip
def test_redaction_stays_linear_on_runs_built_to_make_a_regex_backtrack(piece: str) -> None:
    line = piece * (200_000 // len(piece))  # quadratic patterns took minutes on these
    started = time.perf_counter()
    redact(line)
    assert time.perf_counter() - started < 3.0, piece


# Control characters a terminal acts on: none may be in any text file sitegen writes.
RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_escapes_newlines_and_an_unfinished_last_line(tmp_path: Path) -> None:
    """Points 4-6 of a log reader's duty: decoded escapes shown, never obeyed; a newline in
    a value never forges a line; a last line without a newline shown once the file is quiet."""
    logs = tmp_path / "logs"
    logs.mkdir()
    forged = "first\n2026-01-01T00:00:00Z ERROR forged line"
    junk = "\u001b]0;pwned\u0007 \u001b[2J \b\u0000 \u009b \u202eevil\u202c \u200b \u2066x\u2069"
    (logs / "app.json.log").write_text(
        json.dumps({"ts": stamp(), "level": "warn", "msg": forged, "note": junk}) + "\n"
        + f"ts={stamp()} level=info msg={json.dumps(f'logfmt{forged} too {junk}')}\n"
    )  # fmt: skip
    quiet = logs / "quiet.log"
    quiet.write_text(f"{stamp(-120)} INFO complete\n{stamp(-60)} ERROR no newline at the end")
    old = time.time() - 3600
    os.utime(quiet, (old, old))  # older than the interval: the writer is done with it
    busy = logs / "busy.log"
    busy.write_text(f"{stamp()} INFO done\n{stamp()} INFO still being writ")
    site = render(config(tmp_path))
    files = site_files(site)
    page = files["logs/index.html"].decode()
    tail = re.search(r'<pre class="tail"[^>]*>(.*?)</pre>', page, re.S).group(1)
    lines = tail.split("\n")
    assert [line for line in lines if "forged" in line] == [
        line for line in lines if "first⏎2026-01-01T00:00:00Z ERROR forged line" in line
    ]
    assert len([line for line in lines if "forged" in line]) == 2, lines  # JSON and logfmt
    assert "\\x1b]0;pwned\\x07" in page and "\\u202eevil" in page and "\\x00" in page
    assert "no newline at the end" in page
    messages = [r["message"] for r in json.loads(files["data/logs.json"])["records"]]
    assert "first⏎2026-01-01T00:00:00Z ERROR forged line" in messages
    assert "still being writ" not in page  # its writer may be mid-line
    for path, body in files.items():
        if path.endswith((".html", ".json", ".svg", ".xml", ".txt", ".atom", ".css")):
            assert not RAW_CONTROL.search(body.decode()), path
    records = LastGood(tmp_path / "state").load("logs")[1].logs
    for record in records:  # the cache holds what the page shows
        assert not RAW_CONTROL.search(record.message + "".join(k + v for k, v in record.fields))
    # The next cycle finishes the busy line once its writer is quiet.
    with busy.open("a") as f:
        f.write("ten")
    os.utime(busy, (old, old))
    assert "still being written" in (render(config(tmp_path)) / "logs" / "index.html").read_text()

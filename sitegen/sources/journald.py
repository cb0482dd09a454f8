"""journald: the systemd journal, read through `journalctl -o json`, followed by cursor.

Each cycle asks journalctl for the newest MAX_ENTRIES entries, newest first, and stops at
the entry it read last (its cursor is kept in state_dir): so it reads what is new, at
most MAX_ENTRIES of it, and a larger backlog is skipped to its newest part and said.
journalctl is killed when the cycle's time is up. Without `--all`, journalctl writes
fields over 4,096 bytes as null: an entry's size is bounded before it reaches sitegen.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from sitegen.logs.fields import duration_in_text, level_of, trace_id_of
from sitegen.logs.parse import Line, clean, to_record
from sitegen.logs.stats import level_samples, order_key, tail
from sitegen.logs.timestamps import sane
from sitegen.redact import KeyBlocks
from sitegen.sources.base import Part, SourceContext
from sitegen.sources.logs import shown_before, stop_time
from sitegen.statefiles import atomic_write_bytes, quarantine
from sitegen.units import counted

NAME = "journald"
STATE = "journald/cursor.json"
JOURNALCTL = "journalctl"
MAX_ENTRIES = 5000  # per cycle; parsing them takes milliseconds, journalctl a little more
MAX_ENTRY_BYTES = 1024 * 1024  # a longer output line is dropped (fields are <= 4 KiB anyway)
SYSTEM_JOURNALS = (Path("/var/log/journal"), Path("/run/log/journal"))
_SOURCE_FIELDS = ("_SYSTEMD_UNIT", "_SYSTEMD_USER_UNIT", "SYSLOG_IDENTIFIER", "_COMM")
_TRACE_FIELDS = ("TRACE_ID", "OTEL_TRACE_ID", "TRACEID", "TRACEPARENT")
# Only these are asked for: less to parse, and no command lines or environments shown.
OUTPUT_FIELDS = ("MESSAGE", "PRIORITY", "_HOSTNAME", *_SOURCE_FIELDS, *_TRACE_FIELDS)
_NO_FILES = "No journal files were"  # journalctl's "... found" / "... opened due to ..."
_PARTIAL = "not seeing messages from other users"


class JournalError(RuntimeError):
    """journalctl is missing, or the journal cannot be read."""


def command(directory: str, matches: tuple[str, ...]) -> list[str]:
    """Return the journalctl command line: newest entries first, as JSON, only our fields."""
    cmd = [
        JOURNALCTL,
        "--output=json",
        "--reverse",
        f"--lines={MAX_ENTRIES}",
        "--no-pager",
        f"--output-fields={','.join(OUTPUT_FIELDS)}",
    ]
    if directory:
        cmd.append(f"--directory={directory}")
    return [*cmd, "--", *matches]  # matches are FIELD=value or "+" (checked at config load)


def message_of(value: object) -> str:
    """Return MESSAGE as text: journal JSON writes non-UTF-8 or binary ones as byte arrays."""
    if isinstance(value, list):
        raw = bytes(b for b in value if isinstance(b, int) and 0 <= b <= 255)
    elif isinstance(value, str):
        raw = value.encode("utf-8", "replace")
    elif value is None:
        return "(message over 4,096 bytes: journalctl does not show it)"
    else:
        raw = str(value).encode()
    return "\n".join(clean(part) for part in raw.split(b"\n"))


def entry_line(entry: dict, show_host: bool) -> tuple[Line, str]:
    """Return one journal entry as a parsed line and the name of what logged it."""
    try:
        ts = sane(int(entry.get("__REALTIME_TIMESTAMP", "")) / 1e6)  # microseconds
    except (TypeError, ValueError):
        ts = None
    message = message_of(entry.get("MESSAGE", ""))
    source = next((str(entry[f]) for f in _SOURCE_FIELDS if isinstance(entry.get(f), str)), "")
    trace = next((t for f in _TRACE_FIELDS if (t := trace_id_of(entry.get(f, ""))) is not None),
                 None)  # fmt: skip
    host = entry.get("_HOSTNAME")
    fields = (("host", host),) if show_host and isinstance(host, str) else ()
    line = Line(
        ts=ts,
        level=level_of(entry.get("PRIORITY", "")),
        message=message,
        fields=fields,
        trace_id=trace,
        duration_s=duration_in_text(message),
    )
    return line, source or "journal"


def _has_journal_files(directory: str) -> bool:
    roots = (Path(directory),) if directory else SYSTEM_JOURNALS
    return any(next(root.rglob("*.journal*"), None) for root in roots if root.is_dir())


@dataclass
class _Read:
    """What one journalctl run gave: its entries as lines, newest first, and how it ended.

    Entries become lines as they are read: a raw entry (byte arrays as JSON numbers) can be
    ten times the size of its line, and 5,000 of them are kept until the run ends.
    """

    lines: list[tuple[Line, str]] = field(default_factory=list)
    newest_cursor: str | None = None
    oldest_cursor: str | None = None
    reached_cursor: bool = False
    out_of_time: bool = False
    unreadable: int = 0
    stderr: str = ""


def _run(cmd: list[str], cursor: str | None, kill_at: float, show_host: bool) -> _Read:
    """Run journalctl and read its entries until the cursor, the end, or kill_at."""
    read = _Read()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: stderr can never block it
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
            )
        except FileNotFoundError:
            raise JournalError(
                f"{JOURNALCTL} not found: install systemd's journalctl, or set "
                "[logs] journald = false"
            ) from None
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(max(0.0, kill_at - time.monotonic()), kill)
        timer.start()
        try:
            _read_entries(proc.stdout, cursor, read, show_host)
            if read.reached_cursor:
                proc.kill()  # what comes after the cursor was read in an earlier cycle
            proc.wait()  # the timer still kills a journalctl that hangs
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        read.out_of_time = timed_out.is_set() and not read.reached_cursor
        err.seek(0)
        read.stderr = err.read(4096).decode("utf-8", "replace").strip()
    if proc.returncode != 0 and not read.reached_cursor and not timed_out.is_set():
        raise JournalError(
            f"{JOURNALCTL} failed (exit {proc.returncode}): {read.stderr or 'no message'}"
        )
    return read


def _read_entries(stdout: IO[bytes], cursor: str | None, read: _Read, show_host: bool) -> None:
    """Collect the entries of journalctl's output, newest first, until the cursor."""
    while raw := stdout.readline(MAX_ENTRY_BYTES):
        if not raw.endswith(b"\n"):  # longer than any entry should be: dropped to its end
            while (more := stdout.readline(MAX_ENTRY_BYTES)) and not more.endswith(b"\n"):
                pass
            read.unreadable += 1
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            read.unreadable += 1
        elif cursor is not None and entry.get("__CURSOR") == cursor:
            read.reached_cursor = True
            return
        else:
            read.lines.append(entry_line(entry, show_host))
            read.oldest_cursor = str(entry.get("__CURSOR", ""))
            read.newest_cursor = read.newest_cursor or read.oldest_cursor


def _load_state(path: Path, key: str) -> tuple[str | None, int]:
    """Return the saved cursor and key-block state, if they belong to this journal and matches."""
    if not path.exists():
        return None, -1
    try:
        saved = json.loads(path.read_text())
        if saved["key"] != key:
            return None, -1  # another directory or other matches: start at the newest
        return str(saved["cursor"]) if saved["cursor"] else None, int(saved["key_lines"])
    except (ValueError, TypeError, KeyError) as exc:
        quarantine(path, f"{type(exc).__name__}: {exc}")
        return None, -1


def _seqnum(cursor: str) -> tuple[str, int] | None:
    """Return a cursor's (sequence number id, sequence number), e.g. from "s=...;i=4f;..."."""
    parts = dict(p.split("=", 1) for p in cursor.split(";") if "=" in p)
    try:
        return parts["s"], int(parts["i"], 16)
    except (KeyError, ValueError):
        return None


def _skipped(read: _Read, cursor: str | None) -> str:
    """Say what a read that did not get back to its cursor left out."""
    if read.out_of_time:
        read_so_far = counted(len(read.lines), "entry", "entries")
        return f"out of time after {read_so_far}: older new ones skipped"
    if cursor is None or read.reached_cursor or len(read.lines) < MAX_ENTRIES:
        return ""
    before, oldest = _seqnum(cursor), _seqnum(read.oldest_cursor or "")
    if before and oldest and before[0] == oldest[0] and oldest[1] > before[1] + 1:
        older = counted(oldest[1] - before[1] - 1, "older entry", "older entries")
        return f"up to {older} skipped to keep up"
    return "older entries skipped to keep up"


def collect(ctx: SourceContext) -> Part:
    """Read the journal entries written since the last cycle (the newest MAX_ENTRIES)."""
    logs = ctx.cfg.logs
    directory = logs.journald_directory
    key = hashlib.sha256(json.dumps([directory, logs.journald_matches]).encode()).hexdigest()
    state_path = ctx.state_dir / STATE
    cursor, key_lines = _load_state(state_path, key)
    cmd = command(directory, logs.journald_matches)
    read = _run(cmd, cursor, stop_time(ctx.deadline), show_host=bool(directory))
    if _NO_FILES in read.stderr or (
        not read.lines and cursor is None and not _has_journal_files(directory)
    ):
        where = directory or " or ".join(str(p) for p in SYSTEM_JOURNALS)
        raise JournalError(
            f"no readable journal in {where}: {read.stderr or 'no journal files'} "
            "(is the user in the systemd-journal group?)"
        )
    blocks = KeyBlocks(key_lines)
    levels: Counter[str] = Counter()
    lines = []
    for line, source in reversed(read.lines):  # oldest first: a key block reads in order
        line = replace(line, message=blocks.mask(line.message))
        levels[line.level] += 1
        lines.append((line, source))
    # Only the lines that can be shown are redacted and kept (as the logs source does).
    lines.sort(key=lambda item: order_key(ctx.now if item[0].ts is None else item[0].ts, ctx.now))
    patterns = ctx.cfg.redact.patterns
    new = [to_record(ln, src, ctx.now, patterns) for ln, src in lines[-logs.tail_lines :]]
    atomic_write_bytes(
        state_path,
        json.dumps(
            {"key": key, "cursor": read.newest_cursor or cursor, "key_lines": blocks.inside}
        ).encode(),
    )
    ctx.history.add(level_samples(levels, ctx.now, source=NAME))
    shown = tail(shown_before(ctx), new, logs.tail_lines, ctx.now)
    detail = [f"{counted(len(lines), 'new entry', 'new entries')}, {len(shown):,} shown"]
    if skipped := _skipped(read, cursor):
        detail.append(skipped)
    if read.unreadable:
        detail.append(counted(read.unreadable, "unreadable entry", "unreadable entries"))
    if _PARTIAL in read.stderr:
        detail.append("only the entries this user may read (add it to group systemd-journal)")
    return Part(logs=shown, detail="; ".join(detail))

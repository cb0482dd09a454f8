"""Real systemd journal files for tests, without a running systemd.

Entries are written in the journal export format and turned into a `.journal` file by
systemd-journal-remote (Debian package systemd-journal-remote); the real journalctl
reads them back with --directory.
"""

from __future__ import annotations

import itertools
import shutil
import struct
import subprocess
from pathlib import Path

from tests.conftest import unavailable

JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")
BOOT_ID = "0123456789abcdef0123456789abcdef"
# Within one boot journalctl orders entries by the monotonic clock: it follows call order.
_MONOTONIC = itertools.count(1_000_000, 1_000)


def require_tools() -> None:
    """Skip when journalctl or systemd-journal-remote is missing; CI must have both."""
    if JOURNAL_REMOTE.exists() and shutil.which("journalctl"):
        return
    unavailable(
        "systemd-journal-remote is not installed: scripts/test installs it",
        "systemd-journal-remote is not installed (apt-get install systemd-journal-remote)",
    )


def export(entries: list[dict[str, str | bytes]]) -> bytes:
    """Encode entries in the journal export format (binary-safe for bytes values)."""
    out = bytearray()
    for entry in entries:
        for key, value in entry.items():
            data = value if isinstance(value, bytes) else value.encode()
            if isinstance(value, bytes) or b"\n" in data:
                out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
            else:
                out += key.encode() + b"=" + data + b"\n"
        out += b"\n"
    return bytes(out)


def entry(ts: float, message: str | bytes, **fields: str) -> dict[str, str | bytes]:
    """Return one entry at UNIX time ts, after every entry made before it."""
    return {
        "__REALTIME_TIMESTAMP": str(int(ts * 1e6)),
        "__MONOTONIC_TIMESTAMP": str(next(_MONOTONIC)),
        "_BOOT_ID": BOOT_ID,
        "MESSAGE": message,
        **fields,
    }


def append(directory: Path, entries: list[dict[str, str | bytes]]) -> Path:
    """Append entries to directory/test.journal (created on first use); return its path."""
    require_tools()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "test.journal"
    subprocess.run(
        [str(JOURNAL_REMOTE), f"--output={path}", "-"],
        input=export(entries),
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path

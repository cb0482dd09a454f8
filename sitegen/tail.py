"""Follow files across cycles: read only what was appended, through rotation and truncation.

Offsets are remembered per file identity (device and inode), not per name, so a file
renamed by logrotate is finished from where it was left, and the new file at the old name
starts from its beginning. A file that shrank, or whose first bytes changed, was truncated
and rewritten: it is read again from 0.
Each call reads at most `max_bytes` per file; a backlog larger than that is skipped to its
newest part, and the skipped bytes are reported. A last line without a newline may still be
being written: it is read once the file was last modified before `quiet_since`.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sitegen.statefiles import atomic_write_bytes, quarantine


@dataclass(frozen=True)
class Chunk:
    """The new complete lines of one file, and how many bytes were skipped to keep up."""

    path: Path
    lines: list[bytes]
    skipped: int
    identity: str = ""  # device:inode, what the offset (and a reader's own state) is kept by
    error: str | None = None  # set when the file could not be read (lines is then empty)


HEAD_BYTES = 64


def _head(f) -> str:
    """Return the file's first bytes (hex): a rewritten file starts differently."""
    f.seek(0)
    return f.read(HEAD_BYTES).hex()


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def _offset(saved: object) -> tuple[int, str]:
    """Return a saved (offset, head) pair; raise ValueError when it is not one."""
    match saved:
        case [int(offset), str(head)] if not isinstance(offset, bool) and offset >= 0:
            return offset, head
    raise ValueError(f"not an (offset, head) pair: {saved!r}"[:120])


class Tailer:
    """Offsets of followed files, kept in a JSON file in state_dir."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.offsets: dict[str, tuple[int, str]] = {}
        self.deferred = 0  # files left for the next call because its time was up
        if state_file.exists():
            try:
                saved = json.loads(state_file.read_text())
                self.offsets = {str(k): _offset(v) for k, v in saved.items()}
            except (ValueError, TypeError, AttributeError, IndexError, RecursionError) as exc:
                quarantine(state_file, f"{type(exc).__name__}: {exc}")

    def _read(
        self, path: Path, max_bytes: int, quiet_since: float | None
    ) -> tuple[Chunk, tuple[int, str] | None]:
        # O_NONBLOCK: a FIFO swapped in after the glob matched must not hang the cycle.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return Chunk(path, [], 0, error="not a regular file"), None
            key = _identity(st)
            head = _head(f)
            offset, known_head = self.offsets.get(key, (0, head))
            if st.st_size < offset or not head.startswith(known_head[: len(head)]):
                offset = 0  # truncated (copytruncate rotation) or rewritten
            skipped = max(0, st.st_size - offset - max_bytes)
            start = offset + skipped
            f.seek(start)
            data = f.read(st.st_size - start)
        cut = 0
        if skipped:
            cut = data.find(b"\n") + 1  # the first line was cut in the middle
            data, start = data[cut:], start + cut
        end = data.rfind(b"\n") + 1  # a last line without newline may still be being written
        # ... unless the file has been quiet since: then its writer is done with that line
        # (not when it is the middle of a line whose start was skipped).
        if quiet_since is not None and st.st_mtime < quiet_since and (cut or not skipped):
            end = len(data)
        return Chunk(path, data[:end].splitlines(), skipped, key), (start + end, head)

    def follow(
        self,
        paths: list[Path],
        max_bytes: int,
        stop_at: float | None = None,
        quiet_since: float | None = None,
    ) -> Iterator[Chunk]:
        """Yield what each file gained since the last read; remember the new offsets once
        every file was yielded. Past `stop_at` (time.monotonic()), the remaining files keep
        their offsets for the next call (counted in `deferred`). A file not modified since
        `quiet_since` (UNIX seconds) gives its last line even without a newline."""
        seen: dict[str, tuple[int, str]] = {}
        self.deferred = 0
        for path in paths:
            if stop_at is not None and time.monotonic() > stop_at:
                try:
                    key = _identity(path.stat())
                except OSError:
                    continue
                self.deferred += 1
                if key in self.offsets:
                    seen[key] = self.offsets[key]
                continue
            try:
                chunk, offset = self._read(path, max_bytes, quiet_since)
            except OSError as exc:
                # Vanished or unreadable since the glob matched it: said, and tried next cycle.
                yield Chunk(path, [], 0, error=exc.strerror or type(exc).__name__)
                continue
            if offset is not None:
                seen[chunk.identity] = offset
            yield chunk
        self.offsets = seen  # files that are gone (or no longer matched) are forgotten
        atomic_write_bytes(self.state_file, json.dumps(self.offsets).encode())

    def read(self, paths: list[Path], max_bytes: int) -> list[Chunk]:
        """Return what each file gained since the last read; remember the new offsets."""
        return list(self.follow(paths, max_bytes))

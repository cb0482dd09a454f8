"""Follow files across cycles: read only what was appended, through rotation and truncation.

Offsets are remembered per file identity (device and inode), not per name, so a file
renamed by logrotate is finished from where it was left, and the new file at the old name
starts from its beginning. A file that shrank, or whose first bytes changed, was truncated
and rewritten: it is read again from 0.
Each call reads at most `max_bytes` per file; a backlog larger than that is skipped to its
newest part, and the skipped bytes are reported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sitegen.state import atomic_write_bytes, quarantine


@dataclass(frozen=True)
class Chunk:
    """The new complete lines of one file, and how many bytes were skipped to keep up."""

    path: Path
    lines: list[bytes]
    skipped: int


HEAD_BYTES = 64


def _head(f) -> str:
    """Return the file's first bytes (hex): a rewritten file starts differently."""
    f.seek(0)
    return f.read(HEAD_BYTES).hex()


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


class Tailer:
    """Offsets of followed files, kept in a JSON file in state_dir."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.offsets: dict[str, tuple[int, str]] = {}
        if state_file.exists():
            try:
                saved = json.loads(state_file.read_text())
                self.offsets = {str(k): (int(v[0]), str(v[1])) for k, v in saved.items()}
            except (ValueError, TypeError, AttributeError) as exc:
                quarantine(state_file, f"{type(exc).__name__}: {exc}")

    def read(self, paths: list[Path], max_bytes: int) -> list[Chunk]:
        """Return what each file gained since the last read; remember the new offsets."""
        chunks, seen = [], {}
        for path in paths:
            try:
                with path.open("rb") as f:
                    st = os.fstat(f.fileno())
                    key = _identity(st)
                    head = _head(f)
                    offset, known_head = self.offsets.get(key, (0, head))
                    if st.st_size < offset or not head.startswith(known_head[: len(head)]):
                        offset = 0  # truncated (copytruncate rotation) or rewritten
                    skipped = max(0, st.st_size - offset - max_bytes)
                    start = offset + skipped
                    f.seek(start)
                    data = f.read(st.st_size - start)
            except OSError:
                continue  # vanished or unreadable since the glob matched it: next cycle
            if skipped:
                cut = data.find(b"\n") + 1  # the first line was cut in the middle
                data, start = data[cut:], start + cut
            end = data.rfind(b"\n") + 1  # a last line without newline is still being written
            seen[key] = (start + end, head)
            chunks.append(Chunk(path, data[:end].splitlines(), skipped))
        # Forget files that are gone; keep the rest (a rotated file may be matched again).
        self.offsets = {**{k: v for k, v in self.offsets.items() if k in seen}, **seen}
        atomic_write_bytes(self.state_file, json.dumps(self.offsets).encode())
        return chunks

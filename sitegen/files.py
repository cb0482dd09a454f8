"""Reading input files safely: globs expanded, only the tail of large files read."""

from __future__ import annotations

import glob
from pathlib import Path

# A cycle reads at most this much of each file: a 1 GB log costs the same as a 1 MB one.
TAIL_BYTES = 1024 * 1024


def expand(patterns: tuple[str, ...]) -> list[Path]:
    """Return the regular files matched by the glob patterns, sorted, each once."""
    found = {Path(p) for pattern in patterns for p in glob.glob(pattern, recursive=True)}
    return sorted(p for p in found if p.is_file())


def tail_lines(path: Path, max_bytes: int = TAIL_BYTES) -> tuple[list[bytes], int]:
    """Return the whole lines in the last `max_bytes` of a file and how many bytes were skipped."""
    with path.open("rb") as f:
        size = f.seek(0, 2)
        start = max(0, size - max_bytes)
        f.seek(start)
        data = f.read()
    if start:
        # The first line is probably cut in the middle: drop it.
        data = data[data.find(b"\n") + 1 :]
    return data.splitlines(), start

"""Input files: globs expanded to regular files, and how much of one a cycle reads."""

from __future__ import annotations

import glob
from pathlib import Path

# A cycle reads at most this much of each file: a 1 GB log costs the same as a 1 MB one.
TAIL_BYTES = 1024 * 1024


def expand(patterns: tuple[str, ...]) -> list[Path]:
    """Return the regular files matched by the glob patterns, sorted, each once."""
    found = {Path(p) for pattern in patterns for p in glob.glob(pattern, recursive=True)}
    return sorted(p for p in found if p.is_file())

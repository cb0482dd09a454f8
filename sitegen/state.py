"""Small files in state_dir that survive restarts: last good data per source.

A file that cannot be read back is moved aside with a warning, never fatal: losing a
cache costs one cycle of stale fallback, crashing costs the site.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("sitegen")


def quarantine(path: Path, reason: str) -> Path:
    """Move a damaged state file aside (``NAME.corrupt-TIMESTAMP``) and log why."""
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, aside)
    fields = {"path": str(path), "moved_to": str(aside), "reason": reason}
    logger.warning("moved damaged state file aside", extra={"fields": fields})
    return aside


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LastGood:
    """The last good result of each source, pickled under state_dir/cache/."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "cache"

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.pickle"

    def save(self, name: str, value: object) -> None:
        """Remember a source's latest good result."""
        atomic_write_bytes(self._path(name), pickle.dumps(value, protocol=5))

    def load(self, name: str) -> object | None:
        """Return a source's last good result, or None when there is none or it is damaged."""
        path = self._path(name)
        if not path.exists():
            return None
        try:
            # Only sitegen writes state_dir (mode 0700 by default): the pickle is our own data.
            return pickle.loads(path.read_bytes())
        except Exception as exc:  # any unpickling failure means the same: unusable
            quarantine(path, f"{type(exc).__name__}: {exc}")
            return None

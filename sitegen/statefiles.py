"""State files written whole or not at all, and moved aside with a warning when damaged."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Within the block, an OSError that names no file names `path`."""
    # A failed write says "[Errno 28] No space left on device" and not where: on a machine
    # with several disks, the one thing its reader needs to know.
    try:
        yield
    except OSError as exc:
        if exc.errno and exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with naming(path), os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

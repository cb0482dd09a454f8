"""Small files in state_dir that survive restarts: last good data per source, and its lock.

A file that cannot be read back is moved aside with a warning, never fatal: losing a
cache costs one cycle of stale fallback, crashing costs the site. One sitegen process at a
time uses a state_dir (StateLock): two would delete each other's builds and caches.
"""

from __future__ import annotations

import fcntl
import math
import os
import pickle
import socket
import time
from collections.abc import Callable
from pathlib import Path

from sitegen.statefiles import atomic_write_bytes, naming, quarantine


class LastGood:
    """The last good result of each source, pickled under state_dir/cache/."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "cache"

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.pickle"

    def save(self, name: str, value: object) -> None:
        """Remember a source's latest good result."""
        atomic_write_bytes(self._path(name), pickle.dumps(value, protocol=5))

    def load(self, name: str, fits: Callable[[object], bool] | None = None) -> object | None:
        """Return a source's last good result, or None when there is none or it is damaged.

        What was read must pass `fits` (by default: a (time, Part) pair, what a source's
        cache holds); anything else is moved aside like a file that does not unpickle.
        """
        path = self._path(name)
        if not path.exists():
            return None
        try:
            # Only sitegen writes state_dir (mode 0700 by default): the pickle is our own data.
            value = pickle.loads(path.read_bytes())
        except Exception as exc:  # any unpickling failure means the same: unusable
            quarantine(path, f"{type(exc).__name__}: {exc}")
            return None
        if not (fits or stamped_part)(value):
            quarantine(path, f"holds {type(value).__name__}, not the shape sitegen writes there")
            return None
        return value


def stamped_part(value: object) -> bool:
    """Whether value is what a source's cache holds: (UNIX time, Part) with tuple fields."""
    # Here: at the top it would bring config, history and the charts into every command.
    from sitegen.sources.base import Part

    return (
        isinstance(value, tuple)
        and len(value) == 2
        and is_time(value[0])
        and isinstance(value[1], Part)
        and all(isinstance(v, tuple) for v in (value[1].panels, value[1].traces, value[1].logs))
    )


def is_time(value: object) -> bool:
    """Whether value is a finite number (not a bool): a time or a count read back from state."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class StateLocked(Exception):
    """Another sitegen process holds the state_dir; the message says which."""


class StateLock:
    """An exclusive lock on state_dir for the life of this process (flock on state_dir/lock).

    The kernel drops it when the process ends however it ends (kill -9 included), so a stale
    lock never blocks a restart; the file says who holds it, for the message of the next.
    """

    def __init__(self, state_dir: Path) -> None:
        path = state_dir / "lock"
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(self._fd, 200).decode("utf-8", "replace").strip()
            os.close(self._fd)
            raise StateLocked(
                f"{state_dir} is in use by another sitegen ({holder or 'holder unknown'}); "
                "one sitegen process at a time per site.state_dir"
            ) from None
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        who = f"pid {os.getpid()} on {socket.gethostname()} since {since}\n"
        try:
            with naming(path):
                os.ftruncate(self._fd, 0)
                os.write(self._fd, who.encode())
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        """Let the next sitegen process have the state_dir."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = -1

"""Asking a server again: bounded attempts, jittered backoff, never past the cycle's deadline.

Shared by every source that asks over the network (Prometheus, Jaeger, Tempo), so they all
give up the same way: a failure that asking again cannot mend (a bad query, a 404) at once,
one that it may (a timeout, a 5xx) after ATTEMPTS tries, and any of them when the cycle's
time is up, with the last real failure rather than a bare "out of time".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

ATTEMPTS = 3
BACKOFF_SECONDS = 0.2
MIN_REQUEST_SECONDS = 0.05  # below this much time left a request cannot usefully start

T = TypeVar("T")
E = TypeVar("E", bound=Exception)  # an error type whose instances carry `.retry: bool`


def with_retries(
    call: Callable[[float], T], timeout: float, deadline: float, error: type[E], what: str
) -> T:
    """Return call(seconds allowed); on `error` with `.retry` set, back off and call again.

    `deadline` is time.monotonic(); each call gets at most `timeout` and never more than
    what is left. Out of time, the last failure is raised (or error(f"no time left ... {what}")).
    """
    last: E | None = None
    for attempt in range(ATTEMPTS):
        remaining = deadline - time.monotonic()
        if remaining <= MIN_REQUEST_SECONDS:
            break
        try:
            return call(min(timeout, remaining))
        except error as exc:
            if not getattr(exc, "retry", False) or attempt == ATTEMPTS - 1:
                raise
            last = exc
        pause = BACKOFF_SECONDS * 2**attempt * random.uniform(0.5, 1.5)  # jitter: no herd
        time.sleep(max(0.0, min(pause, deadline - time.monotonic() - MIN_REQUEST_SECONDS)))
    raise last or error(f"no time left before the cycle's deadline to ask {what}")

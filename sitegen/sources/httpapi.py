"""JSON over HTTP for the trace APIs (Jaeger, Tempo): bounded in time, size and retries.

Every request gets its own timeout, cut to what is left before the cycle's deadline;
timeouts, connection errors and 5xx answers are retried a few times with jittered
backoff, never past the deadline; anything else fails at once with one line naming the
URL and the status. Bodies are read up to MAX_BODY_BYTES: a huge answer cannot hold the
cycle's memory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from sitegen import __version__
from sitegen.redact import redact
from sitegen.retry import with_retries
from sitegen.traces.spans import SpanReader

REQUEST_TIMEOUT_SECONDS = 10.0
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PARALLEL = 4  # requests in flight at once: hides latency, gentle on the server

T = TypeVar("T")
R = TypeVar("R")


class ApiError(Exception):
    """A request failed; `retry` says whether asking again may help, `status` the HTTP code."""

    def __init__(self, message: str, retry: bool = False, status: int | None = None) -> None:
        super().__init__(redact(message))  # a URL may carry user:password@
        self.retry = retry
        self.status = status


def client() -> httpx.Client:
    """Return a client for JSON APIs (no retries or redirects of its own; we bound both)."""
    headers = {"Accept": "application/json", "User-Agent": f"sitegen/{__version__}"}
    return httpx.Client(headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)


def _one_line(body: bytes) -> str:
    return " ".join(body[:300].decode("utf-8", "replace").split())


def _get(http: httpx.Client, url: str, params: dict | None, timeout: float, deadline: float):
    try:
        with http.stream("GET", url, params=params, timeout=timeout) as response:
            body = bytearray()
            for block in response.iter_bytes():
                body += block
                if len(body) > MAX_BODY_BYTES:
                    raise ApiError(f"answer from {url} is larger than {MAX_BODY_BYTES} bytes")
                if time.monotonic() > deadline:  # a server trickling bytes
                    raise ApiError(f"no answer from {url} before the cycle's deadline")
    except httpx.TimeoutException as exc:
        raise ApiError(f"timed out after {timeout:.3g}s asking {url}", retry=True) from exc
    except httpx.ConnectError as exc:
        raise ApiError(f"cannot connect to {url}: {exc}", retry=True) from exc
    except httpx.TransportError as exc:
        raise ApiError(f"{type(exc).__name__} asking {url}: {exc}", retry=True) from exc
    status = response.status_code
    if status != 200:
        retry = status >= 500 or status == 429
        raise ApiError(f"HTTP {status} from {url}: {_one_line(bytes(body))}", retry, status)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(f"not JSON from {url}: {_one_line(bytes(body))}") from exc


def get_json(http: httpx.Client, url: str, deadline: float, params: dict | None = None) -> Any:
    """GET url and decode its JSON, with bounded retries, never past the deadline."""
    return with_retries(
        lambda seconds: _get(http, url, params, seconds, deadline),
        REQUEST_TIMEOUT_SECONDS,
        deadline,
        ApiError,
        url,
    )


def gather(fn: Callable[[T], R], items: Iterable[T]) -> list[tuple[T, R | ApiError]]:
    """Run fn over items a few at a time; each item gets its result or its ApiError."""

    def one(item: T) -> tuple[T, R | ApiError]:
        try:
            return item, fn(item)
        except ApiError as exc:
            return item, exc

    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(items))) as pool:
        return list(pool.map(one, items))


def read_answers(reader: SpanReader, answers: list[tuple[object, object]]) -> list[ApiError]:
    """Give the reader every answer that came; return the errors of those that did not."""
    errors = []
    for _, answer in answers:
        if isinstance(answer, ApiError):
            errors.append(answer)
        else:
            reader.document(answer)
    return errors

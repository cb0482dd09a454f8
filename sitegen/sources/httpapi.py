"""JSON over HTTP for the sources (Prometheus, Jaeger, Tempo): bounded in time, size, retries.

Every request gets its own time limit, cut to what is left before the cycle's deadline, and
the limit is for the whole request: a watchdog shuts the socket down when it passes, so a
server trickling a byte a second (which a per-read timeout never stops) costs no more than
the limit, and no thread outlives its cycle. Timeouts, connection errors and 5xx answers
are retried a few times with jittered backoff, never past the deadline; anything else fails
at once with one line naming the URL and the status. Bodies are read up to a size limit
(MAX_BODY_BYTES by default): a huge answer cannot hold the cycle's memory.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
    """Return a client for JSON APIs (no retries or redirects of its own; we bound both).

    Credentials go with each request (fetch's headers and auth), not with the client.
    """
    # No kept-alive connections: the watchdog finds a request's socket as it connects.
    return httpx.Client(
        headers={"Accept": "application/json", "User-Agent": f"sitegen/{__version__}"},
        timeout=REQUEST_TIMEOUT_SECONDS,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def _one_line(body: bytes) -> str:
    return " ".join(body[:300].decode("utf-8", "replace").split())


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[tuple[dict, threading.Event]]:
    """Shut a request's socket down once `seconds` have passed, whatever it is waiting for.

    Yields the request extensions that let it see the socket, and an event set when it cut.
    """
    sockets: list[socket.socket] = []
    cut = threading.Event()

    def trace(event: str, info: dict) -> None:
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                sockets.append(sock)
                if cut.is_set():  # connected just as the time ran out
                    shut()

    def shut() -> None:
        cut.set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in another thread

    timer = threading.Timer(max(0.0, seconds), shut)
    timer.daemon = True
    timer.start()
    try:
        yield {"trace": trace}, cut
    finally:
        timer.cancel()
        timer.join()  # the timer thread ends with the request, not later


def fetch(
    http: httpx.Client,
    url: str,
    params: dict | None,
    timeout: float,
    max_bytes: int = MAX_BODY_BYTES,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[int, bytes]:
    """Ask url within `timeout` seconds for the whole request; return (status, body).

    `headers` are added to the client's own; `auth` is (user, password) for basic auth.
    Raises ApiError (retry set) on a timeout or a transport failure, and on a body larger
    than max_bytes (not retried).
    """
    cut = threading.Event()
    try:
        with (
            _watchdog(timeout) as (extensions, cut),
            http.stream(
                method,
                url,
                params=params,
                headers=headers,
                auth=auth,
                timeout=timeout,
                extensions=extensions,
            ) as r,
        ):
            body = bytearray()
            for block in r.iter_bytes():
                body += block
                if len(body) > max_bytes:
                    raise ApiError(f"answer from {url} is larger than {max_bytes} bytes")
    except httpx.TimeoutException as exc:
        raise ApiError(f"timed out after {timeout:.3g}s asking {url}", retry=True) from exc
    except httpx.TransportError as exc:
        if cut.is_set():  # our watchdog, not the server, ended it
            raise ApiError(f"timed out after {timeout:.3g}s asking {url}", retry=True) from exc
        if isinstance(exc, httpx.ConnectError):
            refused = "refused" in str(exc).lower()
            why = "connection refused" if refused else f"cannot connect ({exc})"
            raise ApiError(f"{why}: {url}", retry=True) from exc
        raise ApiError(f"{type(exc).__name__} asking {url}: {exc}", retry=True) from exc
    if cut.is_set():  # the cut can also look like the end of a body sent without a length
        raise ApiError(f"timed out after {timeout:.3g}s asking {url}", retry=True)
    return r.status_code, bytes(body)


def _decode(url: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(f"not JSON from {url}: {_one_line(body)}") from exc


def _get(http: httpx.Client, url: str, params: dict | None, timeout: float):
    status, body = fetch(http, url, params, timeout)
    if status != 200:
        retry = status >= 500 or status == 429
        raise ApiError(f"HTTP {status} from {url}: {_one_line(bytes(body))}", retry, status)
    return _decode(url, body)


@dataclass(frozen=True)
class Answer:
    """An answer as a requests-style caller reads it: status_code, content, ok and json()."""

    url: str
    status_code: int
    content: bytes

    @property
    def ok(self) -> bool:
        """Whether the status is below 400, as requests has it."""
        return self.status_code < 400

    def json(self) -> Any:
        """Return the decoded body; raise ApiError naming the URL when it is not JSON."""
        return _decode(self.url, self.content)


class Session:
    """A requests-style session whose every request goes through fetch(): bounded in time
    as a whole and in size, so a library written for requests gets the same limits.

    Retries are the caller's (sitegen.retry, bounded by the cycle's deadline), not here.
    """

    # A library reads these to pass them back with each request; TLS is the httpx client's.
    verify = True
    cert = None

    def __init__(self, http: httpx.Client, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.http = http
        self.max_bytes = max_bytes

    def mount(self, prefix: str, adapter: object) -> None:
        """Ignore a requests transport adapter: its retries would not know the deadline."""

    def request(
        self,
        method: str,
        url: str,
        params: dict | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        verify: object = None,  # requests-only; the httpx client's setting applies
        cert: object = None,
    ) -> Answer:
        """Ask url once within `timeout` seconds for the whole request; return its Answer."""
        seconds = REQUEST_TIMEOUT_SECONDS if timeout is None else timeout
        status, body = fetch(
            self.http, url, params, seconds, self.max_bytes,
            method=method, headers=headers, auth=auth,
        )  # fmt: skip
        return Answer(url, status, body)

    def get(self, url: str, **kwargs: Any) -> Answer:
        """Ask url with GET (see request)."""
        return self.request("GET", url, **kwargs)

    def close(self) -> None:
        """Close the httpx client."""
        self.http.close()


def get_json(http: httpx.Client, url: str, deadline: float, params: dict | None = None) -> Any:
    """GET url and decode its JSON, with bounded retries, never past the deadline."""
    return with_retries(
        lambda seconds: _get(http, url, params, seconds),
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

"""After a publish, fetch the public site like a reader would: is it up, and how fast."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sitegen import __version__

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Probe:
    """One fetch of the public front page."""

    ok: bool
    seconds: float
    detail: str


def probe(base_url: str) -> Probe:
    """GET base_url/index.html; ok means HTTP 200 with an HTML body."""
    import httpx  # only a publish with a base_url probes: a render need not load it

    url = f"{base_url}/index.html"
    start = time.perf_counter()
    try:
        r = httpx.get(url, timeout=TIMEOUT_SECONDS, follow_redirects=True,
                      headers={"User-Agent": f"sitegen/{__version__} probe"})  # fmt: skip
    except httpx.HTTPError as exc:
        return Probe(False, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    ok = r.status_code == 200 and "html" in r.headers.get("content-type", "")
    return Probe(ok, seconds, f"HTTP {r.status_code} in {seconds * 1000:.0f} ms")

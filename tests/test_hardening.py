"""Faults found by attacking the generator: each test reproduces one, and shows it mended."""

from __future__ import annotations

import httpx

from sitegen.metrics import SelfMetrics, serve
from tests.promserver import free_port


def test_metrics_serve_on_an_ipv6_loopback_address() -> None:
    port = free_port()
    server = serve(SelfMetrics(), f"[::1]:{port}", lambda: (True, "ok"))
    try:
        answer = httpx.get(f"http://[::1]:{port}/healthz", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200 and answer.text == "ok\n"

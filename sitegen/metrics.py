"""sitegen's own Prometheus metrics, served on /metrics by `sitegen run` (never by render).

A registry of its own (not the client's global one), so tests and embedders can make as
many as they like and nothing else in the process leaks into the scrape.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

# Cycle stages take milliseconds to tens of seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class SelfMetrics:
    """The metrics a cycle updates."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    last_success_at: float = 0.0  # UNIX time of the last successful cycle, for /healthz

    def __post_init__(self) -> None:
        r = self.registry
        self.stage_seconds = Histogram(
            "sitegen_stage_duration_seconds", "Time spent in each stage of a cycle.",
            ["stage"], buckets=_BUCKETS, registry=r,
        )  # fmt: skip
        self.cycle_seconds = Histogram(
            "sitegen_cycle_duration_seconds", "Time of a whole cycle.", buckets=_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.cycles = Counter("sitegen_cycles", "Cycles run, by outcome.", ["outcome"], registry=r)
        self.pages = Gauge("sitegen_pages", "Pages written by the last cycle.", registry=r)
        self.site_bytes = Gauge(
            "sitegen_site_bytes", "Bytes written by the last cycle.", registry=r
        )
        self.written_bytes = Counter(
            "sitegen_written_bytes", "Bytes of site files written.", registry=r
        )
        self.source_errors = Counter(
            "sitegen_source_errors", "Sources that failed, by source.", ["source"], registry=r
        )
        self.last_success = Gauge(
            "sitegen_last_success_timestamp_seconds", "When a cycle last succeeded.", registry=r
        )


def serve(metrics: SelfMetrics, listen: str, health: Callable[[], tuple[bool, str]]):
    """Serve /metrics and /healthz on "host:port" in a background thread; return the server."""
    exporter = make_wsgi_app(metrics.registry)

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok, why = health()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "text/plain; charset=utf-8")])  # fmt: skip
            return [why.encode() + b"\n"]
        return exporter(environ, start_response)

    host, _, port = listen.rpartition(":")
    server_class = _IPv6Server if host.startswith("[") else ThreadingWSGIServer
    server = make_server(host.strip("[]"), int(port), app, server_class, _QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    return server


class _IPv6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6  # "[::1]:9464": check accepts it, so it must bind


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass  # a scrape every 15 s is not news

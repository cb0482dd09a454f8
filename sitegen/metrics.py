"""sitegen's own Prometheus metrics, served on /metrics by `sitegen run` (never by render).

A registry of its own (not the client's global one), so tests and embedders can make as
many as they like and nothing else in the process leaks into the scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Cycle stages take milliseconds to tens of seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class SelfMetrics:
    """The metrics a cycle updates."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

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


def serve(metrics: SelfMetrics, listen: str) -> WSGIServer:
    """Serve /metrics on "host:port" in a background thread; return the server to stop."""
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]"), registry=metrics.registry)
    return server

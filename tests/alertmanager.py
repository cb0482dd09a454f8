"""A real Alertmanager (Debian's prometheus-alertmanager) on loopback, and a tiny exporter.

Alerts are posted to Alertmanager's own v2 API, as Prometheus would send them; silences are
made through the same API, as amtool or the web UI would.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.promserver import binary, free_port, wait_ready

CONFIG = """
route:
  receiver: nowhere
receivers:
  - name: nowhere
"""


def rfc3339(when: datetime) -> str:
    """Return a time as Alertmanager's API writes it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AlertmanagerServer:
    """Start and stop a real Alertmanager with a do-nothing route, clustering off."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        (workdir / "alertmanager.yml").write_text(CONFIG)

    def start(self) -> None:
        """Start the server and wait until it answers /-/ready."""
        log = self.workdir / "alertmanager.log"
        self.proc = subprocess.Popen(
            [binary("prometheus-alertmanager"),
             f"--config.file={self.workdir / 'alertmanager.yml'}",
             f"--storage.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=log.open("ab"),
        )  # fmt: skip
        wait_ready(self.url, self.proc, log, "alertmanager")

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def post(self, labels: dict[str, str], summary: str, started: datetime) -> None:
        """Send one firing alert, as Prometheus does (it resends until the alert resolves)."""
        alert = {
            "labels": labels,
            "annotations": {"summary": summary},
            "startsAt": rfc3339(started),
            "endsAt": rfc3339(datetime.now(UTC) + timedelta(hours=1)),
        }
        httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=10).raise_for_status()

    def silence(self, name: str) -> str:
        """Silence every alert of that name for an hour; return the silence's id."""
        now = datetime.now(UTC)
        body = {
            "matchers": [{"name": "alertname", "value": name, "isRegex": False, "isEqual": True}],
            "startsAt": rfc3339(now),
            "endsAt": rfc3339(now + timedelta(hours=1)),
            "createdBy": "tests",
            "comment": "maintenance",
        }
        r = httpx.post(f"{self.url}/api/v2/silences", json=body, timeout=10)
        r.raise_for_status()
        return r.json()["silenceID"]


class Switch:
    """An exporter on loopback serving one gauge, `demo_switch`, that a test flips."""

    def __init__(self) -> None:
        self.value = 0
        switch = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"# TYPE demo_switch gauge\ndemo_switch {switch.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

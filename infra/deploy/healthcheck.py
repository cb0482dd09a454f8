"""Container health check: ask sitegen's /healthz where the config says it listens.

Exit 0 when it answers 200, 1 otherwise (503 once no cycle succeeded for three intervals,
no answer, metrics_listen off, or a config error), saying why in one line.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from sitegen.config import ConfigError, load

TIMEOUT_SECONDS = 4  # under the HEALTHCHECK's --timeout


def healthz_url(listen: str) -> str:
    """Return the /healthz URL of a "host:port" listen address, wildcards as loopback."""
    host, _, port = listen.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)
    return f"http://{host}:{port}/healthz"


def main() -> int:
    """Check once; return the exit code."""
    try:
        listen = load().site.metrics_listen
    except ConfigError as exc:
        print(f"config error: {'; '.join(exc.errors)}")
        return 1
    if not listen:
        print("site.metrics_listen is off: there is no /healthz to ask")
        return 1
    url = healthz_url(listen)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:
            print(f"{url}: {answer.read(200).decode(errors='replace').strip()}")
            return 0
    except urllib.error.HTTPError as exc:
        print(f"{url}: {exc.code} {exc.read(200).decode(errors='replace').strip()}")
    except OSError as exc:
        print(f"{url}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())

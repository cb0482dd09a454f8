"""Benchmark publishing: sitegen against rclone sync --checksum and aws s3 sync, on one moto.

A site whose data changes every cycle (new data at a new time, three new traces, three old
ones gone) is written CYCLES times; after each write, each tool brings its own bucket up to
date. A loopback proxy per tool counts the requests and bytes it sends. Then the drift case:
behind the tools' backs, the stylesheet is deleted and a page overwritten (same size) in
every bucket, and each tool runs once more over the unchanged site.

sitegen runs as `sitegen run` does (a generator holding the lease, `holder`), and for the
drift case as `sitegen publish` does (one-shot). rclone is Debian's package (`rclone`);
awscli is installed into .venv-awscli on first use.

Last, the site in sync, the wall time of a no-change one-shot `sitegen publish`: the whole
process, S3 and a CloudFront distribution configured as a user would, RUNS times, beside
`rclone sync --checksum` doing the same.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AWS = ROOT / ".venv-awscli" / "bin" / "aws"
KEY = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


class Counter:
    """A loopback HTTP proxy in front of the S3 server that counts requests and bytes sent."""

    def __init__(self, upstream_port: int) -> None:
        import http.client
        import http.server
        import threading

        counter = self
        self.requests = self.bytes = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return data
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self) -> None:
                body = self._body()
                counter.requests += 1
                counter.bytes += len(body) + len(str(self.headers)) + len(self.requestline)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() != "transfer-encoding"
                }
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                # A HEAD answer has no body but the object's length (rclone checks it).
                head = self.command == "HEAD"
                length = answer.getheader("Content-Length", "0") if head else str(len(data))
                self.send_header("Content-Length", length)
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class Tool:
    """One publisher under test: its bucket, its proxy, and what it cost per run."""

    name: str
    bucket: str
    proxy: Counter
    runs: list[tuple[int, int, float]] = field(default_factory=list)  # requests, bytes, s

    def timed(self, fn):
        """Run fn once, record the requests, bytes and wall time it took; return its result."""
        requests, sent, start = self.proxy.requests, self.proxy.bytes, time.perf_counter()
        result = fn()
        self.runs.append(
            (self.proxy.requests - requests, self.proxy.bytes - sent, time.perf_counter() - start)
        )
        return result


def _awscli() -> Path | None:
    if not AWS.exists():
        print("installing awscli into .venv-awscli", file=sys.stderr)
        venv = AWS.parent.parent
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], check=False)
        if (
            made.returncode
            or subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", "awscli"], check=False
            ).returncode
        ):
            return None
    return AWS


def _site(cycle: int, directory: Path, pool) -> Path:
    """Write the benchmark site of one cycle; return its directory."""
    from sitegen.render.environment import iso
    from sitegen.render.rounds import render_site
    from sitegen.render.tasks import Common
    from sitegen.render.twins import snapshot_json
    from sitegen.site.optimize import build_assets
    from sitegen.site.output import write_site
    from sitegen.synthetic import Workload, snapshot

    w = Workload(panels=12, points=240, traces=60, spans_per_trace=25, log_lines=500)
    snap = snapshot(w, now=1_795_340_562.0 + 30 * cycle, first_trace=3 * cycle)
    assets = build_assets()
    common = Common(
        title=snap.title, generated_at=snap.generated_at, refresh_seconds=30, next_run=None,
        css_href=assets.css_href, icon_href="", version="bench", hostname="bench-host",
        stale_sources=(), failed_sources=(),
    )  # fmt: skip
    pages = render_site(pool.render, snap, common, assets.css_gzip, lambda _r, _k: []).pages
    files = {**assets.files, **{p.path: p.body for p in pages}}
    files["data/snapshot.json"] = snapshot_json(snap)
    return write_site(directory, files, iso(snap.generated_at)).path.resolve()


def _drift(s3, bucket: str, site: Path) -> None:
    """Delete the stylesheet and overwrite a page (same size) behind the publisher's back."""
    css = next(p for p in site.glob("assets/*.css"))
    s3.delete_object(Bucket=bucket, Key=str(css.relative_to(site)))
    page = min(site.glob("logs/before-*.html"))  # an older logs page: it never changes
    key = str(page.relative_to(site))
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * page.stat().st_size)


def _whole(s3, bucket: str, site: Path) -> bool:
    """Whether the bucket holds every file of the site, byte for byte (by MD5)."""
    listed = {
        o["Key"]: o["ETag"].strip('"')
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    return all(
        listed.get(str(p.relative_to(site))) == hashlib.md5(p.read_bytes()).hexdigest()
        for p in site.rglob("*")
        if p.is_file()
    )


def _rclone(rclone: str, endpoint: str, site: Path, bucket: str) -> tuple[list[str], dict]:
    """Return the command and environment of `rclone sync --checksum` of site to bucket."""
    remote = {
        "RCLONE_CONFIG_MOTO_TYPE": "s3", "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
        "RCLONE_CONFIG_MOTO_ENDPOINT": endpoint,
        "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": KEY["AWS_ACCESS_KEY_ID"],
        "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": KEY["AWS_SECRET_ACCESS_KEY"],
    }  # fmt: skip
    command = [rclone, "sync", "--checksum", f"{site}/", f"moto:{bucket}", "-q"]
    # Its AWS SDK refuses a custom CA bundle over plain HTTP: the moto proxy has no TLS.
    env = {k: v for k, v in {**os.environ, **remote}.items() if k != "AWS_CA_BUNDLE"}
    return command, env


def _processes(command: list[str], env: dict, runs: int) -> list[float]:
    """Run command runs + 1 times; return the wall seconds of each run past the first."""
    seconds = []
    for _ in range(runs + 1):  # the first warms the page cache (and writes bytecode)
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - start)
    return seconds[1:]


def one_shot(tools: list[Tool], site: Path, state: Path, port: int, runs: int) -> list[str]:
    """Time a no-change one-shot publish as whole processes, count its requests; say so."""
    import boto3

    sys.path.insert(0, str(ROOT))
    from tests.test_publish import distribution

    dist = distribution(boto3.client("cloudfront", endpoint_url=f"http://127.0.0.1:{port}"))
    config = state.parent / "sitegen.toml"
    # An installed package has its bytecode: the first, uncounted run writes it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)

    def command(tool: Tool, endpoint: str) -> tuple[list[str], dict]:
        if tool.bucket != "sitegen":
            return _rclone(str(shutil.which("rclone")), endpoint, site, tool.bucket)
        config.write_text(
            f'[site]\nout_dir = "{site}"\nstate_dir = "{state}"\n'
            f'[publish]\nbucket = "sitegen"\nendpoint_url = "{endpoint}"\n'
            f'distribution_id = "{dist}"\n'
        )
        return [sys.executable, "-m", "sitegen", "publish", "--config", str(config)], env

    lines = [
        f"a no-change one-shot publish, the whole process, {runs} runs (sitegen with S3 and "
        f"a CloudFront distribution configured):"
    ]
    for tool in [t for t in tools if t.bucket in ("sitegen", "rclone")]:  # awscli: 1 s to start
        before = tool.proxy.requests
        counted, env_of = command(tool, tool.proxy.url)
        subprocess.run(counted, check=True, env=env_of, stdout=subprocess.DEVNULL)
        requests = tool.proxy.requests - before
        seconds = _processes(*command(tool, f"http://127.0.0.1:{port}"), runs)
        lines.append(
            f"  {tool.name:24} {statistics.median(seconds) * 1e3:4.0f} ms wall median "
            f"(min {min(seconds) * 1e3:.0f}, max {max(seconds) * 1e3:.0f}), {requests} requests"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print requests, bytes and wall time per tool."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cycles", type=int, nargs="?", default=20, help="changing cycles (20)")
    ap.add_argument("--runs", type=int, default=9, help="one-shot publishes timed (9)")
    args = ap.parse_args(argv)

    import boto3
    from moto.server import ThreadedMotoServer

    from sitegen.config import PublishConfig
    from sitegen.render.pool import RenderPool
    from sitegen.site.lease import LEASE_KEY, release
    from sitegen.site.publish import publish

    os.environ.update({**KEY, "AWS_DEFAULT_REGION": "us-east-1"})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs each request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    port = moto._server.server_port  # port 0: the server picked a free one
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
    tools = [Tool("sitegen", "sitegen", Counter(port))]
    rclone = shutil.which("rclone")
    if rclone:
        tools.append(Tool("rclone sync --checksum", "rclone", Counter(port)))
    else:
        print("rclone not found (apt-get install rclone): left out", file=sys.stderr)
    aws = _awscli()
    if aws:
        tools.append(Tool("aws s3 sync --delete", "awscli", Counter(port)))
    for tool in tools:
        s3.create_bucket(Bucket=tool.bucket)

    changed: list[int] = []  # objects sitegen put or deleted per publish, manifest included

    def run(tool: Tool, site: Path, state: Path, one_shot: bool = False) -> None:
        if tool.bucket == "sitegen":
            cfg = PublishConfig(bucket=tool.bucket, endpoint_url=tool.proxy.url)
            done = tool.timed(
                lambda: publish(site, cfg, state, 30, holder=None if one_shot else "b")
            )
            changed.append(len(done.plan.puts) + len(done.plan.deletes))
        elif tool.bucket == "rclone":
            command, env = _rclone(rclone, tool.proxy.url, site, tool.bucket)
            tool.timed(lambda: subprocess.run(command, check=True, env=env))
        else:
            command = [str(aws), "s3", "sync", f"{site}/", f"s3://{tool.bucket}/", "--delete",
                       "--endpoint-url", tool.proxy.url, "--only-show-errors"]  # fmt: skip
            tool.timed(lambda: subprocess.run(command, check=True))

    with tempfile.TemporaryDirectory() as d, RenderPool(2) as pool:
        state = Path(d) / "state"
        for cycle in range(args.cycles):
            site = _site(cycle, Path(d) / "public", pool)
            for tool in tools:
                run(tool, site, state)
        # As if `sitegen run` stopped (giving its lease up) and `sitegen publish` ran.
        release(s3, "sitegen", LEASE_KEY, "b")
        for tool in tools:
            _drift(s3, tool.bucket, site)
            run(tool, site, state, one_shot=True)
        repaired = {tool.name: _whole(s3, tool.bucket, site) for tool in tools}
        files = sum(1 for p in site.rglob("*") if p.is_file())
        no_change = one_shot(tools, site, state, port, args.runs)
    moto.stop()

    print(
        f"{args.cycles} cycles of a site of {files} files whose data changes every cycle "
        f"(medians past the first; {statistics.median(changed[1:-1]):.0f} objects put or "
        f"deleted a cycle, the manifest included):"
    )
    print(f"  {'':24} {'requests/cycle':>14} {'KB/cycle':>9} {'wall ms/cycle':>13}")
    for tool in tools:
        steady = tool.runs[1 : args.cycles]  # the first publish of an empty bucket aside
        print(
            f"  {tool.name:24} {statistics.median(r for r, _, _ in steady):14.0f} "
            f"{statistics.median(b for _, b, _ in steady) / 1e3:9.1f} "
            f"{statistics.median(s for _, _, s in steady) * 1e3:13.0f}"
        )
    print("drift (stylesheet deleted, a page overwritten at the same size), one more run:")
    for tool in tools:
        requests, sent, seconds = tool.runs[-1]
        print(
            f"  {tool.name:24} {requests:6d} requests {sent / 1e3:8.1f} KB "
            f"{seconds * 1e3:6.0f} ms; bucket whole again: {repaired[tool.name]}"
        )

    print("\n".join(no_change))


if __name__ == "__main__":
    main()

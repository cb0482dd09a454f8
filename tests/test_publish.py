"""Publishing against moto: incremental by hash, ordered, checksummed, and safe on failure."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from sitegen.config import PublishConfig
from sitegen.site.lease import LEASE_KEY, acquire, release
from sitegen.site.output import write_site
from sitegen.site.publish import IMMUTABLE, Plan, Published, clients, publish, session
from tests.loaded import run_reporting
from tests.promserver import free_port

BUCKET = "site-bucket"


def site_files(**changes: bytes | None) -> dict[str, bytes]:
    files = {
        "index.html": b"<p>home</p>",
        "metrics/index.html": b"<p>metrics</p>",
        "traces/abc.html": b"<p>trace</p>",
        "assets/site.0123456789ab.css": b"body{}",
        "data/snapshot.json": b"{}",
    }
    files.update(changes)
    return {k: v for k, v in files.items() if v is not None}


class Recorder:
    """Records the S3 and CloudFront operations sent, in order, through botocore's events."""

    def __init__(self, **s3_hooks) -> None:
        self.calls: list[tuple[str, str]] = []
        self.checksums: dict[str, str] = {}  # URL path -> x-amz-checksum-sha256 sent
        self.s3_hooks = s3_hooks  # botocore event -> handler, e.g. a fault to inject
        self.requests = 0  # HTTP requests sent, retries included

    def clients(self, cfg: PublishConfig) -> tuple:
        s3, make_cloudfront = clients(cfg)
        s3.meta.events.register("before-parameter-build.*.*", self.record)
        s3.meta.events.register("before-send.s3.PutObject", self.sent)
        s3.meta.events.register("before-send.s3", self.count)
        for event, handler in self.s3_hooks.items():
            s3.meta.events.register(event, handler)

        @functools.cache
        def cloudfront():
            made = make_cloudfront()
            made.meta.events.register("before-parameter-build.*.*", self.record)
            made.meta.events.register("before-send.cloudfront", self.count)
            return made

        return s3, cloudfront

    def count(self, **_kwargs) -> None:
        self.requests += 1

    def sent(self, request, **_kwargs) -> None:
        path = urlsplit(request.url).path.lstrip("/")
        key = path.removeprefix(f"{BUCKET}/")  # path-style URLs name the bucket first
        self.checksums[key] = request.headers.get("x-amz-checksum-sha256", b"").decode()

    def record(self, model, params, **_kwargs) -> None:
        self.calls.append((model.name, params.get("Key", "")))

    def ops(self, name: str) -> list[str]:
        """Return the keys of one operation, in order, leaving out the publish lease."""
        return [key for op, key in self.calls if op == name and not key.endswith(LEASE_KEY)]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # Like boto3's default session under moto: a session of this test's own, made under the mock.
    session.cache_clear()
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield
    session.cache_clear()


@pytest.fixture
def moto_server():
    """Yield the endpoint of one moto server (S3, CloudFront, CloudWatch), its state fresh."""
    import urllib.request

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"

    def reset() -> None:  # moto's servers and mocks share one in-process state
        ask = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(ask, timeout=30).close()

    reset()
    try:
        yield endpoint
    finally:
        reset()
        server.stop()


def distribution(cf=None) -> str:
    cf = cf or boto3.client("cloudfront", region_name="us-east-1")
    origin = {
        "Id": "s3",
        "DomainName": f"{BUCKET}.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    behavior = {
        "TargetOriginId": "s3",
        "ViewerProtocolPolicy": "redirect-to-https",
        "MinTTL": 0,
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        "TrustedSigners": {"Enabled": False, "Quantity": 0},
    }
    config = {
        "CallerReference": "test",
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": behavior,
    }
    return cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def run(tmp_path: Path, files: dict[str, bytes], cfg: PublishConfig, rec: Recorder | None = None):
    site = write_site(tmp_path / "public", files, "t").path
    rec = rec or Recorder()
    return publish(site, cfg, tmp_path / "state", 30, make_clients=rec.clients), rec


def test_incremental_publish_by_content_hash(aws, tmp_path: Path) -> None:
    cfg = PublishConfig(bucket=BUCKET, distribution_id=distribution())
    first, rec = run(tmp_path, site_files(), cfg)
    assert set(first.plan.puts) == {*site_files(), "manifest.json"}
    puts = rec.ops("PutObject")
    # Data after the new pages, the manifest last, and no invalidation for keys never served
    # before. (These pages link nothing, so they and the stylesheet go up in one parallel
    # wave, in no fixed order: the order by links has its own tests.)
    pages = [k for k in puts if k.endswith(".html")]
    assert puts[-1] == "manifest.json"
    assert puts.index("data/snapshot.json") > max(puts.index(k) for k in pages)
    assert first.invalidation is None and rec.ops("CreateInvalidation") == []

    s3 = boto3.client("s3", region_name="us-east-1")
    for key, data in site_files().items():
        head = s3.head_object(Bucket=BUCKET, Key=key)
        digest = hashlib.sha256(data).digest()
        # S3 checks the body against it; moto does not, so check what was sent.
        assert rec.checksums[key] == base64.b64encode(digest).decode()
        assert head["Metadata"]["sha256"] == digest.hex()
        immutable = key.startswith("assets/")
        assert (head["CacheControl"] == IMMUTABLE) == immutable
        if not immutable:
            assert "max-age=30" in head["CacheControl"] and "stale-if-error" in head["CacheControl"]
    assert (
        s3.head_object(Bucket=BUCKET, Key="index.html")["ContentType"] == "text/html; charset=utf-8"
    )
    assert s3.head_object(Bucket=BUCKET, Key="assets/site.0123456789ab.css")[
        "ContentType"
    ].startswith("text/css")

    again, rec = run(tmp_path, site_files(), cfg)
    assert again.plan.puts == () and rec.ops("PutObject") == [] and again.invalidation is None

    # Same size, other bytes: caught by the hash; only that page goes up and is invalidated.
    one, rec = run(tmp_path, site_files(**{"metrics/index.html": b"<p>metricz</p>"}), cfg)
    assert rec.ops("PutObject") == ["metrics/index.html", "manifest.json"]
    assert one.plan.invalidate == ("metrics/index.html",)
    cf = boto3.client("cloudfront", region_name="us-east-1")
    (inv,) = cf.list_invalidations(DistributionId=cfg.distribution_id)["InvalidationList"]["Items"]
    paths = cf.get_invalidation(DistributionId=cfg.distribution_id, Id=inv["Id"])
    assert sorted(paths["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]) == [
        "/metrics/",
        "/metrics/index.html",
    ]


def test_a_publish_that_changes_nothing_sends_two_requests_and_no_cloudfront_client(
    aws, tmp_path: Path
) -> None:
    cfg = PublishConfig(bucket=BUCKET, distribution_id=distribution())
    run(tmp_path, site_files(), cfg)
    made: list[str] = []
    session().register("creating-client-class", lambda **kw: made.append(kw["event_name"]))
    # One-shot, the site in sync: is the manifest still ours, and one LIST of the objects.
    # No lease (nothing is written), no HEAD, no CloudFront client or service model.
    state = tmp_path / "state" / "publish" / "state.json"
    written = state.stat().st_ino
    again, rec = run(tmp_path, site_files(), cfg)
    assert sorted(rec.calls) == [("GetObject", "manifest.json"), ("ListObjectsV2", "")]
    assert rec.requests == 2 and made == ["creating-client-class.s3"]
    assert again.plan.puts == () and again.invalidation is None
    assert state.stat().st_ino == written  # nothing to record: the state is not rewritten
    made.clear()
    changed, rec = run(tmp_path, site_files(**{"index.html": b"<p>v2</p>"}), cfg)
    assert changed.invalidation is not None
    assert made == ["creating-client-class.s3", "creating-client-class.cloudfront"]


def test_a_one_shot_publish_sends_its_get_and_its_list_at_once(aws, tmp_path: Path) -> None:
    # Two requests one after the other cost a one-shot publish two round trips to S3.
    import threading

    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, site_files(), cfg)
    listing, waited = threading.Event(), []
    hooks = {
        "before-send.s3.ListObjectsV2": lambda **_: listing.set(),
        "before-send.s3.GetObject": lambda **_: waited.append(listing.wait(5)),
    }
    again, rec = run(tmp_path, site_files(), cfg, Recorder(**hooks))
    assert waited == [True]  # the LIST was on its way while the GET was being sent
    assert again.plan.puts == () and rec.requests == 2


def test_the_publisher_finds_its_models_without_listing_every_service_botocore_has(
    aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore lists its 400-odd model directories to check that "s3" is a service: 50 ms of
    # a no-change publish. Only the two services' own directories are to be read.
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "models"))
    session.cache_clear()  # made again, with AWS_DATA_PATH
    listed: list[str] = []
    listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": listed.append(str(path)) or listdir(path))
    s3, cloudfront = clients(PublishConfig(bucket=BUCKET))
    cloudfront()
    assert listed and {Path(p).name for p in listed} <= {"s3", "cloudfront"}, listed
    # The models are found as botocore finds them: AWS_DATA_PATH first.
    loader = session().get_component("data_loader")
    assert loader.search_paths[0] == str(tmp_path / "models")
    assert s3.meta.service_model.service_name == "s3"


def test_the_publisher_leaves_the_times_s3_sends_unparsed(aws, tmp_path: Path) -> None:
    # It reads no time of S3's; parsing each object's LastModified was most of the CPU
    # of listing a large site.
    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, site_files(), cfg)
    s3, _ = clients(cfg)
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert len(listed) == 6 and all(isinstance(o["LastModified"], str) for o in listed)


def test_removed_pages_stay_one_cycle_then_go_last(aws, tmp_path: Path) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, site_files(), cfg)
    second, rec = run(tmp_path, site_files(**{"traces/abc.html": None, "index.html": b"v2"}), cfg)
    assert second.plan.deletes == ()  # a reader may still have the previous site open
    third, rec = run(tmp_path, site_files(**{"traces/abc.html": None, "index.html": b"v3"}), cfg)
    assert third.plan.deletes == ("traces/abc.html",)
    ops = [op for op, key in rec.calls if op in ("PutObject", "DeleteObjects") and key != LEASE_KEY]
    assert ops[-1] == "DeleteObjects" and ops.count("DeleteObjects") == 1
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "traces/abc.html" not in keys and "index.html" in keys


def test_a_lost_state_is_rebuilt_from_the_bucket_not_reuploaded(aws, tmp_path: Path) -> None:
    cfg = PublishConfig(bucket=BUCKET, prefix="site/")
    run(tmp_path, site_files(), cfg)
    (tmp_path / "state" / "publish" / "state.json").unlink()
    _again, rec = run(tmp_path, site_files(), cfg)
    assert rec.ops("PutObject") == [] and rec.ops("GetObject") == ["site/manifest.json"]
    boto3.client("s3").delete_object(Bucket=BUCKET, Key="site/manifest.json")
    (tmp_path / "state" / "publish" / "state.json").unlink()
    _rebuilt, rec = run(tmp_path, site_files(), cfg)
    assert rec.ops("PutObject") == ["site/manifest.json"]  # the objects' sha256 metadata sufficed


def test_a_failed_publish_leaves_the_previous_site_and_is_retried(aws, tmp_path: Path) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, site_files(), cfg)

    def denied(request, **_kwargs):
        if request.url.endswith("/data/snapshot.json"):
            return AWSResponse(
                request.url,
                403,
                {},
                _Raw(b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"),
            )
        return None

    new = site_files(**{"index.html": b"v2", "data/snapshot.json": b'{"v": 2}'})
    with pytest.raises(ClientError, match="AccessDenied"):
        run(tmp_path, new, cfg, Recorder(**{"before-send.s3.PutObject": denied}))
    s3 = boto3.client("s3")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="manifest.json")["Body"].read())
    assert manifest["files"]["index.html"]["sha256"] == hashlib.sha256(b"<p>home</p>").hexdigest()
    _retried, rec = run(tmp_path, new, cfg)
    assert set(rec.ops("PutObject")) == {"index.html", "data/snapshot.json", "manifest.json"}


def test_slowdown_is_retried_by_botocore(aws, tmp_path: Path) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    failures = {"left": 2}

    def slow_down(request, **_kwargs):
        if failures["left"] and request.url.endswith("/index.html"):
            failures["left"] -= 1
            return AWSResponse(
                request.url,
                503,
                {},
                _Raw(b"<Error><Code>SlowDown</Code><Message>slow</Message></Error>"),
            )
        return None

    done, _ = run(tmp_path, site_files(), cfg, Recorder(**{"before-send.s3.PutObject": slow_down}))
    assert failures["left"] == 0 and "index.html" in done.plan.puts
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key="index.html")["Body"].read()
    assert body == b"<p>home</p>"


class _Raw:
    """The raw body botocore reads from an AWSResponse."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_kwargs):
        yield self.data


def test_cli_publish_through_a_moto_server(tmp_path: Path, moto_server: str) -> None:
    endpoint = moto_server
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PATH": "/usr/bin:/bin",
    }
    # One server for S3 and CloudFront, as [publish] endpoint_url reaches both.
    client = functools.partial(
        boto3.client,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client("s3").create_bucket(Bucket=BUCKET)
    cf = client("cloudfront")
    dist = distribution(cf)
    dims = [{"Name": "DistributionId", "Value": dist}, {"Name": "Region", "Value": "Global"}]
    client("cloudwatch").put_metric_data(
        Namespace="AWS/CloudFront",
        # Ten minutes back: inside a whole 5-minute period of the source's window.
        MetricData=[
            {
                "MetricName": "Requests",
                "Dimensions": dims,
                "Value": 42,
                "Timestamp": time.time() - 600,
            },
        ],
    )
    config = tmp_path / "sitegen.toml"
    config.write_text(
        f'[site]\nworkers = 1\n[publish]\nbucket = "{BUCKET}"\nendpoint_url = "{endpoint}"\n'
        f'distribution_id = "{dist}"\ncloudwatch = true\n'
    )

    def sitegen(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "sitegen", *args, "--config", str(config)]
        return subprocess.run(cmd, check=check, env=env, capture_output=True, text=True)

    sitegen("render", "-q")
    # CloudWatch too is read through the endpoint: the metric put on the server is charted.
    doc = json.loads((tmp_path / "public/data/snapshot.json").read_text())
    (requests,) = [p for p in doc["panels"] if p["title"] == "CloudFront requests"]
    assert doc["sources"]["cloudfront"]["ok"] and requests["series"][0]["last"] == 42
    dry = sitegen("publish", "--dry-run")
    assert "upload index.html" in dry.stdout and "would upload" in dry.stdout
    done = sitegen("publish")
    assert done.stdout.startswith("uploaded ") and "unchanged 0" in done.stdout
    again = sitegen("publish")
    assert (
        again.stdout.startswith("uploaded 0 ") and "deleted 0, invalidated 0 paths" in again.stdout
    )
    # A new cycle rewrites the pages: the overwritten ones are invalidated on the server.
    sitegen("render", "-q")
    changed = sitegen("publish", check=False)
    assert changed.returncode == 0, changed.stderr
    (made,) = cf.list_invalidations(DistributionId=dist)["InvalidationList"]["Items"]
    assert f"({made['Id']})" in changed.stdout
    batch = cf.get_invalidation(DistributionId=dist, Id=made["Id"])["Invalidation"]
    paths = batch["InvalidationBatch"]["Paths"]["Items"]
    assert "/index.html" in paths or paths == ["/*"]  # past 15 paths, one wildcard


# Loaded by other verbs, never needed to publish: boto3 (with s3transfer) where botocore
# does, OpenTelemetry, the renderer and its templates, the probe's HTTP client, psutil.
NOT_FOR_PUBLISHING = {"boto3", "s3transfer", "opentelemetry", "jinja2", "httpx", "psutil",
                      "prometheus_client", "sitegen.render", "sitegen.cycle", "sitegen.model",
                      "sitegen.telemetry", "sitegen.redact"}  # fmt: skip


def test_a_one_shot_publish_loads_only_what_publishing_uses(tmp_path, moto_server) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1", **CREDENTIALS)
    s3.create_bucket(Bucket=BUCKET)
    cf = boto3.client("cloudfront", endpoint_url=moto_server, region_name="us-east-1",
                      **CREDENTIALS)  # fmt: skip
    config = tmp_path / "sitegen.toml"
    config.write_text(
        f'[publish]\nbucket = "{BUCKET}"\nendpoint_url = "{moto_server}"\n'
        f'distribution_id = "{distribution(cf)}"\n'
    )
    write_site(tmp_path / "public", site_files(), "t")
    env = {**KEYS, "PATH": "/usr/bin:/bin"}
    for run in ("first", "no change"):
        (summary,), frozen, modules = run_reporting(
            ["publish", "--config", str(config)], env, tmp_path
        )
        assert {m.partition(".")[0] for m in modules} & NOT_FOR_PUBLISHING == set(), run
        assert {m for m in modules if m.startswith("sitegen.")} & NOT_FOR_PUBLISHING == set()
        assert frozen, run
    assert summary.startswith("uploaded 0 ") and "unchanged 5" in summary


def test_a_publish_pauses_the_cycle_collector_and_resumes_it_unless_the_process_ends(
    aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import sitegen.site.publish
    from sitegen.cli import main

    real, during = sitegen.site.publish.publish, []
    monkeypatch.setattr(
        sitegen.site.publish,
        "publish",
        lambda *a, **kw: during.append(gc.isenabled()) or real(*a, **kw),
    )
    config = tmp_path / "sitegen.toml"
    config.write_text(f'[site]\nout_dir = "public"\n[publish]\nbucket = "{BUCKET}"\n')
    write_site(tmp_path / "public", site_files(), "t")
    assert gc.isenabled()
    assert main(["publish", "--config", str(config)]) == 0
    assert during == [False] and gc.isenabled()  # called in a process that goes on: resumed
    try:
        assert main(["publish", "--config", str(config)], exits=True) == 0
        assert during == [False, False] and not gc.isenabled()  # the process ends next
    finally:
        gc.enable()


def test_cli_says_why_a_publish_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], aws
) -> None:
    from sitegen.cli import main

    config = tmp_path / "sitegen.toml"
    config.write_text('[site]\nworkers = 1\n[publish]\nbucket = "no-such-bucket"\n')
    assert main(["render", "--config", str(config), "-q"]) == 0
    assert main(["publish", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "NoSuchBucket" in err and "the bucket does not exist" in err
    assert "keeps its previous site" in err


def test_two_generators_never_publish_at_once(aws, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    now = time.time()
    assert acquire(s3, BUCKET, LEASE_KEY, "a", ttl=90, now=now - 60).held
    assert acquire(s3, BUCKET, LEASE_KEY, "a", ttl=90, now=now - 30).held  # renewed
    other = acquire(s3, BUCKET, LEASE_KEY, "b", ttl=90, now=now)
    assert not other.held and other.holder == "a" and other.expires == now + 60

    cfg = PublishConfig(bucket=BUCKET)
    site = write_site(tmp_path / "public", site_files(), "t").path
    blocked = publish(site, cfg, tmp_path / "state", 30, holder="b")
    assert blocked.plan.puts == () and "a holds the publish lease" in blocked.note
    # A standby's next cycle has nothing new to save: its state is not rewritten (and synced).
    saved = tmp_path / "state" / "publish" / "state.json"
    before = saved.stat().st_mtime_ns if saved.exists() else None
    assert (
        "a holds the publish lease" in publish(site, cfg, tmp_path / "state", 30, holder="b").note
    )
    assert (saved.stat().st_mtime_ns if saved.exists() else None) == before
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [LEASE_KEY]  # nothing of the site went up

    # "a" died: once its lease has expired, "b" takes over with a conditional replace.
    s3.put_object(Bucket=BUCKET, Key=LEASE_KEY, Body=b'{"holder": "a", "expires": 1}')
    done = publish(site, cfg, tmp_path / "state", 30, holder="b")
    assert "index.html" in done.plan.puts
    lease = json.loads(s3.get_object(Bucket=BUCKET, Key=LEASE_KEY)["Body"].read())
    assert lease["holder"] == "b"


def test_each_cycle_publishes_probes_the_site_and_reports_it(aws, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    from sitegen.config import parse
    from sitegen.cycle import Runtime, run_cycle

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path / "public"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    cfg = parse(
        f'[site]\nworkers = 1\nbase_url = "{url}"\n[publish]\nbucket = "{BUCKET}"\n',
        env={}, base_dir=tmp_path,
    )  # fmt: skip
    rt = Runtime.start(cfg)
    try:
        first = run_cycle(rt, publish_site=True)
        second = run_cycle(rt, publish_site=True)
    finally:
        rt.close()
        server.shutdown()
    assert "index.html" in first.published.plan.puts
    assert [s.name for s in second.stages][-1] == "publish"
    assert second.snapshot.site.uptime[0].percent == 100.0
    about = (tmp_path / "public/about/index.html").read_text()
    assert "the public site" in about and "100%" in about
    assert "invalidation paths this month" in about


def test_cloudfront_metrics_from_cloudwatch_reach_the_about_page(aws, tmp_path: Path) -> None:
    import datetime

    from sitegen.cli import main

    # CloudFront's metrics arrive about a minute late.
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=60)
    dims = [{"Name": "DistributionId", "Value": "E123"}, {"Name": "Region", "Value": "Global"}]
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="AWS/CloudFront",
        MetricData=[
            {"MetricName": "Requests", "Dimensions": dims, "Value": 4200, "Timestamp": now},
            {"MetricName": "5xxErrorRate", "Dimensions": dims, "Value": 0.5, "Timestamp": now},
        ],
    )
    config = tmp_path / "sitegen.toml"
    config.write_text(
        f'[site]\nworkers = 1\n[publish]\nbucket = "{BUCKET}"\ndistribution_id = "E123"\n'
        "cloudwatch = true\n"
    )
    assert main(["render", "--config", str(config), "-q"]) == 0
    doc = json.loads((tmp_path / "public/data/snapshot.json").read_text())
    assert doc["sources"]["cloudfront"]["ok"]
    (requests,) = [p for p in doc["panels"] if p["title"] == "CloudFront requests"]
    assert requests["series"][0]["last"] == 4200
    about = (tmp_path / "public/about/index.html").read_text()
    assert "CloudFront requests, 24 h" in about and "CloudFront error rates, 24 h" in about


@pytest.mark.parametrize(
    ("fault", "recovers", "message"),
    [
        ("500", True, ""),
        ("timeout", True, ""),
        ("expired", False, "ExpiredToken in PutObject: the AWS credentials have expired"),
    ],
)
def test_faults_are_retried_or_reported_clearly(
    aws, tmp_path: Path, fault: str, recovers: bool, message: str
) -> None:
    from botocore.exceptions import ReadTimeoutError

    from sitegen.site.publish import publish_error

    left = {"n": 1}

    def inject(request, **_kwargs):
        if not left["n"] or not request.url.endswith("/index.html"):
            return None
        left["n"] -= 1 if fault != "expired" else 0
        if fault == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        status, code = (500, "InternalError") if fault == "500" else (400, "ExpiredToken")
        body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        return AWSResponse(request.url, status, {}, _Raw(body))

    cfg = PublishConfig(bucket=BUCKET)
    if recovers:
        done, _ = run(tmp_path, site_files(), cfg, Recorder(**{"before-send.s3.PutObject": inject}))
        assert left["n"] == 0 and "index.html" in done.plan.puts
        return
    with pytest.raises(ClientError) as exc:
        run(tmp_path, site_files(), cfg, Recorder(**{"before-send.s3.PutObject": inject}))
    assert publish_error(exc.value) == message
    # Nothing half-published: no manifest went up, and the next publish sends the site.
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert "manifest.json" not in keys


def test_a_corrupt_publish_state_is_moved_aside_and_the_bucket_asked(aws, tmp_path: Path) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, site_files(), cfg)
    state = tmp_path / "state" / "publish" / "state.json"
    state.write_text("{not json")
    _again, rec = run(tmp_path, site_files(), cfg)
    assert rec.ops("PutObject") == [] and rec.ops("GetObject") == ["manifest.json"]
    assert list(state.parent.glob("state.json.corrupt-*"))


# -- the bucket is the truth: drift, a second generator, ordering by links, the lease --------


def linked_site(**changes: bytes | None) -> dict[str, bytes]:
    """A small site whose pages link each other the way sitegen's templates do (relative)."""
    files = {
        "assets/site.0123456789ab.css": b"body{}",
        "index.html": b'<link rel="stylesheet" href="assets/site.0123456789ab.css">'
        b'<a href="traces/index.html">traces</a><a href="about/">about</a>',
        "about/index.html": b'<link rel="stylesheet" href="../assets/site.0123456789ab.css">'
        b'<a href="../index.html">home</a>',
        "traces/index.html": b'<a href="../index.html">home</a><a href="abc.html">abc</a>',
        "traces/abc.html": b'<a href="index.html">traces</a><a href="../index.html#top">home</a>',
        "data/status.json": b'{"incidents": []}',
    }
    files.update(changes)
    return {k: v for k, v in files.items() if v is not None}


def bucket_keys(prefix: str = "") -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"][len(prefix) :]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
        for o in listed
    }


def broken_links(objects: dict[str, bytes]) -> list[tuple[str, str]]:
    """Every (page, target) of a page in the bucket whose target the bucket lacks."""
    from sitegen.site.publish import links

    return sorted(
        (path, target)
        for path, body in objects.items()
        if path.endswith(".html")
        for target in links(path, body)
        if target not in objects
    )


def test_links_are_resolved_like_a_browser_would() -> None:
    from sitegen.site.publish import links

    page = (
        b'<a href="../index.html#x">a</a><a href=abc.html>b</a><a href="./">c</a>'
        b'<img src="/assets/i.png"><a href="https://example.com/x.html">d</a>'
        b'<a href="#main">e</a><a href="../../../etc">f</a><a href="q.html?page=2">g</a>'
    )
    assert links("traces/index.html", page) == {
        "index.html",
        "traces/abc.html",
        "traces/index.html",
        "assets/i.png",
        "traces/q.html",
        "etc",  # past the root a browser stays at the root
    }


def test_an_object_deleted_or_overwritten_behind_its_back_is_repaired(aws, tmp_path) -> None:
    cfg = PublishConfig(bucket=BUCKET, prefix="site/")
    run(tmp_path, linked_site(), cfg)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.delete_object(Bucket=BUCKET, Key="site/assets/site.0123456789ab.css")
    s3.put_object(Bucket=BUCKET, Key="site/about/index.html", Body=b"defaced, same size....")
    s3.put_object(Bucket=BUCKET, Key="site/traces/abc.html", Body=b"x" * 73)  # same size
    done, rec = run(tmp_path, linked_site(), cfg)
    # One LIST and the manifest's conditional GET found it; only the drifted objects go up.
    assert rec.ops("ListObjectsV2") == [""] and rec.ops("GetObject") == ["site/manifest.json"]
    assert set(rec.ops("PutObject")) == {
        "site/assets/site.0123456789ab.css",
        "site/about/index.html",
        "site/traces/abc.html",
        "site/manifest.json",
    }
    assert set(done.plan.repaired) == {
        "assets/site.0123456789ab.css",
        "about/index.html",
        "traces/abc.html",
    }
    assert "repaired 3" in done.summary()
    assert bucket_keys("site/") == {
        **linked_site(),
        "manifest.json": (tmp_path / "public/manifest.json").read_bytes(),
    }


def test_a_generator_back_from_failover_trusts_the_bucket_not_its_state(aws, tmp_path) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    run(a, linked_site(), cfg)
    # B took over: its site has no trace page and another stylesheet, and after two cycles
    # it deleted what A had put there.
    other = linked_site(**{"traces/abc.html": None, "assets/site.0123456789ab.css": None})
    other["assets/site.ffffffffffff.css"] = b"p{}"
    run(b, {**other, "index.html": b"<p>b1</p>"}, cfg)
    run(b, {**other, "index.html": b"<p>b2</p>"}, cfg)
    assert "traces/abc.html" not in bucket_keys()
    # A is back with the same site as before: its own state says nothing changed.
    done, _ = run(a, linked_site(), cfg)
    objects = bucket_keys()
    assert broken_links(objects) == []
    assert {k: v for k, v in objects.items() if k in linked_site()} == linked_site()
    assert "traces/abc.html" in done.plan.puts and "index.html" in done.plan.invalidate


@pytest.mark.parametrize("stop_after", [0, 1, 2, 3, 4, 5])
def test_a_publish_stopped_at_any_put_leaves_no_link_to_a_missing_object(
    aws, tmp_path, stop_after: int
) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, site_files(), cfg)  # a site without traces yet
    puts = {"n": 0}

    def forbid(request, **_kwargs):
        if request.url.endswith(LEASE_KEY):
            return None
        puts["n"] += 1
        if puts["n"] > stop_after:
            body = b"<Error><Code>AccessDenied</Code><Message>injected</Message></Error>"
            return AWSResponse(request.url, 403, {}, _Raw(body))
        return None

    with pytest.raises(ClientError, match="AccessDenied"):
        run(tmp_path, linked_site(), cfg, Recorder(**{"before-send.s3.PutObject": forbid}))
    assert broken_links(bucket_keys()) == []


def test_uploads_go_linked_pages_first_and_the_manifest_last(aws, tmp_path) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, linked_site(**{"traces/abc.html": None}), cfg)
    new = linked_site(
        **{
            "traces/index.html": b'<a href="abc.html">abc</a><a href="xyz.html">xyz</a>',
            "traces/xyz.html": b'<a href="abc.html">abc</a><a href="index.html">up</a>',
        }
    )
    _done, rec = run(tmp_path, new, cfg)
    puts = rec.ops("PutObject")
    assert puts.index("traces/abc.html") < puts.index("traces/xyz.html")
    assert puts.index("traces/xyz.html") < puts.index("traces/index.html")
    assert puts[-1] == "manifest.json"


def test_a_first_publish_puts_the_home_page_after_the_pages_it_links(aws, tmp_path) -> None:
    _done, rec = run(tmp_path, linked_site(), PublishConfig(bucket=BUCKET))
    puts = rec.ops("PutObject")
    # index.html and its pages link each other: the entry page lands last of them.
    assert puts[0] == "assets/site.0123456789ab.css" and puts[-1] == "manifest.json"
    others = [puts.index(p) for p in linked_site() if p.endswith("html") and p != "index.html"]
    assert puts.index("index.html") > max(others)
    assert puts.index("data/status.json") > puts.index("index.html")


def test_a_running_generator_sends_the_changed_objects_and_one_lease_renewal(aws, tmp_path):
    cfg = PublishConfig(bucket=BUCKET)
    site = lambda **c: write_site(tmp_path / "public", linked_site(**c), "t").path  # noqa: E731
    rec = Recorder()
    publish(site(), cfg, tmp_path / "state", 30, holder="a", make_clients=rec.clients)
    rec.calls.clear()
    change = {"index.html": b"<p>2</p>", "traces/abc.html": b"<p>2</p>"}
    publish(site(**change), cfg, tmp_path / "state", 30, holder="a", make_clients=rec.clients)
    # Two changed pages and the manifest, and one conditional PUT renewing the lease.
    assert sorted(rec.calls) == sorted(
        [("PutObject", "index.html"), ("PutObject", "traces/abc.html"),
         ("PutObject", "manifest.json"), ("PutObject", LEASE_KEY)]
    )  # fmt: skip
    rec.calls.clear()
    written = (tmp_path / "state" / "publish" / "state.json").stat().st_ino
    publish(site(**change), cfg, tmp_path / "state", 30, holder="a", make_clients=rec.clients)
    assert rec.calls == []  # nothing changed: nothing sent, nothing recorded
    assert (tmp_path / "state" / "publish" / "state.json").stat().st_ino == written


def test_a_running_generator_reconciles_every_reconcile_minutes(aws, tmp_path, monkeypatch):
    cfg = PublishConfig(bucket=BUCKET, reconcile_minutes=10)
    site = write_site(tmp_path / "public", linked_site(), "t").path
    rec = Recorder()
    publish(site, cfg, tmp_path / "state", 30, holder="a", make_clients=rec.clients)
    assert rec.ops("ListObjectsV2") == [""]  # at start
    boto3.client("s3").delete_object(Bucket=BUCKET, Key="traces/abc.html")
    rec.calls.clear()
    publish(site, cfg, tmp_path / "state", 30, holder="a", make_clients=rec.clients)
    assert rec.calls == []  # trusted while the lease was held and no reconcile is due
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 601)
    done = publish(site, cfg, tmp_path / "state", 30, holder="a", make_clients=rec.clients)
    assert rec.ops("ListObjectsV2") == [""] and done.plan.repaired == ("traces/abc.html",)
    assert broken_links(bucket_keys()) == []


def test_a_generator_that_takes_the_lease_over_reconciles_first(aws, tmp_path) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    site = lambda **c: write_site(tmp_path / "public", linked_site(**c), "t").path  # noqa: E731
    publish(site(), cfg, tmp_path / "state", 30, holder="a")
    # Meanwhile "b" took the expired lease, deleted a page and gave the lease up.
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=LEASE_KEY, Body=b'{"holder": "b", "expires": 1}')
    s3.delete_object(Bucket=BUCKET, Key="traces/abc.html")
    rec = Recorder()
    done = publish(
        site(**{"index.html": b"<p>2</p>"}), cfg, tmp_path / "state", 30, holder="a",
        make_clients=rec.clients,
    )  # fmt: skip
    assert rec.ops("ListObjectsV2") == [""] and "traces/abc.html" in done.plan.repaired
    assert broken_links(bucket_keys()) == []


def test_a_publish_state_of_another_shape_is_moved_aside(aws, tmp_path) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, site_files(), cfg)
    state = tmp_path / "state" / "publish" / "state.json"
    good = json.loads(state.read_text())
    for bad in (5, {**good, "published": 5}, {**good, "retained": [1]}, {**good, "etags": []}):
        state.write_text(json.dumps(bad))
        again, rec = run(tmp_path, site_files(), cfg)
        assert again.plan.puts == () and rec.ops("GetObject") == ["manifest.json"]
        (aside,) = state.parent.glob("state.json.corrupt-*")
        assert json.loads(aside.read_text()) == bad
        aside.unlink()


# Run in a `sitegen publish` process: at the Nth PUT of the site, say so on the given file
# descriptor and hang there, so the test can kill -9 the process at exactly that point.
# (The 403 test above is the deterministic one: there every other PUT of the group lands;
# here a real process dies with whatever was in flight.)
_HANG_AT_PUT = """
import os, sys, threading
from sitegen.cli import main
from sitegen.site.publish import session
n, fd, seen, lock = int(sys.argv[1]), int(sys.argv[2]), [], threading.Lock()
def hang(request, **_):
    if request.url.endswith(".sitegen-lease.json"):
        return None
    with lock:
        seen.append(request.url)
        mine = len(seen) == n
    if mine:  # the other upload threads go on, as they would
        os.write(fd, b"x")
        threading.Event().wait()
session().register("before-send.s3.PutObject", hang)
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("at_put", [2, 4, 6])
def test_a_publish_killed_at_any_put_leaves_no_link_to_a_missing_object(
    tmp_path, moto_server, at_put
):
    # Six PUTs go up: a group of three pages, the home page, the data, the manifest.
    import os
    import select
    import signal

    from sitegen.config import parse

    endpoint = moto_server
    env = {**KEYS, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parent.parent)}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)
    s3.create_bucket(Bucket=BUCKET)
    config = tmp_path / "sitegen.toml"
    config.write_text(f'[publish]\nbucket = "{BUCKET}"\nendpoint_url = "{endpoint}"\n')
    cfg = parse(config.read_text(), env={}, base_dir=tmp_path)
    old = write_site(cfg.site.out_dir, site_files(), "t").path
    publish(old, cfg.publish, cfg.site.state_dir, 30, make_clients=_keyed)
    write_site(cfg.site.out_dir, linked_site(), "t")
    said, told = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", _HANG_AT_PUT, str(at_put), str(told), "publish", "--config",
         str(config)],
        env=env, pass_fds=(told,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(told)
    try:
        assert select.select([said], [], [], 60)[0], "no word from the publish in 60 s"
        assert os.read(said, 1) == b"x", "the publish ended before that PUT"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        os.close(said)
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    objects = {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}
    assert broken_links(objects) == []
    assert json.loads(objects["manifest.json"])["files"].keys() == site_files().keys()


KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _keyed(cfg: PublishConfig) -> tuple:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in KEYS.items():
            mp.setenv(name, value)
        return clients(cfg)


def test_sitegen_run_reconciles_when_it_starts_and_trusts_its_lease_after(aws, tmp_path) -> None:
    from sitegen.config import parse
    from sitegen.cycle import Runtime, run_cycle

    cfg = parse(f'[site]\nworkers = 1\n[publish]\nbucket = "{BUCKET}"\n', env={}, base_dir=tmp_path)
    rec = Recorder()
    session().register("before-parameter-build.s3.*", rec.record)  # `aws` clears it
    for start in range(2):  # a restart is a start again: the bucket may have changed meanwhile
        rt = Runtime.start(cfg)
        try:
            rec.calls.clear()
            run_cycle(rt, publish_site=True)
            assert rec.ops("ListObjectsV2") == [""], start
            rec.calls.clear()
            again = run_cycle(rt, publish_site=True)
        finally:
            rt.close()
            release(boto3.client("s3"), BUCKET, LEASE_KEY, rt.holder)  # as `run` does at exit
        assert rec.ops("ListObjectsV2") == [] and rec.ops("GetObject") == []
        # The next cycle's changed pages, its manifest, and one renewal of the lease.
        puts = [key for op, key in rec.calls if op == "PutObject"]
        assert sorted(puts) == sorted([*again.published.plan.puts, LEASE_KEY])


def test_objects_whose_etag_is_no_md5_are_checked_by_their_sha256_not_uploaded_again(
    aws, tmp_path
) -> None:
    cfg = PublishConfig(bucket=BUCKET)
    run(tmp_path, linked_site(), cfg)
    (tmp_path / "state" / "publish" / "state.json").unlink()  # no ETags on record
    same_size = b"x" * len(linked_site()["traces/abc.html"])
    boto3.client("s3").put_object(Bucket=BUCKET, Key="traces/abc.html", Body=same_size)

    def kms(parsed, **_kwargs):
        # With SSE-KMS, S3's ETag is not the MD5 of the object.
        for obj in parsed.get("Contents", []):
            obj["ETag"] = '"' + hashlib.sha256(obj["Key"].encode()).hexdigest()[:32] + '"'

    done, rec = run(tmp_path, linked_site(), cfg, Recorder(**{"after-call.s3.ListObjectsV2": kms}))
    assert sorted(rec.ops("HeadObject")) == sorted(linked_site())
    assert done.plan.repaired == ("traces/abc.html",)
    assert rec.ops("PutObject") == ["traces/abc.html", "manifest.json"]


def test_the_summary_says_changed_paths_were_not_invalidated_when_none_was_made() -> None:
    plan = Plan(("index.html",), (), (), ("/", "/index.html"))
    # No distribution configured (or the month's budget spent): nothing was invalidated.
    assert Published(plan, 10, None).summary().endswith("2 changed paths not invalidated")
    assert Published(plan, 10, "I2J0I21").summary().endswith("invalidated 2 paths (I2J0I21)")
    assert "would invalidate 2 paths" in Published(plan, 10, None, dry_run=True).summary()
    assert Published(Plan((), ("a",), (), ()), 0, None).summary().endswith("invalidated 0 paths")

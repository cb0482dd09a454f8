"""Publishing against moto: incremental by hash, ordered, checksummed, and safe on failure."""

from __future__ import annotations

import base64
import hashlib
import json
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
from sitegen.site.lease import LEASE_KEY, acquire
from sitegen.site.output import write_site
from sitegen.site.publish import IMMUTABLE, publish
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

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.checksums: dict[str, str] = {}  # URL path -> x-amz-checksum-sha256 sent

    def clients(self, cfg: PublishConfig) -> tuple:
        from sitegen.site.publish import clients

        s3, cloudfront = clients(cfg)
        for client in (s3, cloudfront):
            client.meta.events.register("before-parameter-build.*.*", self.record)
        s3.meta.events.register("before-send.s3.PutObject", self.sent)
        return s3, cloudfront

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
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


def distribution() -> str:
    cf = boto3.client("cloudfront", region_name="us-east-1")
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
    # Assets first, the manifest last, and no invalidation for keys never served before.
    assert puts[0] == "assets/site.0123456789ab.css" and puts[-1] == "manifest.json"
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

    class Denying(Recorder):
        def clients(self, cfg):
            s3, cf = super().clients(cfg)
            s3.meta.events.register("before-send.s3.PutObject", denied)
            return s3, cf

    new = site_files(**{"index.html": b"v2", "data/snapshot.json": b'{"v": 2}'})
    with pytest.raises(ClientError, match="AccessDenied"):
        run(tmp_path, new, cfg, Denying())
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

    class Slowed(Recorder):
        def clients(self, cfg):
            s3, cf = super().clients(cfg)
            s3.meta.events.register("before-send.s3.PutObject", slow_down)
            return s3, cf

    done, _ = run(tmp_path, site_files(), cfg, Slowed())
    assert failures["left"] == 0 and "index.html" in done.plan.puts
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key="index.html")["Body"].read()
    assert body == b"<p>home</p>"


class _Raw:
    """The raw body botocore reads from an AWSResponse."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_kwargs):
        yield self.data


def test_cli_publish_through_a_moto_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PATH": "/usr/bin:/bin",
        }
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=BUCKET)
        config = tmp_path / "sitegen.toml"
        config.write_text(
            f'[site]\nworkers = 1\n[publish]\nbucket = "{BUCKET}"\nendpoint_url = "{endpoint}"\n'
        )
        sitegen = [sys.executable, "-m", "sitegen"]
        subprocess.run(
            [*sitegen, "render", "--config", str(config), "-q"],
            check=True,
            env=env,
            capture_output=True,
        )
        dry = subprocess.run(
            [*sitegen, "publish", "--config", str(config), "--dry-run"],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        assert "upload index.html" in dry.stdout and "would upload" in dry.stdout
        done = subprocess.run(
            [*sitegen, "publish", "--config", str(config)],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.stdout.startswith("uploaded ") and "unchanged 0" in done.stdout
        again = subprocess.run(
            [*sitegen, "publish", "--config", str(config)],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        assert (
            again.stdout.startswith("uploaded 0 ")
            and "deleted 0, invalidated 0 paths" in again.stdout
        )
    finally:
        server.stop()


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

    class Faulty(Recorder):
        def clients(self, cfg):
            s3, cf = super().clients(cfg)
            s3.meta.events.register("before-send.s3.PutObject", inject)
            return s3, cf

    cfg = PublishConfig(bucket=BUCKET)
    if recovers:
        done, _ = run(tmp_path, site_files(), cfg, Faulty())
        assert left["n"] == 0 and "index.html" in done.plan.puts
        return
    with pytest.raises(ClientError) as exc:
        run(tmp_path, site_files(), cfg, Faulty())
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

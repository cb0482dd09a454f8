"""infra/terraform: parses, passes checkov, and grants the publisher exactly what it uses."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import subprocess
import time
from pathlib import Path

import boto3
import hcl2

from sitegen.config import Config, PublishConfig
from sitegen.history import History
from sitegen.site.lease import LEASE_KEY
from sitegen.site.output import write_site
from sitegen.site.publish import publish
from sitegen.sources import cloudfront
from sitegen.sources.base import SourceContext
from tests.conftest import unavailable
from tests.test_publish import BUCKET, Recorder, aws, distribution, site_files  # noqa: F401

INFRA = Path(__file__).resolve().parent.parent / "infra" / "terraform"
CHECKOV = Path(__file__).resolve().parent.parent / ".venv-checkov" / "bin" / "checkov"
TF_FILES = sorted(INFRA.rglob("*.tf"))

# The IAM actions each API operation needs; KMS because the bucket is SSE-KMS encrypted.
ACTIONS = {
    "ListObjectsV2": {"s3:ListBucket"},
    "GetObject": {"s3:GetObject", "kms:Decrypt"},
    "HeadObject": {"s3:GetObject", "kms:Decrypt"},
    "PutObject": {"s3:PutObject", "kms:GenerateDataKey"},
    "DeleteObject": {"s3:DeleteObject"},
    "DeleteObjects": {"s3:DeleteObject"},
    "CreateInvalidation": {"cloudfront:CreateInvalidation"},
    "GetMetricStatistics": {"cloudwatch:GetMetricStatistics"},
}


def test_every_terraform_file_parses() -> None:
    assert len(TF_FILES) >= 8
    for path in TF_FILES:
        with path.open() as f:
            assert hcl2.load(f) is not None, path


def test_checkov_fails_nothing_and_every_skip_says_why() -> None:
    if not CHECKOV.exists():
        unavailable(
            "checkov is not installed: scripts/test installs it into .venv-checkov",
            "checkov is not installed (scripts/test puts it in .venv-checkov)",
        )
    done = subprocess.run(
        [str(CHECKOV), "-d", str(INFRA), "--framework", "terraform", "--quiet", "--compact",
         "--skip-download"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Failed checks: 0" in done.stdout
    for path in TF_FILES:
        for skip in re.findall(r"#checkov:skip=.*", path.read_text()):
            assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:.{20,}", skip), (path, skip)


def unquote(value: str) -> str:
    # python-hcl2 keeps the quotes of string literals in some versions and not in others.
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value


def publisher_policy() -> dict[str, list[str]]:
    """Return action -> resources of the publisher policy document in iam.tf."""
    with (INFRA / "iam.tf").open() as f:
        doc = hcl2.load(f)
    documents = {
        unquote(name): body
        for block in doc["data"]
        for kind, named in block.items()
        if unquote(kind) == "aws_iam_policy_document"
        for name, body in named.items()
    }
    granted: dict[str, list[str]] = {}
    for statement in documents["publisher"]["statement"]:
        assert unquote(statement.get("effect", "Allow")) == "Allow"
        for action in statement["actions"]:
            granted[unquote(action)] = [unquote(r) for r in statement["resources"]]
    return granted


def test_the_publisher_policy_allows_every_call_it_makes_and_nothing_more(aws, tmp_path) -> None:  # noqa: F811
    rec = Recorder()
    cfg = PublishConfig(bucket=BUCKET, distribution_id=distribution())

    def go(files: dict[str, bytes]) -> None:
        site = write_site(tmp_path / "public", files, "t").path
        publish(site, cfg, tmp_path / "state", 30, make_clients=rec.clients)

    # Every path the publisher has: first publish, changes, deletions, invalidation, a lost
    # state rebuilt from the bucket, and a lease taken and given back.
    go(site_files())
    go(site_files(**{"index.html": b"2", "traces/abc.html": None}))
    go(site_files(**{"index.html": b"3", "traces/abc.html": None}))
    (tmp_path / "state" / "publish" / "state.json").unlink()
    boto3.client("s3").delete_object(Bucket=BUCKET, Key="manifest.json")
    go(site_files(**{"index.html": b"4", "traces/abc.html": None}))

    # And the CloudWatch source ([publish] cloudwatch = true), through the default session.
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.*.*", rec.record)
    ctx = SourceContext(
        cfg=Config(publish=dataclasses.replace(cfg, cloudwatch=True)),
        history=History(tmp_path, 3600), state_dir=tmp_path, now=time.time(), deadline=0,
    )  # fmt: skip
    assert len(cloudfront.collect(ctx).panels) == 2

    used = {op for op, _ in rec.calls}
    assert used <= set(ACTIONS), f"add to ACTIONS and iam.tf: {used - set(ACTIONS)}"
    assert {"ListObjectsV2", "HeadObject", "GetObject", "PutObject", "DeleteObjects",
            "DeleteObject", "CreateInvalidation", "GetMetricStatistics"} <= used  # fmt: skip
    needed = set().union(*(ACTIONS[op] for op in used))
    granted = publisher_policy()
    assert set(granted) == needed
    assert granted["s3:ListBucket"] == ["${module.primary.arn}"]
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert granted[action] == ["${module.primary.arn}/*"]
    assert granted["cloudfront:CreateInvalidation"] == ["${aws_cloudfront_distribution.site.arn}"]
    assert granted["kms:GenerateDataKey"] == ["${aws_kms_key.site.arn}"]
    assert granted["cloudwatch:GetMetricStatistics"] == ["*"]  # no resource-level reads


# -- who may read what: the bucket and key policies evaluated as IAM does -------------------

ACCOUNT = "123456789012"
DISTRIBUTION_ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2QWRUHEXAMPLE"


def documents(path: Path) -> dict[str, list[dict]]:
    """Return name -> statements of every aws_iam_policy_document in a .tf file."""
    with path.open() as f:
        doc = hcl2.load(f)
    return {
        unquote(name): body["statement"]
        for block in doc.get("data", [])
        for kind, named in block.items()
        if unquote(kind) == "aws_iam_policy_document"
        for name, body in named.items()
    }


def resolve(value: str, names: dict[str, str]) -> str:
    """Replace the ${...} references of a policy value by the test's names for them."""
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], unquote(value))


def allowed(statements: list[dict], action: str, resource: str, service: str, names) -> bool:
    """IAM's rule over one request by a service principal: a Deny wins, else an Allow."""
    context = {"aws:sourcearn": DISTRIBUTION_ARN, "aws:securetransport": "true"}

    def holds(condition: dict) -> bool:
        test = unquote(condition["test"])
        have = context[unquote(condition["variable"]).lower()]
        values = [resolve(v, names) for v in condition["values"]]
        if test == "StringLike":
            return any(fnmatch.fnmatchcase(have, v) for v in values)
        assert test in ("StringEquals", "Bool"), test  # the only others these policies use
        return have in values

    def applies(st: dict) -> bool:
        who = {resolve(i, names) for p in st["principals"] for i in p["identifiers"]}
        return (
            bool(who & {service, "*"})
            and any(fnmatch.fnmatchcase(action, unquote(a)) for a in st["actions"])
            and any(fnmatch.fnmatchcase(resource, resolve(r, names)) for r in st["resources"])
            and all(holds(c) for c in st.get("condition", []))
        )

    effects = {unquote(st.get("effect", "Allow")) for st in statements if applies(st)}
    return "Allow" in effects and "Deny" not in effects


def test_cloudfront_may_decrypt_what_it_serves() -> None:
    kms = documents(INFRA / "s3.tf")["kms"]
    names = {"data.aws_caller_identity.current.account_id": ACCOUNT}
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    # Without it CloudFront could read no object of the SSE-KMS buckets, nor fail over.
    assert allowed(kms, "kms:Decrypt", key, "cloudfront.amazonaws.com", names)
    assert not allowed(kms, "kms:Encrypt", key, "cloudfront.amazonaws.com", names)


def test_cloudfront_reads_the_site_but_never_the_publish_lease() -> None:
    bucket = documents(INFRA / "modules" / "site_bucket" / "main.tf")["this"]
    names = {
        "aws_s3_bucket.this.arn": "arn:aws:s3:::site",
        "var.distribution_arn": DISTRIBUTION_ARN,
    }
    for key in ("index.html", "traces/abc.html", "site/index.html", "assets/site.0123.css"):
        assert allowed(
            bucket, "s3:GetObject", f"arn:aws:s3:::site/{key}", "cloudfront.amazonaws.com", names
        ), key
    for prefix in ("", "site/", "a/b/"):  # wherever [publish] prefix puts it
        lease = f"arn:aws:s3:::site/{prefix}{LEASE_KEY}"
        assert not allowed(bucket, "s3:GetObject", lease, "cloudfront.amazonaws.com", names)


def test_a_refused_or_missing_object_is_answered_with_the_404_page() -> None:
    with (INFRA / "cloudfront.tf").open() as f:
        doc = hcl2.load(f)
    (dist,) = [
        body
        for block in doc["resource"]
        for kind, named in block.items()
        if unquote(kind) == "aws_cloudfront_distribution"
        for body in named.values()
    ]
    # With Origin Access Control, S3 answers 403 for a key it does not have (the
    # distribution may not list the bucket), and 403 for the refused lease object.
    pages = {int(e["error_code"]): e for e in dist["custom_error_response"]}
    for status in (403, 404):
        assert unquote(pages[status]["response_page_path"]) == "/404.html", status
        assert int(pages[status]["response_code"]) == 404, status

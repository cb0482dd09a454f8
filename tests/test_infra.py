"""infra/terraform: parses, passes checkov, and grants the publisher exactly what it uses."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import time
from pathlib import Path

import boto3
import hcl2
import pytest

from sitegen.config import Config, PublishConfig
from sitegen.history import History
from sitegen.site.output import write_site
from sitegen.site.publish import publish
from sitegen.sources import cloudfront
from sitegen.sources.base import SourceContext
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
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed: scripts/test installs it into .venv-checkov")
        pytest.skip("checkov is not installed (scripts/test puts it in .venv-checkov)")
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

"""Publish a written site to S3 by content hash, then invalidate what changed in CloudFront.

Order: new assets, then pages and data, then manifest.json; stale keys are deleted last, and
only those neither this site nor the previously published one holds (a reader may still have
a page of the last cycle open). Nothing is compared by size or mtime: only SHA-256.
A failed publish uploads no manifest and deletes nothing, so the bucket keeps a whole site
and the next cycle diffs against the last manifest that did land.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from sitegen.config import PublishConfig
from sitegen.site import lease
from sitegen.site.lease import LEASE_KEY
from sitegen.site.output import MANIFEST
from sitegen.state import atomic_write_bytes, quarantine
from sitegen.telemetry import log
from sitegen.units import format_value

logger = logging.getLogger("sitegen")

IMMUTABLE = "public, max-age=31536000, immutable"
STATE_DIR = "publish"
THREADS = 8
# CloudFront's first 1,000 invalidation paths a month are free; past the budget the short
# max-age of pages keeps them fresh alone.
MONTHLY_PATH_BUDGET = 1000
WILDCARD_AFTER = 15  # more changed paths than this become one "/*" (one path of the budget)


@dataclass(frozen=True)
class Plan:
    """What a publish will do: keys to put in order, keys to delete, paths to invalidate."""

    puts: tuple[str, ...]
    unchanged: tuple[str, ...]
    deletes: tuple[str, ...]
    invalidate: tuple[str, ...]


@dataclass(frozen=True)
class Published:
    """What a publish did."""

    plan: Plan
    bytes: int
    invalidation: str | None  # the CloudFront invalidation id, if one was made
    note: str = ""
    dry_run: bool = False

    def summary(self) -> str:
        """Return one line of counts: uploaded, unchanged, deleted, invalidated."""
        p = self.plan
        verb = "would upload" if self.dry_run else "uploaded"
        line = (
            f"{verb} {len(p.puts)} ({format_value(self.bytes, 'bytes')}), "
            f"unchanged {len(p.unchanged)}, deleted {len(p.deletes)}, "
            f"invalidated {len(p.invalidate)} paths"
        )
        line += f" ({self.invalidation})" if self.invalidation else ""
        return line + (f"; {self.note}" if self.note else "")


_HINTS = {
    "NoSuchBucket": "the bucket does not exist (check publish.bucket and publish.region)",
    "AccessDenied": "access denied (the credentials lack a permission the IAM policy in "
    "infra/terraform grants)",
    "ExpiredToken": "the AWS credentials have expired",
    "InvalidAccessKeyId": "the AWS access key is not known",
    "SignatureDoesNotMatch": "the AWS secret key is wrong",
}


def publish_error(exc: Exception) -> str:
    """Say in one line why a publish failed, with a hint for the usual causes."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        operation = getattr(exc, "operation_name", "")
        return f"{code} in {operation}: {_HINTS.get(code, exc.response['Error'].get('Message'))}"
    return f"{type(exc).__name__}: {exc}"


def cache_control(path: str, page_seconds: int) -> str:
    """Return the Cache-Control of a site path: immutable for hashed assets, short for pages."""
    if path.startswith("assets/"):
        return IMMUTABLE
    # Short max-age: a reader sees a new cycle soon; stale-* keep the site up through
    # an origin hiccup instead of showing errors.
    return (
        f"public, max-age={page_seconds}, stale-while-revalidate={page_seconds * 2}, "
        f"stale-if-error=86400"
    )


def clients(cfg: PublishConfig) -> tuple:
    """Return S3 and CloudFront clients: standard retries, a connection per upload thread."""
    boto = BotoConfig(
        region_name=cfg.region,
        retries={"mode": "standard", "max_attempts": 4},
        max_pool_connections=THREADS,
        connect_timeout=5,
        read_timeout=30,
    )
    endpoint = cfg.endpoint_url or None
    return boto3.client("s3", endpoint_url=endpoint, config=boto), boto3.client(
        "cloudfront", config=boto
    )


class PublishState:
    """The last two published manifests and this month's invalidation paths, in state_dir."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_DIR / "state.json"

    def load(self) -> dict:
        """Return the saved state, or an empty one (the bucket is then asked instead)."""
        try:
            state = json.loads(self.path.read_text())
            if isinstance(state, dict):
                return state
            raise ValueError("not a JSON object")
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            quarantine(self.path, f"{type(exc).__name__}: {exc}")
            return {}

    def save(self, state: dict) -> None:
        """Write the state atomically."""
        atomic_write_bytes(self.path, json.dumps(state).encode())


def _bucket_state(s3, bucket: str, prefix: str) -> tuple[dict[str, str], set[str], bool]:
    """Return (path -> sha256 of the published site, other keys, has a manifest) from S3."""
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
    published: dict[str, str] = {}
    if MANIFEST in keys:
        body = s3.get_object(Bucket=bucket, Key=prefix + MANIFEST)["Body"].read()
        published = {p: e["sha256"] for p, e in json.loads(body)["files"].items()}
    else:
        # No manifest: rebuild it from the sha256 each object carries, not by uploading all.
        for key in keys:
            head = s3.head_object(Bucket=bucket, Key=prefix + key)
            published[key] = head.get("Metadata", {}).get("sha256", "")
    has_manifest = MANIFEST in keys
    keys.discard(MANIFEST)
    keys.discard(LEASE_KEY)  # the lease is the publishers' business, not part of the site
    return published, keys - set(published), has_manifest


def _order(path: str) -> int:
    # Assets first (pages link them), then pages and data, the manifest last.
    return 0 if path.startswith("assets/") else 2 if path == MANIFEST else 1


def plan(
    local: dict[str, str], published: dict[str, str], retained: set[str], has_manifest: bool = True
) -> Plan:
    """Diff the local site against the published one by hash.

    `retained` are keys of the site before the published one: deleted now unless the local
    site has them again, while the published site's own keys stay one more cycle.
    """
    changed = sorted(
        (p for p in local if published.get(p) != local[p]), key=lambda p: (_order(p), p)
    )
    unchanged = tuple(sorted(p for p in local if published.get(p) == local[p]))
    deletes = tuple(sorted(retained - set(local)))
    # New keys were never cached; overwritten and deleted pages may be.
    cached = set(published) | retained
    invalidate = tuple(
        sorted(p for p in {*changed, *deletes} if p in cached and not p.startswith("assets/"))
    )
    # The manifest goes last, and only when the site changed: an unchanged site sends nothing.
    puts = (*changed, MANIFEST) if changed or deletes or not has_manifest else ()
    return Plan(tuple(puts), unchanged, deletes, invalidate)


def _paths(keys: tuple[str, ...], prefix: str) -> list[str]:
    paths = []
    for key in keys:
        paths.append(f"/{prefix}{key}")
        if key == "index.html" or key.endswith("/index.html"):
            paths.append(f"/{prefix}{key[: -len('index.html')]}")  # also served as the dir
    return sorted(set(paths))


def _invalidate(cloudfront, cfg: PublishConfig, keys: tuple[str, ...], state: dict, ref: str):
    """Make one invalidation within the monthly budget; return (id, paths counted, note)."""
    paths = _paths(keys, cfg.prefix)
    if len(paths) > WILDCARD_AFTER:
        paths = [f"/{cfg.prefix}*"]
    month = time.strftime("%Y-%m", time.gmtime())
    used = state.get("invalidation_paths", {}).get(month, 0)
    if used + len(paths) > MONTHLY_PATH_BUDGET:
        return (
            None,
            0,
            f"invalidation budget spent ({used} paths in {month}): TTLs keep pages fresh",
        )
    for attempt in range(4):
        try:
            answer = cloudfront.create_invalidation(
                DistributionId=cfg.distribution_id,
                InvalidationBatch={
                    "Paths": {"Quantity": len(paths), "Items": paths},
                    "CallerReference": ref,
                },
            )
            return answer["Invalidation"]["Id"], len(paths), ""
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TooManyInvalidationsInProgress" or attempt == 3:
                raise
            time.sleep(2**attempt)  # CloudFront allows 3,000 paths in progress at once
    raise AssertionError("unreachable")


def _upload(s3, cfg: PublishConfig, site: Path, manifest: bytes, keys, page_seconds: int) -> int:
    """PUT keys in order (assets, pages and data, manifest), a group after the one before."""
    types = {p: e["type"] for p, e in json.loads(manifest)["files"].items()}

    def put(path: str) -> int:
        data = manifest if path == MANIFEST else (site / path).read_bytes()
        digest = hashlib.sha256(data).digest()
        s3.put_object(
            Bucket=cfg.bucket,
            Key=cfg.prefix + path,
            Body=data,
            ContentType=types.get(path, "application/json"),
            CacheControl=cache_control(path, page_seconds),
            ChecksumSHA256=base64.b64encode(digest).decode(),
            Metadata={"sha256": digest.hex()},
        )
        return len(data)

    sent = 0
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for group in (0, 1, 2):  # a group starts only when the one before has fully landed
            sent += sum(pool.map(put, [p for p in keys if _order(p) == group]))
    return sent


def _delete(s3, cfg: PublishConfig, keys: tuple[str, ...]) -> None:
    for i in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys at a time
        batch = [{"Key": cfg.prefix + k} for k in keys[i : i + 1000]]
        s3.delete_objects(Bucket=cfg.bucket, Delete={"Objects": batch, "Quiet": True})


def publish(
    site: Path,
    cfg: PublishConfig,
    state_dir: Path,
    page_seconds: int,
    *,
    dry_run: bool = False,
    holder: str | None = None,
    make_clients: Callable[[PublishConfig], tuple] = clients,
) -> Published:
    """Sync a written site to the bucket and invalidate its changed pages.

    `holder` names a long-running generator that keeps the publish lease between cycles;
    without one (a one-shot publish) the lease is taken for this publish and given back.
    """
    manifest_bytes = (site / MANIFEST).read_bytes()
    manifest = json.loads(manifest_bytes)
    local = {p: e["sha256"] for p, e in manifest["files"].items()}
    s3, cloudfront = make_clients(cfg)
    store = PublishState(state_dir)
    state = store.load()
    where = f"s3://{cfg.bucket}/{cfg.prefix}"
    if state.get("where") == where:
        published, retained, has_manifest = state["published"], set(state["retained"]), True
    else:  # first publish from this state_dir, or to another place: ask the bucket
        published, retained, has_manifest = _bucket_state(s3, cfg.bucket, cfg.prefix)
    todo = plan(local, published, retained, has_manifest)
    if dry_run:
        size = sum(manifest["files"].get(p, {}).get("size", 0) for p in todo.puts)
        return Published(todo, size, None, "dry run: nothing sent", dry_run=True)

    sent, invalidation, counted, note = 0, None, 0, ""
    if todo.puts or todo.deletes:  # nothing to write needs no lease either
        who, key = holder or lease.me(), cfg.prefix + LEASE_KEY
        # Three intervals: a standby takes over after the holder missed about two cycles.
        held = lease.acquire(s3, cfg.bucket, key, who, 3 * page_seconds)
        if not held.held:
            until = time.strftime("%H:%M:%S", time.gmtime(held.expires))
            note = f"not published: {held.holder} holds the publish lease until {until} UTC"
            log(logger, logging.WARNING, note)
            return Published(Plan((), todo.unchanged, (), ()), 0, None, note)
        try:
            sent = _upload(s3, cfg, site, manifest_bytes, todo.puts, page_seconds)
            _delete(s3, cfg, todo.deletes)
            if cfg.distribution_id and todo.invalidate:
                ref = hashlib.sha256(manifest_bytes).hexdigest()[:32]  # same site, same ref
                invalidation, counted, note = _invalidate(
                    cloudfront, cfg, todo.invalidate, state, ref
                )
        finally:
            if holder is None:
                lease.release(s3, cfg.bucket, key, who)
    month = time.strftime("%Y-%m", time.gmtime())
    budget = state.get("invalidation_paths", {})
    budget[month] = budget.get(month, 0) + counted
    store.save(
        {
            "where": where,
            "published": local,
            # The site that was live until now stays one more cycle for readers still on it.
            "retained": sorted((set(published) | retained) - set(local) - set(todo.deletes)),
            "invalidation_paths": budget,
        }
    )
    if note:
        log(logger, logging.WARNING, note)
    return Published(todo, sent, invalidation, note)

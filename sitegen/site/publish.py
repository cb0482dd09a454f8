"""Publish a written site to S3 by content hash, then invalidate what changed in CloudFront.

The bucket is the truth: before local state is trusted, the bucket's manifest is checked
(a conditional GET) and its objects listed (one LIST), and what drifted there is put again.
Order by links: a page goes up after the new pages and assets it links, manifest.json last;
stale keys are deleted after it, and only those neither this site nor the previously
published one holds (a reader may still have a page of the last cycle open). Changes are
found by SHA-256, never by size or mtime. A failed or killed publish leaves no page linking
an object that is not there, and the next cycle diffs against the last manifest that landed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import posixpath
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from sitegen.config import PublishConfig
from sitegen.site import lease
from sitegen.site.lease import LEASE_KEY
from sitegen.site.output import MANIFEST
from sitegen.site.servicedata import ServiceData
from sitegen.statefiles import atomic_write_bytes, quarantine
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
    repaired: tuple[str, ...] = ()  # of puts: objects found deleted or replaced in the bucket


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
        paths = len(p.invalidate)
        if self.dry_run:
            invalidated = f"would invalidate {paths} paths"
        elif self.invalidation or not paths:
            invalidated = f"invalidated {paths} paths"
        else:  # no distribution configured, or the monthly budget spent (the note says)
            invalidated = f"{paths} changed paths not invalidated"
        line = (
            f"{verb} {len(p.puts)} ({format_value(self.bytes, 'bytes')}), "
            + (f"repaired {len(p.repaired)} that drifted in the bucket, " if p.repaired else "")
            + f"unchanged {len(p.unchanged)}, deleted {len(p.deletes)}, {invalidated}"
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


@cache
def session() -> botocore.session.Session:
    """Return the publisher's botocore session (credentials and models cached, S3 times as text).

    For publishing only: a client made from it answers times unparsed (see below).
    """
    # botocore, not boto3: boto3 adds 0.1 s of imports (s3transfer) that publishing never uses.
    made = botocore.session.get_session()
    data_path = made.get_config_variable("data_path")  # AWS_DATA_PATH, as botocore reads it
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in (data_path or "").split(os.pathsep)]
    made.register_component("data_loader", ServiceData([p for p in extra if p]))
    # Times stay the text S3 sent: publishing reads none, and parsing every LastModified
    # of a LIST (with dateutil) costs about 0.1 ms an object: a second for 10,000 pages.
    made.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    return made


def clients(cfg: PublishConfig) -> tuple:
    """Return an S3 client and a function that makes the CloudFront client when first called.

    Standard retries, a connection per upload thread. CloudFront is made only for an
    invalidation: a publish that changed nothing never loads its service model.
    """
    boto = BotoConfig(
        region_name=cfg.region,
        retries={"mode": "standard", "max_attempts": 4},
        max_pool_connections=THREADS,
        connect_timeout=5,
        read_timeout=30,
    )
    # Both through the configured endpoint: a moto server or a local stack answers both.
    endpoint = cfg.endpoint_url or None
    made = session()
    s3 = made.create_client("s3", endpoint_url=endpoint, config=boto)
    return s3, cache(lambda: made.create_client("cloudfront", endpoint_url=endpoint, config=boto))


class PublishState:
    """The last two published manifests and this month's invalidation paths, in state_dir."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_DIR / "state.json"

    def load(self) -> dict:
        """Return the saved state, or an empty one (the bucket is then asked instead)."""
        try:
            state = json.loads(self.path.read_text())
            if _valid(state):
                return state
            raise ValueError("not a publish state (another shape)")
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            quarantine(self.path, f"{type(exc).__name__}: {exc}")
            return {}

    def save(self, state: dict) -> None:
        """Write the state atomically."""
        atomic_write_bytes(self.path, json.dumps(state).encode())


def _valid(state: object) -> bool:
    """Whether a loaded state has the shape this module writes (else it is moved aside)."""
    if not isinstance(state, dict):
        return False

    def strings(value: object, kind: type) -> bool:
        items = value.items() if isinstance(value, dict) else value
        return isinstance(value, kind) and all(
            isinstance(i, str) for item in items for i in (item if kind is dict else (item,))
        )

    lease = state.get("lease", {})
    return (
        isinstance(state.get("where", ""), str)
        and strings(state.get("published", {}), dict)
        and strings(state.get("retained", []), list)
        and strings(state.get("etags", {}), dict)
        and isinstance(state.get("manifest_etag", ""), str)
        and isinstance(state.get("reconciled_at", 0), int | float)
        and isinstance(state.get("invalidation_paths", {}), dict)
        and all(isinstance(v, int) for v in state.get("invalidation_paths", {}).values())
        and strings(lease, dict)
    )


@dataclass(frozen=True)
class Bucket:
    """What the bucket holds, as far as this generator knows."""

    published: dict[str, str]  # path -> sha256 of the live site (its manifest)
    retained: frozenset[str]  # keys of older sites, deleted once no live page can link them
    has_manifest: bool
    etags: dict[str, str]  # path -> ETag of the object as put or as last listed
    manifest_etag: str
    drifted: frozenset[str] = frozenset()  # live paths whose object was deleted or replaced
    missing: frozenset[str] = frozenset()  # paths the bucket does not have at all
    reconciled: bool = False  # read from the bucket now, not from local state


def _trusted(saved: dict) -> Bucket:
    """The bucket as this generator's state says it left it."""
    return Bucket(
        saved["published"],
        frozenset(saved.get("retained", ())),
        True,
        saved.get("etags", {}),
        saved.get("manifest_etag", ""),
    )


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _live_manifest(s3, bucket: str, key: str, etag: str) -> tuple[dict[str, str] | None, str]:
    """GET the bucket's manifest unless it is still the one with `etag` (If-None-Match).

    Return (path -> sha256, ETag); (None, etag) when unchanged; ({}, "") when there is none.
    """
    try:
        got = s3.get_object(Bucket=bucket, Key=key, **({"IfNoneMatch": etag} if etag else {}))
    except ClientError as exc:
        if _status(exc) == 304:
            return None, etag
        if _status(exc) == 404:
            return {}, ""
        raise
    try:
        files = json.loads(got["Body"].read())["files"]
        return {p: str(e["sha256"]) for p, e in files.items()}, got["ETag"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}, ""  # unreadable: as if there were none, so a whole one goes up


def _md5(path: Path) -> str:
    # What S3 answers as the ETag of a single-part, unencrypted or SSE-S3 object.
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _sha256_of(s3, cfg: PublishConfig, path: str) -> str:
    # The sha256 metadata every PUT sets: asked (one HEAD) only of an object whose ETag is
    # neither the one we were answered nor its MD5, as with SSE-KMS after another writer.
    head = s3.head_object(Bucket=cfg.bucket, Key=cfg.prefix + path)
    return head.get("Metadata", {}).get("sha256", "")


def _listed(s3, cfg: PublishConfig) -> dict[str, tuple[int, str]]:
    """Return every object under the prefix: key (the prefix cut) -> (size, ETag)."""
    listed: dict[str, tuple[int, str]] = {}
    more: dict[str, str] = {}
    while True:  # pages by hand: botocore's paginator first loads a model of its own
        page = s3.list_objects_v2(Bucket=cfg.bucket, Prefix=cfg.prefix, **more)
        for obj in page.get("Contents", []):
            listed[obj["Key"][len(cfg.prefix) :]] = (obj["Size"], obj["ETag"])
        if not page.get("IsTruncated"):
            return listed
        more = {"ContinuationToken": page["NextContinuationToken"]}


def _reconcile(s3, cfg: PublishConfig, saved: dict, site: Path, files: dict) -> Bucket:
    """Check the bucket's manifest (a conditional GET) and every object (one LIST), at once.

    An object of the live site is drifted when it is missing, or its size or ETag is not
    what was put: ETag = MD5 for a single-part object; with SSE-KMS the ETag is no MD5,
    so the ETag each PUT answered (kept in state) is compared as well, and failing both,
    the sha256 metadata of the object.
    """
    # The two requests at once: a no-change publish waits for one round trip, not two.
    with ThreadPoolExecutor(1) as other:
        listing = other.submit(_listed, s3, cfg)
        published, manifest_etag = _live_manifest(
            s3, cfg.bucket, cfg.prefix + MANIFEST, saved.get("manifest_etag", "")
        )
        listed = listing.result()
    retained = set(saved.get("retained", ()))
    if published is None or (not published and saved.get("published")):
        # Unchanged since our last publish, or its manifest alone lost: our record holds
        # (the LIST checks every object of it).
        published = dict(saved.get("published", {}))
    elif saved.get("published") and published != saved["published"]:
        # Another generator published: what we had put is now an older site's.
        retained |= set(saved["published"]) - set(published)
    has_manifest = MANIFEST in listed and bool(manifest_etag)
    listed.pop(MANIFEST, None)
    listed.pop(LEASE_KEY, None)  # the lease is the publishers' business, not part of the site
    if not has_manifest and not saved.get("published"):
        # No manifest: rebuild it from the sha256 each object carries, not by uploading all.
        for key in listed:
            head = s3.head_object(Bucket=cfg.bucket, Key=cfg.prefix + key)
            published[key] = head.get("Metadata", {}).get("sha256", "")
    etags = dict(saved.get("etags", {}))
    drifted, missing = set(), set()
    for path, entry in files.items():
        if published.get(path) != entry["sha256"]:
            continue  # goes up anyway
        size, etag = listed.get(path, (None, ""))
        if size is None:
            missing.add(path)
        elif size != entry["size"] or (
            etag != etags.get(path)
            and etag.strip('"') != _md5(site / path)
            and _sha256_of(s3, cfg, path) != entry["sha256"]
        ):
            drifted.add(path)
        else:
            etags[path] = etag
    # Keys of no site we know of (a dead generator's partial upload) go like an older site's.
    retained = (retained | (set(listed) - set(published) - set(files))) & set(listed)
    return Bucket(
        published, frozenset(retained), has_manifest, etags, manifest_etag,
        frozenset(drifted | missing), frozenset(missing), reconciled=True,
    )  # fmt: skip


def plan(
    local: dict[str, str],
    published: dict[str, str],
    retained: set[str] | frozenset[str],
    has_manifest: bool = True,
    drifted: frozenset[str] = frozenset(),
) -> Plan:
    """Diff the local site against the published one by hash, and repair what drifted.

    `retained` are keys of the site before the published one: deleted now unless the local
    site has them again, while the published site's own keys stay one more cycle.
    """
    changed = sorted(p for p in local if published.get(p) != local[p] or p in drifted)
    unchanged = tuple(sorted(p for p in local if p not in changed))
    deletes = tuple(sorted(set(retained) - set(local)))
    # New keys were never cached; overwritten, repaired and deleted pages may be.
    cached = set(published) | set(retained)
    invalidate = tuple(
        sorted(p for p in {*changed, *deletes} if p in cached and not p.startswith("assets/"))
    )
    # The manifest goes last, and only when the site changed: an unchanged site sends nothing.
    puts = (*changed, MANIFEST) if changed or deletes or not has_manifest else ()
    repaired = tuple(p for p in changed if p in drifted and published.get(p) == local[p])
    return Plan(tuple(puts), unchanged, deletes, invalidate, repaired)


_LINK = re.compile(rb"""\b(?:href|src)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)


def links(path: str, body: bytes) -> set[str]:
    """Return the site paths a page links (href and src), resolved like a browser would."""
    base = posixpath.dirname(path)
    found = set()
    for match in _LINK.finditer(body):
        url = urlsplit(match.group(1).decode("utf-8", "replace"))
        if url.scheme or url.netloc or not url.path:
            continue  # another site, or a fragment of this page
        target = posixpath.normpath(posixpath.join("/", base, unquote(url.path)))[1:]
        if url.path.endswith("/") or not target:
            target = posixpath.join(target, "index.html")  # a directory is its index.html
        found.add(target)
    return found


def _waves(site: Path, keys: tuple[str, ...], absent: set[str]) -> list[list[str]]:
    """Order uploads so no object that landed links one that has not: groups, in order.

    A page waits for the pages and assets it links that the bucket lacks; other documents
    (data, feed, badges) wait for every new page; the manifest goes alone, last. Pages that
    link each other land together, the home page after the others of its group.
    """
    pages = [k for k in keys if k.endswith(".html")]
    new_pages = {k for k in pages if k in absent}
    deps: dict[str, set[str]] = {}
    for key in keys:
        if key == MANIFEST:
            continue
        if key in pages:
            deps[key] = links(key, (site / key).read_bytes()) & absent - {key}
        elif not key.startswith("assets/"):
            deps[key] = set(new_pages)
        else:
            deps[key] = set()
    deps = {k: {d for d in v if d in deps} for k, v in deps.items()}
    level: dict[str, int] = {}
    for group in _components(deps):
        if len(group) > 1 and "index.html" in group:
            # The entry page of a cycle goes after the rest: the site reachable from / is whole.
            group.remove("index.html")
            _level(group, deps, level)
            _level(["index.html"], deps, level)
        else:
            _level(group, deps, level)
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for key, n in sorted(level.items()):
        waves[n].append(key)
    return [*waves, [MANIFEST]] if MANIFEST in keys else waves


def _level(group: list[str], deps: dict[str, set[str]], level: dict[str, int]) -> None:
    # One more than the deepest dependency already placed (the group's own cycle aside).
    n = 1 + max((level[d] for k in group for d in deps[k] if d in level), default=-1)
    level.update(dict.fromkeys(group, n))


def _components(deps: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of a graph, each after those it depends on (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(deps):
        if root in index:
            continue
        work = [(root, iter(sorted(deps[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:  # iterative, so a long chain of pages never hits the recursion limit
            node, todo = work[-1]
            for nxt in todo:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(deps[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    cut = stack.index(node)
                    out.append(sorted(stack[cut:]))
                    on_stack.difference_update(stack[cut:])
                    del stack[cut:]
    return out


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


def _upload(
    s3, cfg: PublishConfig, site: Path, manifest: bytes, files: dict, waves, page_seconds: int
) -> tuple[int, dict[str, str]]:
    """PUT the waves in order, 8 at a time, a wave only after the one before fully landed;
    `files` is the manifest's, parsed (its entries give each file's type).

    Return the bytes sent and the ETag S3 answered for each key.
    """
    types = {p: e["type"] for p, e in files.items()}

    def put(path: str) -> tuple[str, int, str]:
        data = manifest if path == MANIFEST else (site / path).read_bytes()
        digest = hashlib.sha256(data).digest()
        answer = s3.put_object(
            Bucket=cfg.bucket,
            Key=cfg.prefix + path,
            Body=data,
            ContentType=types.get(path, "application/json"),
            CacheControl=cache_control(path, page_seconds),
            ChecksumSHA256=base64.b64encode(digest).decode(),
            Metadata={"sha256": digest.hex()},
        )
        return path, len(data), answer.get("ETag", "")

    sent, etags = 0, {}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for wave in waves:
            for path, size, etag in pool.map(put, wave):
                sent, etags[path] = sent + size, etag
    return sent, etags


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
    """Sync a written site to the bucket, repair what drifted there, invalidate what changed.

    `holder` names a long-running generator that keeps the publish lease between cycles;
    without one (a one-shot publish) the lease is taken for this publish and given back.
    The bucket is the truth: local state is trusted only by a generator that held the lease
    since its last publish (nobody else can have published), and only for
    `cfg.reconcile_minutes`; otherwise the bucket is read first (see _reconcile).
    """
    manifest_bytes = (site / MANIFEST).read_bytes()
    files = json.loads(manifest_bytes)["files"]
    local = {p: e["sha256"] for p, e in files.items()}
    s3, cloudfront = make_clients(cfg)
    store = PublishState(state_dir)
    state = store.load()
    where = f"s3://{cfg.bucket}/{cfg.prefix}"
    saved = state if state.get("where") == where else {}
    mine = saved.get("lease", {})
    continuous = bool(holder) and mine.get("holder") == holder and bool(mine.get("etag"))
    continuous = continuous and "published" in saved
    due = time.time() - saved.get("reconciled_at", 0) >= 60 * cfg.reconcile_minutes
    known = _trusted(saved) if continuous and not due else _reconcile(s3, cfg, saved, site, files)
    todo = plan(local, known.published, known.retained, known.has_manifest, known.drifted)
    if dry_run:
        size = sum(files.get(p, {}).get("size", 0) for p in todo.puts)
        return Published(todo, size, None, "dry run: nothing sent", dry_run=True)

    sent, invalidation, counted, note, held = 0, None, 0, "", None
    etags = {p: e for p, e in known.etags.items() if p in local}
    if todo.puts or todo.deletes:  # nothing to write needs no lease either
        who, key = holder or lease.me(), cfg.prefix + LEASE_KEY
        # Three intervals: a standby takes over after the holder missed about two cycles.
        ttl = 3 * page_seconds
        held = lease.renew(s3, cfg.bucket, key, who, ttl, mine["etag"]) if continuous else None
        if held is None:
            held = lease.acquire(s3, cfg.bucket, key, who, ttl)
            if not held.held:
                until = time.strftime("%H:%M:%S", time.gmtime(held.expires))
                note = f"not published: {held.holder} holds the publish lease until {until} UTC"
                logger.warning(note)
                if state.get("lease"):  # a standby's cycles change nothing else to save
                    store.save({**state, "lease": {}})
                return Published(Plan((), todo.unchanged, (), ()), 0, None, note)
            if not known.reconciled:  # taken over: whoever held it may have published
                known = _reconcile(s3, cfg, saved, site, files)
                todo = plan(
                    local, known.published, known.retained, known.has_manifest, known.drifted
                )
                etags = {p: e for p, e in known.etags.items() if p in local}
        try:
            absent = (set(todo.puts) - set(known.published)) | known.missing
            waves = _waves(site, todo.puts, absent)
            sent, put = _upload(s3, cfg, site, manifest_bytes, files, waves, page_seconds)
            etags.update(put)
            _delete(s3, cfg, todo.deletes)
            if cfg.distribution_id and todo.invalidate:
                ref = hashlib.sha256(manifest_bytes).hexdigest()[:32]  # same site, same ref
                invalidation, counted, note = _invalidate(
                    cloudfront(), cfg, todo.invalidate, state, ref
                )
        finally:
            if holder is None:
                lease.release(s3, cfg.bucket, key, who, held.etag)
    month = time.strftime("%Y-%m", time.gmtime())
    budget = dict(state.get("invalidation_paths", {}))
    if counted:
        budget[month] = budget.get(month, 0) + counted
    keep = held is not None and holder is not None
    kept = {"holder": holder, "etag": held.etag} if keep else mine if continuous else {}
    # Lets a lease holder trust its state for a while; without the lease it is never read.
    reconciled_at = time.time() if known.reconciled and kept else saved.get("reconciled_at", 0)
    manifest_etag = etags.pop(MANIFEST, known.manifest_etag)  # its own entry, not a page's
    record = {
        "where": where,
        "published": local,
        # The site that was live until now stays one more cycle for readers still on it.
        "retained": sorted(
            (set(known.published) | known.retained) - set(local) - set(todo.deletes)
        ),
        "etags": etags,
        "manifest_etag": manifest_etag,
        "lease": kept,
        "reconciled_at": reconciled_at,
        "invalidation_paths": budget,
    }
    if record != state:  # a publish that changed nothing leaves the file (and its fsync) alone
        store.save(record)
    if note:
        logger.warning(note)
    return Published(todo, sent, invalidation, note)

"""One publisher at a time: a lease object in the bucket, taken with S3 conditional writes.

Two generators (for high availability) agree through S3 itself: creating the lease uses
If-None-Match: * (only one create wins), taking over an expired one uses If-Match with the
ETag that was read (only one replace wins), and the holder renews with one PUT If-Match on
the ETag of its own last write: when that succeeds, nobody wrote the lease in between, so
nobody else published either. A holder that dies stops renewing, and its lease expires
after `ttl` seconds. The object is never served: the bucket policy (infra/terraform)
refuses it to CloudFront.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass

from botocore.exceptions import ClientError

LEASE_KEY = ".sitegen-lease.json"


@dataclass(frozen=True)
class LeaseState:
    """Whether this generator may publish now, and who holds the lease otherwise."""

    held: bool
    holder: str
    expires: float
    etag: str = ""  # of the lease object after our write: the If-Match of the next renewal


def me() -> str:
    """Return this process's holder name: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lost(exc: ClientError) -> bool:
    # 412: another writer's condition won. 409: a conditional write raced another one.
    # 404: the lease we meant to replace was deleted (its holder gave it up).
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    lost_codes = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey")
    return code in lost_codes or status in (404, 409, 412)


def _put(s3, bucket: str, key: str, holder: str, expires: float, **condition: str) -> str:
    body = json.dumps({"holder": holder, "expires": expires}).encode()
    return s3.put_object(Bucket=bucket, Key=key, Body=body, **condition)["ETag"]


def renew(s3, bucket: str, key: str, holder: str, ttl: float, etag: str, now=None):
    """Renew the lease we wrote last with one conditional PUT; None if anyone wrote it since."""
    expires = (time.time() if now is None else now) + ttl
    try:
        return LeaseState(
            True, holder, expires, _put(s3, bucket, key, holder, expires, IfMatch=etag)
        )
    except ClientError as exc:
        if not _lost(exc):
            raise
        return None


def acquire(s3, bucket: str, key: str, holder: str, ttl: float, now: float | None = None):
    """Take the lease (create it, or replace an expired one); return a LeaseState."""
    now = time.time() if now is None else now
    try:
        etag = _put(s3, bucket, key, holder, now + ttl, IfNoneMatch="*")
        return LeaseState(True, holder, now + ttl, etag)
    except ClientError as exc:
        if not _lost(exc):
            raise
    current = s3.get_object(Bucket=bucket, Key=key)
    try:
        lease = json.loads(current["Body"].read())
        owner, expires = str(lease["holder"]), float(lease["expires"])
    except (ValueError, KeyError, TypeError):
        owner, expires = "unreadable lease", 0.0  # damaged: treat as expired
    if owner != holder and expires > now:
        return LeaseState(False, owner, expires)
    try:
        etag = _put(s3, bucket, key, holder, now + ttl, IfMatch=current["ETag"])
    except ClientError as exc:
        if not _lost(exc):
            raise
        return LeaseState(False, "another generator (it renewed first)", now + ttl)
    return LeaseState(True, holder, now + ttl, etag)


def release(s3, bucket: str, key: str, holder: str, etag: str = "") -> None:
    """Give the lease up, if we still hold it, so a standby takes over at once.

    With the ETag of our last write it is one conditional DELETE; without, the lease is
    read first to see whose it is.
    """
    try:
        if etag:
            s3.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
            return
        current = s3.get_object(Bucket=bucket, Key=key)
        if json.loads(current["Body"].read()).get("holder") == holder:
            s3.delete_object(Bucket=bucket, Key=key)
    except (ClientError, ValueError):
        pass  # expiry frees it anyway

"""One publisher at a time: a lease object in the bucket, taken with S3 conditional writes.

Two generators (for high availability) agree through S3 itself: creating the lease uses
If-None-Match: * (only one create wins), renewing or taking over an expired one uses
If-Match with the ETag that was read (only one replace wins). A holder that dies stops
renewing, and its lease expires after `ttl` seconds.
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


def me() -> str:
    """Return this process's holder name: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lost(exc: ClientError) -> bool:
    # 412: another writer's condition won. 409: a conditional write raced another one.
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


def acquire(s3, bucket: str, key: str, holder: str, ttl: float, now: float | None = None):
    """Take or renew the lease; return a LeaseState saying whether we hold it."""
    now = time.time() if now is None else now
    body = json.dumps({"holder": holder, "expires": now + ttl}).encode()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        return LeaseState(True, holder, now + ttl)
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
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=current["ETag"])
    except ClientError as exc:
        if not _lost(exc):
            raise
        return LeaseState(False, "another generator (it renewed first)", now + ttl)
    return LeaseState(True, holder, now + ttl)


def release(s3, bucket: str, key: str, holder: str) -> None:
    """Give the lease up at shutdown, if we still hold it, so a standby takes over at once."""
    try:
        current = s3.get_object(Bucket=bucket, Key=key)
        if json.loads(current["Body"].read()).get("holder") == holder:
            s3.delete_object(Bucket=bucket, Key=key)
    except (ClientError, ValueError):
        pass  # expiry frees it anyway

"""botocore's data files for the publisher: cut to the calls it makes, kept in the user's cache.

A one-shot `sitegen publish` that sent nothing spent a quarter of its time in botocore's
JSON: every process parsed the endpoints of all AWS services (1.2 MB) to find S3's and
CloudFront's, and S3's whole API (1.4 MB, 100-odd operations) to make a client for six.
Here each data file botocore asks for is read once, cut to what SERVICES use, and kept in
marshal's format in `$XDG_CACHE_HOME/sitegen/botocore` (default `~/.cache`); later
processes load that instead (about 1 ms). The cut depends on botocore alone, not on a site,
so every state_dir of the user shares it.

A kept file is named by what it was made from: Python's and botocore's versions, the source
file's path, size and modification time, and SERVICES. A botocore upgrade, an edited model under
AWS_DATA_PATH or a new call makes it a miss, never a stale hit. A kept file that cannot be
read is made again; one that cannot be written (no home, a read-only one) is not an error.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import marshal
import os
import sys
from pathlib import Path

import botocore
from botocore.loaders import JSONFileLoader, Loader

from sitegen.statefiles import atomic_write_bytes

# The operations the publisher calls (publish.py, lease.py): its clients have no others.
SERVICES = {
    "s3": (
        "DeleteObject",
        "DeleteObjects",
        "GetObject",
        "HeadObject",
        "ListObjectsV2",
        "PutObject",
    ),
    "cloudfront": ("CreateInvalidation",),
}
_OPENERS = ((".json", open), (".json.gz", gzip.open))  # as botocore looks for them, in order


class ServiceData(Loader):
    """botocore's model loader, told which services exist and reading files through KeptFiles.

    To check that a name is a service, botocore lists its 400-odd model directories (about
    900 listdirs and 2,700 stats: 50 ms of a 0.35 s no-change publish); the publisher asks
    only for SERVICES, which every botocore ships. Files are still found as botocore finds
    them, AWS_DATA_PATH first.
    """

    def __init__(self, search_paths: list[str]) -> None:
        super().__init__(extra_search_paths=search_paths, file_loader=KeptFiles(kept_dir()))

    def list_available_services(self, type_name: str) -> list[str]:
        """Return the services the publisher uses, whatever the model type."""
        return list(SERVICES)


def kept_dir() -> Path | None:
    """Return where cut files are kept: $XDG_CACHE_HOME/sitegen/botocore; None without a home."""
    try:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except (RuntimeError, KeyError):  # no $HOME and no passwd entry (a container's bare uid)
        return None
    return Path(cache) / "sitegen" / "botocore"


class KeptFiles(JSONFileLoader):
    """botocore's JSON file loader, serving each file cut and kept in `kept` (None: not kept)."""

    def __init__(self, kept: Path | None) -> None:
        self.kept = kept

    def load_file(self, file_path: str) -> dict | None:
        """Return the data of FILE_PATH.json or .json.gz, cut; None when neither exists."""
        for ext, opener in _OPENERS:
            path = file_path + ext
            try:
                made_from = os.stat(path)
            except OSError:
                continue
            # marshal's format may change with Python's version: the key names it too.
            made = (sys.implementation.cache_tag, botocore.__version__, path, made_from.st_size,
                    made_from.st_mtime_ns, SERVICES)  # fmt: skip
            digest = hashlib.sha256(repr(made).encode()).hexdigest()[:32]
            kept = self.kept / f"{_stem(file_path)}@{digest}.marshal" if self.kept else None
            with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
                if kept is not None:  # damaged or missing: made again below
                    data = marshal.loads(kept.read_bytes())
                    if isinstance(data, dict):
                        return data
            with opener(path, "rb") as f:
                data = cut(file_path, json.loads(f.read().decode("utf-8")))
            if kept is not None:
                _keep(kept, data)
            return data
        return None


def _stem(file_path: str) -> str:
    # "s3-2006-03-01-service-2": the service and version tell two services' files apart.
    return "-".join(Path(file_path).parts[-3:])


def _keep(kept: Path, data: dict) -> None:
    # What was made from an older botocore or model goes: one kept file per data file.
    stem = kept.name.rpartition("@")[0]
    with contextlib.suppress(OSError):
        atomic_write_bytes(kept, marshal.dumps(data))
        for older in kept.parent.iterdir():
            if older.name.rpartition("@")[0] == stem and older != kept:
                older.unlink(missing_ok=True)


def cut(file_path: str, data: dict) -> dict:
    """Return of a botocore data file (its path without .json) what SERVICES need."""
    name = Path(file_path).name
    if name == "endpoints":  # every partition's endpoints of every service
        return {
            **data,
            "partitions": [
                {**p, "services": {s: e for s, e in p.get("services", {}).items() if s in SERVICES}}
                for p in data.get("partitions", [])
            ],
        }
    service = Path(file_path).parent.parent.name  # <service>/<api version>/service-2
    if name == "service-2" and service in SERVICES:
        return _operations(data, SERVICES[service])
    return data


def _operations(model: dict, names: tuple[str, ...]) -> dict:
    """A service model with only the operations NAMES and the shapes they reach."""
    operations = {n: model["operations"][n] for n in names if n in model.get("operations", {})}
    shapes = model.get("shapes", {})
    reached: set[str] = set()
    todo = [
        ref["shape"]
        for op in operations.values()
        for ref in (op.get("input"), op.get("output"), *op.get("errors", ()))
        if ref
    ]
    while todo:
        name = todo.pop()
        if name in reached or name not in shapes:
            continue
        reached.add(name)
        shape = shapes[name]
        todo.extend(m["shape"] for m in shape.get("members", {}).values())
        todo.extend(shape[k]["shape"] for k in ("member", "key", "value") if k in shape)
    return {
        **model,
        "operations": operations,
        "shapes": {n: s for n, s in shapes.items() if n in reached},
    }

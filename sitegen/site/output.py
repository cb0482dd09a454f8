"""Write the site atomically: build a new directory, then swap a symlink to it in one rename.

``out_dir`` is a symlink into ``.<out_dir>.builds/``; readers (a web server, a browser, the
publisher) see the old site or the new one, never a mix. The previous build is kept so a
reader that is half-way through the old one can finish. A build that cannot be written
whole (a full disk) is removed at once; the site stays as it was. A file whose bytes equal
the previous build's is a hard link to it rather than a new copy: files are never written
in place, so a link shared with the old build can't change under its readers.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"
KEEP_BUILDS = 2
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".atom": "application/atom+xml",
    ".webp": "image/webp",
}


@dataclass(frozen=True)
class Written:
    """Where the site went and what it holds."""

    path: Path
    files: int
    bytes: int
    manifest: dict


def content_type(path: str) -> str:
    """Return the Content-Type to serve a site path with."""
    suffix = Path(path).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def manifest_of(files: dict[str, bytes], generated_at: str) -> dict:
    """Return the manifest: every path with its SHA-256, size and type."""
    return {
        "generated_at": generated_at,
        "files": {
            path: {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "type": content_type(path),
            }
            for path, data in sorted(files.items())
        },
    }


def builds_dir(out_dir: Path) -> Path:
    """Return the directory holding the builds that out_dir points into."""
    return out_dir.parent / f".{out_dir.name}.builds"


def _swap(out_dir: Path, target: Path) -> None:
    link = out_dir.parent / f".{out_dir.name}.link-{os.getpid()}"
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, out_dir.parent), link)
    if out_dir.is_dir() and not out_dir.is_symlink():
        # An existing plain directory (first run after another tool) moves into the builds
        # once; from then on every swap is a single atomic rename.
        os.replace(out_dir, builds_dir(out_dir) / f"previous-{int(time.time())}")
    os.replace(link, out_dir)


def _prune(out_dir: Path, current: Path) -> None:
    builds = sorted(
        (p for p in builds_dir(out_dir).iterdir() if p != current),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    finished = [p for p in builds if not p.name.endswith(".tmp")]
    for old in finished[KEEP_BUILDS - 1 :] + [p for p in builds if p.name.endswith(".tmp")]:
        shutil.rmtree(old, ignore_errors=True)


def _current_build(out_dir: Path) -> Path | None:
    """Return the build out_dir points to now, if it is one of ours."""
    if not out_dir.is_symlink():
        return None
    target = out_dir.resolve()
    return target if target.parent == builds_dir(out_dir).resolve() else None


def _previous_sums(previous: Path | None) -> dict[str, str]:
    """Return the SHA-256 of each file of the previous build, from its manifest."""
    if previous is None:
        return {}
    try:
        files = json.loads((previous / MANIFEST).read_bytes())["files"]
        return {rel: entry["sha256"] for rel, entry in files.items()}
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return {}  # unreadable or not ours: every file is written


def _link(previous: Path, rel: str, target: Path) -> bool:
    """Hard-link target to the previous build's file; False if that cannot be done."""
    try:
        os.link(previous / rel, target)
    except OSError:  # gone, or another filesystem: write it instead
        return False
    return True


def write_site(out_dir: Path, files: dict[str, bytes], generated_at: str) -> Written:
    """Write files plus manifest.json into a new build and switch out_dir to it atomically."""
    out_dir = out_dir.absolute()
    builds = builds_dir(out_dir)
    builds.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
    tmp = builds / f"{stamp}.tmp"
    manifest = manifest_of(files, generated_at)
    everything = {**files, MANIFEST: json.dumps(manifest, indent=1).encode()}
    previous = _current_build(out_dir)
    # The manifests' digests tell which files are unchanged without reading them back.
    sums = _previous_sums(previous)
    made: set[Path] = set()
    try:
        for rel, data in everything.items():
            target = tmp / rel
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            entry = manifest["files"].get(rel)
            same = previous is not None and entry is not None and sums.get(rel) == entry["sha256"]
            if not (same and _link(previous, rel, target)):
                target.write_bytes(data)
    except BaseException:
        # A full disk fails every cycle alike: a partial build left behind each time would
        # keep the space from ever coming back.
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = builds / stamp
    os.replace(tmp, final)
    _swap(out_dir, final)
    _prune(out_dir, final)
    return Written(out_dir, len(everything), sum(len(d) for d in everything.values()), manifest)

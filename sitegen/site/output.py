"""Write the site atomically: build a new directory, then swap a symlink to it in one rename.

``out_dir`` is a symlink into ``.<out_dir>.builds/``; readers (a web server, a browser, the
publisher) see the old site or the new one, never a mix. The previous build is kept so a
reader that is half-way through the old one can finish. A build that cannot be written
whole (a full disk) is removed at once; the site stays as it was. A file whose bytes equal
the previous build's is a hard link to it rather than a new copy: files are never written
in place, so a link shared with the old build can't change under its readers. The build
before the previous one, which readers left a cycle ago, is taken over as the next build, so
a cycle touches only the files that changed, not every file of the site.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import mimetypes
import os
import shutil
import time
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_not, itemgetter
from pathlib import Path

from sitegen.statefiles import naming

MANIFEST = "manifest.json"
KEEP_BUILDS = 2
# A build stops being the site when the link moves on, but a reader (a web server) that read
# the link just before may still be walking into it. It is taken over or removed only once
# it has not been the site for this long: writes back to back (cycles of a few ms, a reader
# held off the CPU on a loaded machine) pulled it from under such a reader.
SWAP_GRACE_SECONDS = 0.5
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


def content_type(path: str) -> str:
    """Return the Content-Type to serve a site path with."""
    suffix = os.path.splitext(path)[1].lower()  # not pathlib: a site has thousands of paths
    return _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def _encoded(value: object) -> str:
    # Compact: the indented form takes json's Python encoder, a tenth of the C one's speed.
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Listing:
    """What a build's manifest says of its files, and where it stands among the manifests
    this process made."""

    sums: dict[str, str]  # each path's SHA-256
    number: int | None  # this process's count of manifests, this one included; None: read back
    changed: frozenset[str]  # the paths new, or with other bytes, since the manifest before


_NOTHING = Listing({}, None, frozenset())  # no build, or one whose manifest can't be read


@dataclass(frozen=True)
class Manifest:
    """manifest.json: every path of a build with its SHA-256, size and type."""

    listing: Listing
    body: bytes  # the document, encoded
    size: int  # the files' bytes together


def _fresh(path: str, data: bytes) -> tuple[bytes, str, str]:
    """Return the entry of a file that is not in the last manifest with these bytes."""
    digest = hashlib.sha256(data).hexdigest()
    entry = {"sha256": digest, "size": len(data), "type": content_type(path)}
    return (data, f"{_encoded(path)}:{_encoded(entry)}", digest)


_BYTES = itemgetter(0)
_UNKNOWN = (object(), None, None)  # bytes of no file: an entry made anew


class _Manifests:
    """The manifest of each build, moved from the last one by the files that came, went or
    changed.

    A file with the same bytes object as in the last manifest has the same entry: hashing
    and encoding thousands of reused pages again each cycle cost more than writing the few
    that changed. The entries are kept in path order with their encoded form, and a site of
    10,000 files changes a few a cycle: sorting every path and remaking the lists of entries
    each cycle was half of writing such a site; a manifest is now a few passes in C to find
    what changed, and one join.
    """

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._forget()

    def _forget(self) -> None:
        """Start from no files: the next manifest is made whole."""
        self._entries: dict[str, tuple[bytes, str, str]] = {}  # bytes, encoded entry, digest
        self._paths: list[str] = []  # the entries' paths, sorted
        self._parts: list[str] = []  # the encoded entries, in that order
        self._sums: dict[str, str] = {}  # each path's digest

    def of(self, files: dict[str, bytes], generated_at: str) -> Manifest:
        """Return the manifest of these files."""
        number = next(self._numbers)
        # The files without the same bytes as in the last manifest, told apart in C.
        known = map(self._entries.get, files, repeat(_UNKNOWN))
        fresh = list(compress(files, map(is_not, map(_BYTES, known), files.values())))
        went = self._entries.keys() - files.keys()
        try:
            if 2 * (len(fresh) + len(went)) > len(files):  # a first call, or most changed
                self._remake(files, fresh)
            else:
                self._move(files, fresh, went)
        except BaseException:
            self._forget()  # moved part-way, the entries would stay wrong for good
            raise
        body = f'{{"generated_at":{_encoded(generated_at)},"files":{{{",".join(self._parts)}}}}}'
        size = sum(map(len, files.values()))
        listing = Listing(dict(self._sums), number, frozenset(fresh))
        return Manifest(listing, body.encode(), size)

    def _remake(self, files: dict[str, bytes], fresh: list[str]) -> None:
        """Make the entries of these files anew (those with the same bytes are kept)."""
        again = set(fresh)
        entries = {
            path: _fresh(path, files[path]) if path in again else self._entries[path]
            for path in sorted(files)
        }
        self._entries, self._paths = entries, list(entries)
        self._parts = [part for _data, part, _digest in entries.values()]
        self._sums = {path: digest for path, (_data, _part, digest) in entries.items()}

    def _move(self, files: dict[str, bytes], fresh: list[str], went: set[str]) -> None:
        """Move the entries by the paths that went and the files that came or changed."""
        paths, parts = self._paths, self._parts
        for path in went:
            k = bisect_left(paths, path)
            del paths[k], parts[k], self._entries[path], self._sums[path]
        for path in fresh:
            entry = self._entries[path] = _fresh(path, files[path])
            self._sums[path] = entry[2]
            k = bisect_left(paths, path)
            if k < len(paths) and paths[k] == path:
                parts[k] = entry[1]
            else:
                paths.insert(k, path)
                parts.insert(k, entry[1])


_MANIFESTS = _Manifests()


def manifest_of(files: dict[str, bytes], generated_at: str) -> Manifest:
    """Return the manifest of these files (the changes since the last one noted in it)."""
    return _MANIFESTS.of(files, generated_at)


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
    builds = [(p.stat().st_mtime, p) for p in builds_dir(out_dir).iterdir() if p != current]
    finished = sorted((b for b in builds if not b[1].name.endswith(".tmp")), reverse=True)
    # Each build stopped being the site when the next newer one became it (its mtime).
    since = [current.stat().st_mtime, *(mtime for mtime, _p in finished)]
    now = time.time()
    old = [p for k, (_m, p) in enumerate(finished)
           if k >= KEEP_BUILDS - 1 and now - since[k] >= SWAP_GRACE_SECONDS]  # fmt: skip
    for build in old + [p for _m, p in builds if p.name.endswith(".tmp")]:
        shutil.rmtree(build, ignore_errors=True)


def _current_build(out_dir: Path) -> Path | None:
    """Return the build out_dir points to now, if it is one of ours."""
    if not out_dir.is_symlink():
        return None
    target = out_dir.resolve()
    return target if target.parent == builds_dir(out_dir).resolve() else None


# The builds this process wrote, by what their manifest's stat said then: reading back a
# manifest of 10,000 files it had just written cost a tenth of a cycle. A manifest changed
# since (by hand, by another tool) no longer matches and is read.
_WROTE: dict[tuple[int, ...], Listing] = {}


def _signature(build: Path) -> tuple[int, ...] | None:
    try:
        st = (build / MANIFEST).stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _listing(build: Path | None) -> Listing:
    """Return what a build holds: as this process wrote it, else as its manifest says."""
    if build is None:
        return _NOTHING
    wrote = _WROTE.get(_signature(build) or ())
    if wrote is not None:
        return wrote
    try:
        files = json.loads((build / MANIFEST).read_bytes())["files"]
        sums = {rel: entry["sha256"] for rel, entry in files.items()}
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return _NOTHING  # unreadable or not ours: every file is written
    return Listing(sums, None, frozenset())


def _stale(files: dict[str, bytes], this: Listing, last: Listing, spare: Listing) -> Iterable[str]:
    """Return the paths whose file the build taken over (`spare`) may lack or hold with other
    bytes: when it is the build of the manifest two before this one, and the current build
    (`last`) that of the one before, those changed in either manifest since; else every path.
    """
    number = this.number
    if number is None or last.number != number - 1 or spare.number != number - 2:
        return files
    # A site of 10,000 files changes a few a cycle: the others are not looked at.
    return [rel for rel in this.changed | last.changed if rel in files]


def _link(previous: Path, rel: str, target: Path) -> bool:
    """Hard-link target to the previous build's file; False if that cannot be done."""
    try:
        os.link(previous / rel, target)
    except OSError:  # gone, or another filesystem: write it instead
        return False
    return True


def _spare(out_dir: Path, current: Path | None) -> tuple[Path, Listing] | None:
    """Return the oldest finished build besides the current one, and its files' digests,
    if its manifest says what it holds (else it is pruned, not reused)."""
    if current is not None and time.time() - current.stat().st_mtime < SWAP_GRACE_SECONDS:
        return None  # every other build left the site too lately: a fresh one is written
    builds = [
        p
        for p in builds_dir(out_dir).iterdir()
        if p != current and not p.name.endswith(".tmp") and p.is_dir() and not p.is_symlink()
    ]
    for old in sorted(builds, key=lambda p: p.stat().st_mtime):
        listing = _listing(old)
        if listing.sums:
            return old, listing
    return None


def _recycle(spare: Path, sums: dict[str, str], tmp: Path, files: dict[str, bytes]) -> None:
    """Turn a spare build into tmp: take it over, then remove the files it holds that the new
    build has not (the rest are rewritten or kept by their digests)."""
    os.replace(spare, tmp)
    for rel in sums.keys() - files.keys():
        gone = tmp / rel
        gone.unlink(missing_ok=True)
        # A folder left empty goes too: a build holds what its manifest lists, nothing more.
        for folder in gone.parents:
            if folder == tmp:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty (listing it would cost more, in a folder of thousands)
                break


def write_site(out_dir: Path, files: dict[str, bytes], generated_at: str) -> Written:
    """Write files plus manifest.json into a new build and switch out_dir to it atomically.

    The new build is the oldest kept one, taken over: it was replaced two cycles ago, and
    its files that still hold the right bytes stay, so a cycle writes what changed since,
    not every file of a site of thousands of pages (a fresh build when there is none).
    When this process wrote both kept builds, one after the other, the files it looks at
    are those their manifests and this one changed: not every file, one by one, each cycle.
    """
    out_dir = out_dir.absolute()
    builds = builds_dir(out_dir)
    builds.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
    tmp = builds / f"{stamp}.tmp"
    manifest = manifest_of(files, generated_at)
    previous = _current_build(out_dir)
    # The manifests' digests tell which files are unchanged without reading them back.
    last = _listing(previous)
    spare = _spare(out_dir, previous) if previous is not None else None
    held = spare[1] if spare else _NOTHING  # what the build taken over holds already
    this = manifest.listing
    stale = [*_stale(files, this, last, held), MANIFEST]
    made: set[Path] = set()
    try:
        if spare:
            _recycle(spare[0], held.sums, tmp, files)
        for rel in stale:
            data = manifest.body if rel == MANIFEST else files[rel]
            digest = this.sums.get(rel)
            if digest is not None and held.sums.get(rel) == digest:
                continue
            target = tmp / rel
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            # Never written through: the file may be a link shared with the current build.
            target.unlink(missing_ok=True)
            same = previous is not None and digest is not None and last.sums.get(rel) == digest
            if not (same and _link(previous, rel, target)):
                with naming(target):
                    target.write_bytes(data)
    except BaseException:
        # A full disk fails every cycle alike: a partial build left behind each time would
        # keep the space from ever coming back.
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = builds / stamp
    os.replace(tmp, final)
    os.utime(final)  # the newest build: pruning goes by modification time
    _swap(out_dir, final)
    _prune(out_dir, final)
    # Only the builds kept are remembered: the one written and the one readers may be in.
    _WROTE.clear()
    for build, listing in ((previous, last), (final, this)):
        signature = _signature(build) if build is not None and listing.sums else None
        if signature is not None:
            _WROTE[signature] = listing
    return Written(out_dir, len(files) + 1, manifest.size + len(manifest.body))

"""The site is swapped in atomically and old builds are pruned."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from sitegen.site import output
from sitegen.site.output import builds_dir, write_site


@pytest.fixture(autouse=True)
def cycles_apart(monkeypatch) -> None:
    """Builds written back to back here stand for cycles seconds apart: the grace a build
    gets after it leaves the site is tested on its own."""
    monkeypatch.setattr(output, "SWAP_GRACE_SECONDS", 0.0)


def test_write_swaps_a_symlink_and_keeps_one_previous_build(tmp_path: Path) -> None:
    out = tmp_path / "public"
    for i in range(4):
        w = write_site(out, {"index.html": f"v{i}".encode(), f"only{i}.txt": b"x"}, f"t{i}")
    assert out.is_symlink()
    assert (out / "index.html").read_text() == "v3"
    assert not (out / "only2.txt").exists()  # each build is complete on its own
    assert json.loads((out / "manifest.json").read_text())["generated_at"] == "t3"
    assert len(list(builds_dir(out).iterdir())) == 2
    assert w.files == 3
    assert w.bytes == len(b"v3") + len(b"x") + (out / "manifest.json").stat().st_size


def test_a_build_that_just_left_the_site_is_kept_until_its_grace_is_over(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(output, "SWAP_GRACE_SECONDS", 60.0)
    out = tmp_path / "public"
    files = {"index.html": b"v"}
    for i in range(4):
        write_site(out, files, f"t{i}")
    # Each left the site moments ago: none taken over, none removed.
    assert len(list(builds_dir(out).iterdir())) == 4
    # A minute on (the builds aged by their times): the oldest is taken over, the rest but
    # one previous build removed.
    for build in builds_dir(out).iterdir():
        st = build.stat()
        os.utime(build, (st.st_atime - 61, st.st_mtime - 61))
    oldest = min(builds_dir(out).iterdir(), key=lambda p: p.stat().st_mtime)
    inode = (oldest / "index.html").stat().st_ino
    write_site(out, files, "t4")
    assert len(list(builds_dir(out).iterdir())) == 2
    assert (out / "index.html").stat().st_ino == inode  # the oldest, taken over


def test_an_existing_plain_directory_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "public"
    out.mkdir()
    (out / "old.html").write_text("old")
    write_site(out, {"index.html": b"new"}, "t")
    assert out.is_symlink() and (out / "index.html").read_text() == "new"
    assert not (out / "old.html").exists()


def test_a_reader_never_sees_a_partial_site(tmp_path: Path, monkeypatch) -> None:
    # Writes back to back, as fast as they go: a build that just left the site is not taken
    # over or removed under a reader that read the link before (held off the CPU meanwhile).
    monkeypatch.setattr(output, "SWAP_GRACE_SECONDS", 0.5)
    out = tmp_path / "public"
    files = {f"p{i}.html": b"x" * 1000 for i in range(50)}
    write_site(out, files, "t0")
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                # What a web server does: open by path through the symlink, every time.
                manifest = json.loads((out / "manifest.json").read_text())
                seen.append(sum(1 for name in manifest["files"] if (out / name).is_file()))
            except BaseException as exc:
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(20):
        write_site(out, files, f"t{i}")
    stop.set()
    reader.join()
    assert not errors
    assert seen and set(seen) == {50}


def test_images_lose_their_metadata_and_take_the_smaller_format() -> None:
    import io

    from PIL import Image

    from sitegen.site.optimize import build_assets, optimize_image

    buf = io.BytesIO()
    image = Image.new("RGB", (64, 64), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    image.save(buf, "JPEG", exif=exif.tobytes(), quality=100)
    original = buf.getvalue()
    data, suffix = optimize_image(original, ".jpg")
    assert b"secret description" in original and b"secret description" not in data
    assert len(data) < len(original) and suffix in (".jpg", ".webp")
    with Image.open(io.BytesIO(data)) as out:
        assert out.size == (64, 64) and not out.getexif()

    assets = build_assets()
    assert assets.icon_href.startswith("assets/favicon.") and assets.icon_href in assets.files


def test_the_stylesheet_is_minified_once_per_source_and_an_edit_shows(
    tmp_path: Path, monkeypatch
) -> None:
    from sitegen.site import optimize

    (tmp_path / "base.css").write_text(":root {  --fg: #ddd; }\n")
    (tmp_path / "page.css").write_text("body  { color: var(--fg); }\n")
    minified: list[str] = []
    real = optimize.cssmin.cssmin

    def counting(source: str) -> str:
        minified.append(source)
        return real(source)

    monkeypatch.setattr(optimize.cssmin, "cssmin", counting)
    optimize._stylesheet.cache_clear()
    first = optimize.build_assets(tmp_path)
    assert optimize.build_assets(tmp_path) == first and len(minified) == 1
    css = first.files[first.css_href]
    assert css == b":root{--fg:#ddd}body{color:var(--fg)}"
    assert first.css_gzip == len(gzip.compress(css, 6))
    (tmp_path / "page.css").write_text("body { color: red; }\n")  # edited while running
    edited = optimize.build_assets(tmp_path)
    assert len(minified) == 2 and edited.css_href != first.css_href
    assert edited.files[edited.css_href] == b":root{--fg:#ddd}body{color:red}"


def test_an_unchanged_file_is_linked_from_the_previous_build(tmp_path: Path) -> None:
    out = tmp_path / "public"
    write_site(out, {"same.html": b"kept", "changed.html": b"old", "sized.html": b"aaa"}, "t0")
    old_build = out.resolve()
    # A reader that opened the old build keeps reading it by its own path.
    old_changed = old_build / "changed.html"
    write_site(out, {"same.html": b"kept", "changed.html": b"new!", "sized.html": b"bbb"}, "t1")
    new_build = out.resolve()
    assert new_build != old_build
    assert (new_build / "same.html").stat().st_ino == (old_build / "same.html").stat().st_ino
    for name in ("changed.html", "sized.html"):  # a new size, and the same size with new bytes
        assert (new_build / name).stat().st_ino != (old_build / name).stat().st_ino
    assert (out / "changed.html").read_bytes() == b"new!"
    assert (out / "sized.html").read_bytes() == b"bbb"
    assert old_changed.read_bytes() == b"old"
    assert (old_build / "sized.html").read_bytes() == b"aaa"


def test_a_file_that_cannot_be_linked_is_written(tmp_path: Path, monkeypatch) -> None:
    import os

    out = tmp_path / "public"
    write_site(out, {"same.html": b"kept"}, "t0")

    def cross_device(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    write_site(out, {"same.html": b"kept"}, "t1")
    assert (out / "same.html").read_bytes() == b"kept"
    assert (out / "same.html").stat().st_nlink == 1


def test_a_previous_build_with_an_unreadable_manifest_is_not_linked_from(tmp_path: Path) -> None:
    out = tmp_path / "public"
    write_site(out, {"same.html": b"kept"}, "t0")
    old_build = out.resolve()
    (old_build / "manifest.json").write_text('{"files": [')
    write_site(out, {"same.html": b"kept"}, "t1")
    assert (out / "same.html").read_bytes() == b"kept"
    assert (out / "same.html").stat().st_ino != (old_build / "same.html").stat().st_ino


def test_a_build_taken_over_is_written_only_where_it_changed(tmp_path: Path, monkeypatch) -> None:
    import hashlib

    from sitegen.site import output

    out = tmp_path / "public"
    kept, old = b"kept", b"old"
    site = {"a.html": kept, "b.html": old, "gone/x.html": b"x", "gone/deeper/y.html": b"y"}
    write_site(out, site, "t0")
    write_site(out, site, "t1")
    previous = out.resolve()
    writes: list[str] = []
    hashed: list[bytes] = []
    real_write, real_sha = Path.write_bytes, hashlib.sha256

    def writing(self: Path, data: bytes) -> int:
        build = next(p for p in self.parents if p.name.endswith(".tmp"))
        writes.append(self.relative_to(build).as_posix())
        return real_write(self, data)

    def sha(data: bytes = b"") -> object:
        hashed.append(data)
        return real_sha(data)

    monkeypatch.setattr(Path, "write_bytes", writing)
    monkeypatch.setattr(output.hashlib, "sha256", sha)
    # The build of t0 is taken over: it holds a.html already, b.html changes, gone/ goes.
    write_site(out, {"a.html": kept, "b.html": b"new", "c/d.html": b"d"}, "t2")
    assert sorted(writes) == ["b.html", "c/d.html", "manifest.json"]
    assert hashed == [b"new", b"d"]  # a.html: the same bytes as last cycle, hashed then
    build = out.resolve()
    listed = sorted(p.relative_to(build).as_posix() for p in build.rglob("*"))
    assert listed == ["a.html", "b.html", "c", "c/d.html", "manifest.json"]  # gone/ too
    assert (out / "b.html").read_bytes() == b"new"
    # The build readers may still be in is whole: a link shared with it was not written through.
    assert (previous / "b.html").read_bytes() == b"old" and (previous / "gone/x.html").exists()
    assert len(list(builds_dir(out).iterdir())) == 2


def _site_of(out: Path) -> dict[str, bytes]:
    build = out.resolve()
    return {p.relative_to(build).as_posix(): p.read_bytes() for p in build.rglob("*.html")}


def test_a_file_changed_a_cycle_ago_is_rewritten_in_the_build_taken_over(
    tmp_path: Path, monkeypatch
) -> None:
    from sitegen.site import output

    out = tmp_path / "public"
    same = b"same"
    write_site(out, {"a.html": b"1", "b.html": same}, "t0")
    two = b"2"
    write_site(out, {"a.html": two, "b.html": same}, "t1")
    looked_at: list[list[str]] = []
    real_stale = output._stale

    def stale(*args: object) -> object:
        looked_at.append(list(real_stale(*args)))  # type: ignore[arg-type]
        return looked_at[-1]

    monkeypatch.setattr(output, "_stale", stale)
    # The build of t0 is taken over: a.html changed since, though not in this cycle's files;
    # b.html is not looked at.
    write_site(out, {"a.html": two, "b.html": same}, "t2")
    assert looked_at == [["a.html"]]
    assert _site_of(out) == {"a.html": b"2", "b.html": b"same"}


def _fail_taking_over(out: Path, files: dict[str, bytes], stamp: str, monkeypatch) -> None:
    """Write a cycle that fails when it takes the spare build over (the spare stays)."""
    import os

    real_replace = os.replace

    def failing(src: object, dst: object) -> None:
        if str(dst).endswith(".tmp"):  # taking the spare build over
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", failing)
        with pytest.raises(OSError):
            write_site(out, files, stamp)


def test_after_a_failed_cycle_the_build_taken_over_is_checked_whole(
    tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "public"
    one = b"1"
    write_site(out, {"x.html": one}, "t0")
    write_site(out, {"x.html": one}, "t1")
    two = b"2"
    _fail_taking_over(out, {"x.html": two}, "t2", monkeypatch)
    # x.html's new bytes were seen by the failed cycle only: the build taken over (t0's)
    # still holds the old ones, so every file is checked, not only this cycle's changes.
    write_site(out, {"x.html": two}, "t3")
    assert _site_of(out) == {"x.html": b"2"}
    # And in the next cycle, whose build taken over (t1's) is not the one of the manifest
    # two before: it holds the old bytes too.
    write_site(out, {"x.html": two}, "t4")
    assert _site_of(out) == {"x.html": b"2"}


def test_a_build_put_back_by_hand_is_checked_whole(tmp_path: Path, monkeypatch) -> None:
    import os

    out = tmp_path / "public"
    one = b"1"
    write_site(out, {"x.html": one}, "t0")
    write_site(out, {"x.html": one}, "t1")
    put_back = out.resolve()
    write_site(out, {"x.html": b"2"}, "t2")
    link = tmp_path / "link"
    os.symlink(os.path.relpath(put_back, tmp_path), link)
    os.replace(link, out)  # an operator puts t1's build back
    three = b"3"
    _fail_taking_over(out, {"x.html": three}, "t3", monkeypatch)
    # The build taken over (t2's) is the one of the manifest two before, but the current
    # one (t1's) is not the one before: every file is checked.
    write_site(out, {"x.html": three}, "t4")
    assert _site_of(out) == {"x.html": b"3"}


def test_the_manifest_is_the_json_of_what_the_build_holds(tmp_path: Path) -> None:
    out = tmp_path / "public"
    files = {"b/ü.html": b"u", "a.html": b"a", "c.txt": b"a", 'q"uote.html': b"\x00"}
    for stamp in ("t0", "t1"):  # the second from the entries kept, encoded once
        write_site(out, files, stamp)
        body = (out / "manifest.json").read_bytes()
        doc = json.loads(body)
        assert body == json.dumps(doc, separators=(",", ":")).encode()
        assert doc["generated_at"] == stamp and list(doc["files"]) == sorted(files)
        for path, data in files.items():
            entry = doc["files"][path]
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
            assert entry["size"] == len(data)


def test_each_manifest_is_made_whole_or_moved_from_the_last_alike() -> None:
    import random

    from sitegen.site.output import content_type, manifest_of

    def whole(files: dict[str, bytes]) -> dict:
        return {
            path: {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "type": content_type(path),
            }
            for path, data in sorted(files.items())
        }

    rng = random.Random(14)
    files = {f"traces/{i:04x}.html": b"t%d" % i for i in range(60)}
    last: dict[str, bytes] = {}
    for cycle in range(40):
        files = dict(files)
        for _ in range(rng.randint(0, 6)):  # pages that go, come and change: a few a cycle
            kind, path = rng.random(), f"traces/{rng.randrange(90):04x}.html"
            if kind < 0.3:
                files.pop(path, None)
            else:
                files[path] = b"%d %s" % (cycle, path.encode())
        if cycle % 13 == 12:  # now and then most of the site changes at once, and some goes
            files = {p: d + b"!" if rng.random() < 0.7 else d for p, d in files.items()
                     if rng.random() < 0.9}  # fmt: skip
        made = manifest_of(files, f"t{cycle}")
        doc = json.loads(made.body)
        assert doc == {"generated_at": f"t{cycle}", "files": whole(files)}
        assert list(doc["files"]) == sorted(files)
        assert made.listing.sums == {p: e["sha256"] for p, e in doc["files"].items()}
        assert made.size == sum(map(len, files.values()))
        assert made.listing.changed == {p for p, d in files.items() if last.get(p) is not d}
        last = files


def test_a_manifest_that_fails_part_way_leaves_the_next_one_whole(monkeypatch) -> None:
    from sitegen.site import output

    files = {f"p{i}.html": b"%d" % i for i in range(20)}
    output.manifest_of(files, "t0")
    moved = {**files, "new.html": b"new", "p3.html": b"changed"}
    real = output.bisect_left

    def failing(paths: list[str], path: str) -> int:
        if path == "new.html":  # its entry is made, its place in the order not yet
            raise MemoryError
        return real(paths, path)

    monkeypatch.setattr(output, "bisect_left", failing)
    with pytest.raises(MemoryError):
        output.manifest_of(moved, "t1")
    monkeypatch.setattr(output, "bisect_left", real)
    doc = json.loads(output.manifest_of(moved, "t2").body)
    assert list(doc["files"]) == sorted(moved)
    assert doc["files"]["p3.html"]["sha256"] == hashlib.sha256(b"changed").hexdigest()
    # A file that is not bytes is an error, not a file left out of the manifest.
    with pytest.raises(TypeError):
        output.manifest_of({**moved, "none.html": None}, "t3")  # type: ignore[dict-item]
    assert list(json.loads(output.manifest_of(moved, "t4").body)["files"]) == sorted(moved)


def test_the_manifests_this_process_wrote_are_not_read_back(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "public"
    read: list[str] = []
    real = Path.read_bytes

    def reading(self: Path) -> bytes:
        read.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", reading)
    for i in range(4):  # the current build is linked from, the one before it taken over
        write_site(out, {"same.html": b"kept", "i.html": str(i).encode()}, f"t{i}")
    assert read == []
    first = out.resolve()
    write_site(out, {"same.html": b"kept"}, "t4")
    # A manifest changed since it was written (by hand, another tool) is read again.
    (first / "manifest.json").write_text('{"files": {}}')  # first is the spare now
    write_site(out, {"same.html": b"kept"}, "t5")
    assert read == ["manifest.json"]
    assert (out / "same.html").read_bytes() == b"kept"

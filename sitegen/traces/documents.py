"""JSON documents as people save them: one a line, pretty-printed, several in a row, gzipped.

A file is read as a run of JSON documents separated by any whitespace, so the Collector's
file exporter (one document a line), ``json.dumps(indent=2)`` and ``jq .`` output, and
documents written one after another all read alike. A document still being written (the
text ends inside it) waits for the next cycle; one that cannot be parsed is skipped up to
the next line that starts with ``{`` (a top-level document starts there in every layout),
and its file and byte position are reported. A file's read position only ever moves over
documents that were parsed or skipped, never over one that is not complete yet.
"""

from __future__ import annotations

import json
import os
import re
import stat
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sitegen.tail import Chunk, Tailer, _head, _identity

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\r\n]*")
_DOC_START = "\n{"
# A gzip member can be truncated mid-write; what decompresses so far is read, the rest waits.
_GZIP = 16 + zlib.MAX_WBITS
# A gzip file is read whole each time it changes (it cannot be sought into): this much, at most.
MAX_GZIP_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """Something in a file that could not be read, and where (a byte offset into the file)."""

    path: str
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path} at byte {self.offset}: {self.reason}"


@dataclass(frozen=True)
class Documents:
    """The complete documents at the start of a text, and how far reading got."""

    docs: tuple[object, ...]  # each converted
    consumed: int  # characters parsed or skipped: where the next read starts
    bad: tuple[tuple[int, str], ...] = ()  # (character offset, reason) of skipped documents
    waiting: int | None = None  # character offset of a document not complete yet


# The text may end inside a token (`tr` of true, `1.`, `-`, half a \\u escape): an error
# this close to the end may be one that more text mends.
_TOKEN_CHARS = 6


def _ran_out(text: str, exc: json.JSONDecodeError) -> bool:
    """Return whether the decoder may have failed only because the text ended in a document."""
    if exc.msg.startswith("Unterminated string"):
        return True  # a string the text ends in: any control character would fail first
    return exc.pos >= len(text.rstrip()) - _TOKEN_CHARS


def _same(doc: object) -> object:
    return doc


def _never() -> bool:
    return False


def split(
    text: str,
    convert: Callable[[object], object] = _same,
    stop: Callable[[], bool] = _never,
) -> Documents:
    """Return convert(document) for the JSON documents of a text, in order, skipping and
    noting malformed ones; once stop() says so, the rest is left for the next read."""
    docs: list[object] = []
    bad: list[tuple[int, str]] = []
    pos = _SPACE.match(text).end()
    while pos < len(text):
        if stop():
            break
        try:
            doc, end = _DECODER.raw_decode(text, pos)
        except RecursionError:
            doc, end = None, -1
            exc = json.JSONDecodeError("nested too deeply", text, pos)
        except json.JSONDecodeError as err:
            doc, end, exc = None, -1, err
        if end < 0:
            # The next document starts on a line of its own; until one does, this may
            # be a document still being written.
            resume = text.find(_DOC_START, pos + 1)
            if resume < 0 and _ran_out(text, exc):
                return Documents(tuple(docs), pos, tuple(bad), pos)
            bad.append((exc.pos, f"not JSON ({exc.msg})"))
            if resume < 0:
                return Documents(tuple(docs), len(text), tuple(bad))
            pos = resume + 1
            continue
        docs.append(convert(doc))
        pos = _SPACE.match(text, end).end()
    return Documents(tuple(docs), pos, tuple(bad))


def _decode(data: bytes) -> str:
    """Return bytes as text; an invalid byte becomes a lone surrogate (shown as an escape on
    the pages), so that the text encodes back to exactly the bytes and positions stay true."""
    return data.decode("utf-8", "surrogateescape")


def _nbytes(text: str, chars: int, ascii_only: bool) -> int:
    return chars if ascii_only else len(text[:chars].encode("utf-8", "surrogateescape"))


@dataclass(frozen=True)
class DocChunk(Chunk):
    """A file's new complete documents (converted), newest last, and what could not be read."""

    docs: tuple[object, ...] = ()
    problems: tuple[Problem, ...] = ()
    waiting: Problem | None = None  # a document not complete yet (read when it is)


def _gunzip(data: bytes) -> bytes:
    """Return what the gzip members of data decompress to so far (a last one may be cut)."""
    out, rest = bytearray(), data
    while rest and len(out) <= MAX_GZIP_BYTES:
        unzip = zlib.decompressobj(_GZIP)
        out += unzip.decompress(rest, MAX_GZIP_BYTES + 1 - len(out))
        if not unzip.eof:
            break  # the member is still being written
        rest = unzip.unused_data
    return bytes(out[:MAX_GZIP_BYTES])


class DocumentTailer(Tailer):
    """Follows files of JSON documents; a position moves only past what was parsed.

    Each document is passed through `convert` as it is decoded; once `stop()` says so
    (the cycle's time is up), the rest of each file waits for the next cycle.
    """

    def __init__(
        self,
        state_file: Path,
        convert: Callable[[object], object] = _same,
        stop: Callable[[], bool] = _never,
    ) -> None:
        super().__init__(state_file)
        self.convert, self.stop = convert, stop

    def _read(
        self, path: Path, max_bytes: int, quiet_since: float | None
    ) -> tuple[Chunk, tuple[int, str] | None]:
        # quiet_since is not needed here: a document is complete when it parses, with or
        # without a newline after it.
        gz = path.name.endswith(".gz")
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return DocChunk(path, [], 0, error="not a regular file"), None
            key, head = _identity(st), _head(f)
            offset, known_head = self.offsets.get(key, (0, head))
            f.seek(0)
            # A gzip file cannot be sought into: it is unpacked again each time it grows,
            # and its position counts unpacked bytes.
            data = _gunzip(f.read(st.st_size)) if gz else b""
            size = len(data) if gz else st.st_size
            if size < offset or not head.startswith(known_head[: len(head)]):
                offset = 0  # truncated or rewritten
            skipped = max(0, size - offset - max_bytes)
            start = offset + skipped
            if gz:
                data = data[start:]
            else:
                f.seek(start)
                data = f.read(size - start)
        return self._documents(path, key, head, data, start, skipped)

    def _documents(
        self, path: Path, key: str, head: str, data: bytes, start: int, skipped: int
    ) -> tuple[DocChunk, tuple[int, str]]:
        text = _decode(data)
        ascii_only = len(text) == len(data)
        if skipped:  # the first document was cut: read from the next one on a line of its own
            cut = text.find(_DOC_START)
            cut = len(text) if cut < 0 else cut + 1
            skipped += _nbytes(text, cut, ascii_only)
            start += _nbytes(text, cut, ascii_only)
            text = text[cut:]
        found = split(text, self.convert, self.stop)
        problems = tuple(
            Problem(str(path), start + _nbytes(text, at, ascii_only), why) for at, why in found.bad
        )
        waiting = None
        if found.waiting is not None:
            at = start + _nbytes(text, found.waiting, ascii_only)
            waiting = Problem(
                str(path), at, "the file ends inside this document: read once it is complete"
            )
        end = start + _nbytes(text, found.consumed, ascii_only)
        chunk = DocChunk(path, [], skipped, key, None, found.docs, problems, waiting)
        return chunk, (end, head)

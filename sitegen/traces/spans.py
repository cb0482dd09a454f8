"""What every trace source shares: ids, redaction, the bounds on spans, assembly into traces.

Every source builds its spans through a Scrub, so a secret in a span name, attribute or
event never leaves the source, and through the same caps, so no input (a 100,000-span
file, a trace with a million spans, a 10 MB attribute) can make a cycle slow or the spans
kept from cycle to cycle grow without bound.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sitegen.model import Labels, Span, Trace
from sitegen.redact import redact, redact_field

# Spans a source takes in one cycle: parsing them costs well under a second.
MAX_NEW_SPANS = 20_000
# Spans kept of one trace (errors and the earliest first): no waterfall shows more usefully.
MAX_SPANS_PER_TRACE = 1_000
# Spans kept over all traces of a source (and of the merged snapshot), cycle to cycle.
MAX_KEPT_SPANS = 20_000
# The OpenTelemetry SDK's own default limits on attributes and events per span.
MAX_ATTRIBUTES = 128
MAX_EVENTS = 128
# Longer values (a whole SQL batch, a stack trace) are cut: the page shows the start.
MAX_VALUE_CHARS = 1_000
# Redaction reads this much of a value: a secret that starts in what is shown is masked
# whole, and a megabyte value costs no more than this.
REDACT_CHARS = 2 * MAX_VALUE_CHARS
ELLIPSIS = "…"
# Time a source keeps, after reading, to assemble its traces before the cycle's deadline.
ASSEMBLE_SECONDS = 0.5
# What the SDKs call a service whose resource has no service.name.
UNKNOWN_SERVICE = "unknown_service"
# What one malformed value raises; anything else is a bug and is not swallowed.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError)

_HEX = re.compile(r"[0-9a-fA-F]+")


def norm_id(raw: object, size: int) -> str:
    """Return a trace (size 16) or span (size 8) id as lower-case hex, from hex or base64.

    OTLP/JSON writes ids in hex; protobuf's own JSON mapping (Tempo) writes base64; Jaeger
    and Tempo's search drop leading zeros. An all-zero id is invalid (ValueError).
    """
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"bad id {raw!r}")
    if len(raw) <= 2 * size and _HEX.fullmatch(raw):
        text = raw.lower().zfill(2 * size)
    else:
        urlsafe = "-" in raw or "_" in raw
        try:
            padded = raw + "=" * (-len(raw) % 4)
            data = base64.b64decode(padded, altchars=b"-_" if urlsafe else None, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"bad id {raw!r}") from exc
        if len(data) != size:
            raise ValueError(f"bad id {raw!r}")
        text = data.hex()
    if text.strip("0") == "":
        raise ValueError("all-zero id")
    return text


def as_int(value: object) -> int:
    """Return an integer written as a JSON number or a string (as 64-bit ones often are)."""
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)


def parent_id(raw: object) -> str | None:
    """Return a parent span id as hex, or None when absent, empty or all zeros."""
    try:
        return norm_id(raw, 8) if raw else None
    except ValueError:
        return None


def text_of(value: object) -> str:
    """Return an attribute value as the text a page shows (JSON for lists and maps)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + ELLIPSIS


class Scrub:
    """Redaction (built-in kinds plus `[redact] patterns`) and value limits for one cycle.

    Values are redacted before they are cut (over their first REDACT_CHARS), so a cut
    cannot split a secret into pieces that no longer match. Short values are cached (span
    names and most attribute values repeat from span to span); long ones are not, so the
    cache cannot hold megabytes of them.
    """

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        self.extra = extra
        self._cached_text = lru_cache(maxsize=4096)(self._text)
        self._cached_field = lru_cache(maxsize=8192)(self._field)

    def _text(self, text: str) -> str:
        return _clip(redact(text[:REDACT_CHARS], self.extra))

    def _field(self, key: str, value: str) -> str:
        return _clip(redact_field(key, value[:REDACT_CHARS], self.extra))

    def text(self, text: str) -> str:
        """Return a name or message redacted and cut to MAX_VALUE_CHARS."""
        return self._cached_text(text) if len(text) <= MAX_VALUE_CHARS else self._text(text)

    def field(self, key: str, value: str) -> str:
        """Return an attribute's value redacted (whole, when its key names a secret) and cut."""
        if len(key) + len(value) <= MAX_VALUE_CHARS:
            return self._cached_field(key, value)
        return self._field(key, value)

    def attributes(self, pairs: Iterable[tuple[str, object]]) -> Labels:
        """Return (key, value) pairs as sorted Labels, values redacted by key and content."""
        out: dict[str, str] = {}
        for key, value in pairs:
            if len(out) == MAX_ATTRIBUTES:
                break
            key = self.text(str(key))
            out[key] = self.field(key, text_of(value))
        return tuple(sorted(out.items()))


@dataclass(frozen=True)
class Parsed:
    """The spans a reader took this cycle, and what it could not read."""

    spans: tuple[Span, ...]
    bad_docs: int = 0  # not JSON, or not a JSON object
    bad_spans: int = 0  # a span without ids or times, or with values of the wrong type
    unread_docs: int = 0  # left out because the span budget or the time was spent
    full: bool = False  # the span budget was reached
    late: bool = False  # the reader's deadline passed before everything was read
    bad_resources: int = 0  # an OTLP resource that is not an object
    bad_attributes: int = 0  # an attribute whose value does not decode as its type says

    def note(self) -> str:
        """Return what was skipped, as a phrase for a source's detail line."""
        out = ""
        for count, what in (
            (self.bad_docs, "unreadable documents"),
            (self.bad_resources, "malformed resources"),
            (self.bad_spans, "malformed spans"),
            (self.bad_attributes, "malformed attributes"),
        ):
            if count:
                out += f", {count} {what} skipped"
        if self.full:
            out += f", stopped at the cycle's budget of {len(self.spans)} new spans"
        elif self.late:
            out += f", stopped at the cycle's deadline after {len(self.spans)} new spans"
        if self.unread_docs:
            out += f" ({self.unread_docs} older documents left out)"
        return out


class SpanReader:
    """Collects the spans of one format's documents within a span budget and a deadline.

    Each document is turned into spans as soon as it is decoded (its JSON is freed at
    once: a chunk's worth of decoded JSON kept alive would make the garbage collector
    walk it again and again), then the documents' spans are taken newest first within
    the budget. A span id seen twice (Jaeger answers the same trace for every service in
    it) is kept and counted once.
    """

    def __init__(
        self, scrub: Scrub, budget: int = MAX_NEW_SPANS, deadline: float = math.inf
    ) -> None:
        self.scrub = scrub
        self.budget = budget
        self.deadline = deadline  # time.monotonic(); what is not read by then waits
        self.spans: list[Span] = []
        self.seen: set[tuple[str, str]] = set()
        self.bad_docs = self.bad_spans = self.unread_docs = 0
        self.bad_resources = self.bad_attributes = 0
        self.late = False

    def out_of_time(self) -> bool:
        """Return whether the deadline has passed (what is not read yet waits)."""
        self.late = self.late or time.monotonic() > self.deadline
        return self.late

    def build(self, items: Iterable[object], build: Callable[[Any], Span], out: list) -> None:
        """Append build(item) for each item to out; a malformed item is counted and skipped:
        it must not cost its neighbours."""
        for item in items:
            try:
                out.append(build(item))
            except MALFORMED:
                self.bad_spans += 1

    def spans_of(self, doc: Any) -> list[Span]:
        """Return the spans of one decoded document of the reader's format."""
        raise NotImplementedError

    def convert(self, doc: object) -> list[Span]:
        """Return the spans of one decoded document; one that is not an object is counted."""
        if isinstance(doc, dict):
            return self.spans_of(doc)
        self.bad_docs += 1
        return []

    def add(self, docs: Sequence[list[Span]]) -> None:
        """Take the spans of converted documents, newest (last) first, within the budget.

        Not bound by the deadline: taking what was already converted costs next to nothing,
        and a file's position has moved past it."""
        for i in range(len(docs) - 1, -1, -1):
            if len(self.spans) >= self.budget:
                self.unread_docs += i + 1
                return
            for span in docs[i][: self.budget - len(self.spans)]:
                key = (span.trace_id, span.span_id)
                if key not in self.seen:
                    self.seen.add(key)
                    self.spans.append(span)

    def document(self, doc: object) -> None:
        """Read one decoded document (an API's answer) within the budget, if time is left."""
        if self.out_of_time():
            self.unread_docs += 1
            return
        self.add([self.convert(doc)])

    def result(self) -> Parsed:
        """Return what was read so far."""
        full = len(self.spans) >= self.budget
        return Parsed(
            tuple(self.spans),
            self.bad_docs,
            self.bad_spans,
            self.unread_docs,
            full,
            self.late,
            self.bad_resources,
            self.bad_attributes,
        )


@dataclass(frozen=True)
class Assembled:
    """Traces built from spans, and what the per-trace cap left out."""

    traces: tuple[Trace, ...]
    clipped_spans: int = 0
    clipped_traces: int = 0

    def note(self) -> str:
        """Return a short phrase for a source's detail line; empty when nothing was cut."""
        if not self.clipped_spans:
            return ""
        return (
            f", {self.clipped_spans} spans over {MAX_SPANS_PER_TRACE} per trace left out "
            f"of {self.clipped_traces} traces"
        )


def _start(span: Span) -> int:
    return span.start_ns


def _keep_first(span: Span) -> tuple[bool, bool, int]:
    # Roots first, then errors, then the earliest: what a reader of a cut trace needs.
    return (span.parent_id is not None, span.status != "error", span.start_ns)


def _group(trace: Trace) -> dict[str, Span]:
    return {s.span_id: s for s in trace.spans}


def assemble(
    spans: Iterable[Span],
    limit: int,
    max_spans: int = MAX_KEPT_SPANS,
    kept: Iterable[Trace] = (),
) -> Assembled:
    """Group spans into traces (a span id seen twice counts once); keep the newest `limit`.

    `kept`, traces assembled before, come first, as if their spans led `spans`: one that no
    new span or other kept trace adds to stays the same object, with what is cached on it,
    so a cycle rebuilds the traces that changed, not every trace it shows.
    Each trace keeps at most MAX_SPANS_PER_TRACE spans, and all traces together at most
    `max_spans`: older traces past that budget are dropped.
    """
    by_trace: dict[str, Trace | dict[str, Span]] = {}
    for trace in kept:
        seen = by_trace.get(trace.trace_id)
        if seen is None:
            by_trace[trace.trace_id] = trace
        else:  # the same trace from two sources: its spans come together
            group = _group(seen) if isinstance(seen, Trace) else seen
            by_trace[trace.trace_id] = group | _group(trace)
    for span in spans:
        seen = by_trace.get(span.trace_id)
        if seen is None or isinstance(seen, Trace):
            by_trace[span.trace_id] = seen = _group(seen) if seen else {}
        seen[span.span_id] = span
    newest = sorted(by_trace.items(), key=_first_start, reverse=True)
    traces, total, clipped_spans, clipped_traces = [], 0, 0, 0
    for trace_id, group in newest[:limit]:
        same = isinstance(group, Trace)  # and so kept whole, unless clipped below
        kept_spans = group.spans if same else tuple(group.values())
        if len(kept_spans) > MAX_SPANS_PER_TRACE:
            clipped_spans += len(kept_spans) - MAX_SPANS_PER_TRACE
            clipped_traces += 1
            kept_spans = sorted(kept_spans, key=_keep_first)[:MAX_SPANS_PER_TRACE]
            same = False
        if total + len(kept_spans) > max_spans:
            break
        total += len(kept_spans)
        # An untouched trace stays the same object, with what is cached on it.
        traces.append(
            group if same else Trace(trace_id=trace_id, spans=tuple(sorted(kept_spans, key=_start)))
        )
    return Assembled(tuple(traces), clipped_spans, clipped_traces)


def _first_start(item: tuple[str, Trace | dict[str, Span]]) -> int:
    group = item[1]
    if isinstance(group, Trace):
        return group.start_ns  # cached on the trace
    return min(s.start_ns for s in group.values())

"""Traces: sitegen's own spans plus OTLP JSON files from [traces] otlp_json globs.

Files are followed across cycles (only appended lines are read); the spans of the traces
shown last cycle are kept, so spans of one trace that arrive in different files or cycles
come together, and a span seen twice counts once.
"""

from __future__ import annotations

from sitegen.files import TAIL_BYTES, expand
from sitegen.sources.base import Part, SourceContext
from sitegen.sources.otlp import assemble, parse_lines
from sitegen.state import LastGood
from sitegen.tail import Tailer
from sitegen.telemetry import SPANS_FILE

NAME = "traces"
TAIL_STATE = "tail/traces.json"


def collect(ctx: SourceContext) -> Part:
    """Read the spans appended to every trace file and assemble the newest traces."""
    paths = [p for p in (ctx.state_dir / SPANS_FILE, *expand(ctx.cfg.traces.otlp_json))
             if p.exists()]  # fmt: skip
    chunks = Tailer(ctx.state_dir / TAIL_STATE).read(paths, TAIL_BYTES)
    new, bad = [], 0
    for chunk in chunks:
        found, unreadable = parse_lines(chunk.lines)
        new.extend(found)
        bad += unreadable
    previous = LastGood(ctx.state_dir).load(NAME)
    kept = [s for t in previous[1].traces for s in t.spans] if previous else []
    traces = assemble([*kept, *new], ctx.cfg.traces.max_traces)
    detail = f"{len(new)} new spans from {len(paths)} files, {len(traces)} traces shown"
    if bad:
        detail += f", {bad} unreadable lines skipped"
    skipped = sum(c.skipped for c in chunks)
    if skipped:
        detail += f", {skipped} bytes skipped to keep up"
    return Part(traces=traces, detail=detail)

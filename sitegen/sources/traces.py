"""Traces: sitegen's own spans plus OTLP JSON files from [traces] otlp_json globs.

Files are followed across cycles (only appended lines are read, at most 1 MiB per file);
the spans of the traces shown last cycle are kept, so spans of one trace that arrive in
different files or cycles come together, and a span seen twice counts once. At most
MAX_NEW_SPANS are taken per cycle, sitegen's own first, then each file's newest lines.
"""

from __future__ import annotations

from sitegen.files import TAIL_BYTES, expand
from sitegen.sources.base import Part, SourceContext
from sitegen.sources.otlp import OtlpReader
from sitegen.tail import Tailer
from sitegen.telemetry import SPANS_FILE
from sitegen.traces.spans import ASSEMBLE_SECONDS, Scrub, carried, traces_part

NAME = "traces"
TAIL_STATE = "tail/traces.json"


def collect(ctx: SourceContext) -> Part:
    """Read the spans appended to every trace file and assemble the newest traces."""
    paths = [p for p in (ctx.state_dir / SPANS_FILE, *expand(ctx.cfg.traces.otlp_json))
             if p.exists()]  # fmt: skip
    chunks = Tailer(ctx.state_dir / TAIL_STATE).read(paths, TAIL_BYTES)
    reader = OtlpReader(Scrub(ctx.cfg.redact.patterns), deadline=ctx.deadline - ASSEMBLE_SECONDS)
    for chunk in chunks:
        reader.lines(chunk.lines)
    parsed = reader.result()
    skipped = sum(c.skipped for c in chunks)
    return traces_part(
        carried(ctx.previous),
        parsed,
        ctx.cfg.traces.max_traces,
        f"{len(parsed.spans)} new spans from {len(paths)} files",
        f"{skipped} bytes skipped to keep up" if skipped else "",
    )

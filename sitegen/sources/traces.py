"""Traces: sitegen's own spans plus OTLP JSON files from [traces] otlp_json globs.

Files are followed across cycles (only appended documents are read, at most 1 MiB per
file), in any layout: one document a line, pretty-printed, several in a row, gzipped. A
file's position moves only past the documents parsed, once the cycle has read them all.
The spans of the traces shown last cycle are kept, so spans of one trace that arrive in
different files or cycles come together, and a span seen twice counts once. At most
MAX_NEW_SPANS are taken per cycle, sitegen's own first, then each file's newest documents.
"""

from __future__ import annotations

from sitegen.files import TAIL_BYTES, expand
from sitegen.sources.base import Part, SourceContext
from sitegen.sources.tracepart import carried, traces_part
from sitegen.telemetry import SPANS_FILE, rotated
from sitegen.traces.documents import DocumentTailer
from sitegen.traces.otlp import OtlpReader
from sitegen.traces.spans import ASSEMBLE_SECONDS, Scrub
from sitegen.units import counted

NAME = "traces"
TAIL_STATE = "tail/traces.json"


def collect(ctx: SourceContext) -> Part:
    """Read the documents appended to every trace file and assemble the newest traces."""
    own = ctx.state_dir / SPANS_FILE
    # The rotated file first: what it still holds unread is older than the current one.
    paths = [p for p in (rotated(own), own, *expand(ctx.cfg.traces.otlp_json))
             if p.exists()]  # fmt: skip
    reader = OtlpReader(Scrub(ctx.cfg.redact.patterns), deadline=ctx.deadline - ASSEMBLE_SECONDS)
    skipped, problems = 0, []
    tailer = DocumentTailer(ctx.state_dir / TAIL_STATE, reader.convert, reader.out_of_time)
    # Positions are saved when the generator ends: after every file's documents were read.
    for chunk in tailer.follow(paths, TAIL_BYTES):
        if chunk.error:
            problems.append(f"{chunk.path}: {chunk.error}")
            continue
        reader.add(chunk.docs)
        skipped += chunk.skipped
        problems += [str(p) for p in chunk.problems]
        problems += [str(chunk.waiting)] if chunk.waiting else []
    parsed = reader.result()
    return traces_part(
        carried(ctx.previous),
        parsed,
        ctx.cfg.traces.max_traces,
        f"{counted(len(parsed.spans), 'new span')} from {counted(len(paths), 'file')}",
        f"{skipped} bytes skipped to keep up" if skipped else "",
        problems=problems,
    )

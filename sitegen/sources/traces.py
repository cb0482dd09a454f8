"""Traces: sitegen's own spans plus OTLP JSON files from [traces] otlp_json globs."""

from __future__ import annotations

from sitegen.files import expand, tail_lines
from sitegen.sources.base import Part, SourceContext
from sitegen.sources.otlp import assemble, parse_lines
from sitegen.telemetry import SPANS_FILE

NAME = "traces"


def collect(ctx: SourceContext) -> Part:
    """Read the newest spans of every trace file and assemble the newest traces."""
    paths = [ctx.state_dir / SPANS_FILE, *expand(ctx.cfg.traces.otlp_json)]
    spans, bad, skipped = [], 0, 0
    for path in paths:
        if not path.exists():
            continue
        lines, cut = tail_lines(path)
        found, unreadable = parse_lines(lines)
        spans.extend(found)
        bad += unreadable
        skipped += cut
    traces = assemble(spans, ctx.cfg.traces.max_traces)
    detail = f"{len(spans)} spans from {len(paths)} files, {len(traces)} traces shown"
    if bad:
        detail += f", {bad} unreadable lines skipped"
    if skipped:
        detail += f", {skipped} older bytes not read"
    return Part(traces=traces, detail=detail)

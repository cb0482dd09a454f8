"""What every trace source hands the cycle: its traces merged with last cycle's, and its line.

Kept apart from sitegen.traces (which decodes formats and knows nothing of sources), so the
trace readers can be imported on their own, by the benchmark for one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sitegen.model import Trace
from sitegen.sources.base import Part
from sitegen.traces.spans import Parsed, assemble
from sitegen.units import counted

# Unreadable places named on the traces page, per source: the first few say what is wrong.
MAX_PROBLEMS = 5


def traces_part(
    kept: Iterable[Trace],
    parsed: Parsed,
    limit: int,
    head: str,
    *notes: str,
    problems: Sequence[str] = (),
) -> Part:
    """Merge a cycle's new spans into the kept traces; say what was read, skipped and cut."""
    built = assemble(parsed.spans, limit, kept=kept)
    detail = f"{head}, {counted(len(built.traces), 'trace')} shown" + parsed.note() + built.note()
    detail += "".join(f", {note}" for note in notes if note)
    shown = tuple(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        shown += (f"and {len(problems) - MAX_PROBLEMS} more places that could not be read",)
    return Part(traces=built.traces, detail=detail, problems=shown)


def carried(previous: Part | None) -> tuple[Trace, ...]:
    """Return the traces a source showed last cycle (its last good data), to merge anew."""
    return previous.traces if previous else ()

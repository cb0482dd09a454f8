"""The render pool's timeline: one lane per worker process, one bar per task."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from sitegen.charts.svg import document, duration_axis, num, text, title
from sitegen.model import TaskRecord
from sitegen.units import format_duration_ns

LANE, LABEL, TOP, RIGHT = 22, 90, 22, 12


def gantt(tasks: Sequence[TaskRecord], *, width: int = 960) -> Markup:
    """Draw tasks as bars in one lane per worker pid (in pid order); idle time shows as empty
    lane."""
    if not tasks:
        empty = [text(width / 2, 24, "no tasks", "", "middle")]
        return document(width, 40, "no pool tasks", empty)
    start = min(t.start_ns for t in tasks)
    total = max(1, max(t.end_ns for t in tasks) - start)
    # Lanes in pid order, as the table of workers beside the timeline lists them.
    lane_of = {pid: lane for lane, pid in enumerate(sorted({t.pid for t in tasks}))}
    bar_w = width - LABEL - RIGHT
    height = TOP + LANE * len(lane_of) + 4

    def x(ns: int) -> float:
        return LABEL + (ns - start) / total * bar_w

    body = duration_axis(LABEL, bar_w, total, TOP, height, 6, width)
    for pid, lane in lane_of.items():
        top = TOP + lane * LANE
        body.append(
            f'<rect class="lane" x="{LABEL}" y="{top + 2}" width="{bar_w}" height="{LANE - 4}"/>'
        )
        body.append(text(4, top + 15, f"pid {pid}", "lbl"))
    for t in tasks:
        top = TOP + lane_of[t.pid] * LANE
        w = max(1.0, (t.end_ns - t.start_ns) / total * bar_w)
        hover = f"{t.name} · pid {t.pid} · {format_duration_ns(t.end_ns - t.start_ns)}"
        body.append(
            f'<g class="svc{lane_of[t.pid] % 8}">{title(hover)}'
            f'<rect x="{num(x(t.start_ns))}" y="{top + 4}" width="{num(w)}" '
            f'height="{LANE - 8}"/></g>'
        )
    label = f"timeline of {len(tasks)} tasks on {len(lane_of)} worker processes"
    return document(width, height, label, body)

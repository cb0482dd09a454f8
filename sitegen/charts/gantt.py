"""The render pool's timeline: one lane per worker process, one bar per task."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from markupsafe import Markup

from sitegen.charts.svg import document, duration_axis, num, text, title
from sitegen.model import TaskRecord, task_kind
from sitegen.units import format_duration_ns

LANE, LABEL, TOP, RIGHT = 22, 90, 22, 12
# Bars at most. A bar with its hover weighs about 17 bytes gzipped, and the timeline shares
# the concurrency page's budget: past this many tasks (a first cycle of a few hundred pages),
# tasks that ran back to back in a lane are drawn as one bar, which says how many it holds.
MAX_BARS = 120


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

    runs, joined = _runs(tasks, total / bar_w, total)
    body = duration_axis(LABEL, bar_w, total, TOP, height, 6, width)
    for pid, lane in lane_of.items():
        top = TOP + lane * LANE
        body.append(
            f'<rect class="lane" x="{LABEL}" y="{top + 2}" width="{bar_w}" height="{LANE - 4}"/>'
        )
        body.append(text(4, top + 15, f"pid {pid}", "lbl"))
    for run in runs:
        pid, run_start, run_end = run[0].pid, run[0].start_ns, max(t.end_ns for t in run)
        top = TOP + lane_of[pid] * LANE
        w = max(1.0, (run_end - run_start) / total * bar_w)
        body.append(
            f'<g class="svc{lane_of[pid] % 8}">{title(_hover(run, run_end - run_start))}'
            f'<rect x="{num(x(run_start))}" y="{top + 4}" width="{num(w)}" '
            f'height="{LANE - 8}"/></g>'
        )
    label = f"timeline of {len(tasks)} tasks on {len(lane_of)} worker processes"
    if joined:
        label += f"; a lane's tasks are joined into bars of at most {format_duration_ns(joined)}"
    return document(width, height, label, body)


def _runs(
    tasks: Sequence[TaskRecord], ns_per_px: float, total: int
) -> tuple[list[list[TaskRecord]], int]:
    """Return the tasks in runs, a bar each, and the most a run of several spans (ns): each
    task a run of its own for MAX_BARS tasks or fewer; else a lane's tasks joined, in the
    order they started, into runs of at most 2, 4, 8... pixels, the least that brings the
    bars down to MAX_BARS (a longer task is a run of its own)."""
    if len(tasks) <= MAX_BARS:
        return [[t] for t in tasks], 0
    by_lane = sorted(tasks, key=lambda t: (t.pid, t.start_ns))
    px = 2
    while True:
        span = int(px * ns_per_px)
        runs: list[list[TaskRecord]] = []
        for t in by_lane:
            if runs and runs[-1][0].pid == t.pid and t.end_ns - runs[-1][0].start_ns <= span:
                runs[-1].append(t)
            else:
                runs.append([t])
        # Runs as long as the timeline make each lane one: there are no fewer bars.
        if len(runs) <= MAX_BARS or span > total:
            return runs, span
        px *= 2


def _hover(run: list[TaskRecord], span_ns: int) -> str:
    """Return a bar's hover: its task, or how many tasks of which kinds it holds."""
    first = run[0]
    if len(run) == 1:
        return f"{first.name} · pid {first.pid} · {format_duration_ns(span_ns)}"
    kinds = ", ".join(
        f"{n} {kind}" for kind, n in Counter(map(task_kind, (t.name for t in run))).most_common()
    )
    busy = sum(t.end_ns - t.start_ns for t in run)
    return (
        f"{len(run)} tasks ({kinds}) · pid {first.pid} · {format_duration_ns(busy)} busy "
        f"in {format_duration_ns(span_ns)}"
    )

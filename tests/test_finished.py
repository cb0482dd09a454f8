"""Finished traces' pages kept out of the cycle's lists: the site they make with the pages of
each round is the one a round of every trace would make, whatever traces come, go, grow,
repeat or are made anew, and whatever round fails."""

from __future__ import annotations

import dataclasses
import random
import zlib

import pytest

from sitegen.model import Span, TaskRecord, Trace
from sitegen.render.environment import trace_path
from sitegen.render.finished import FinishedPages
from sitegen.render.tasks import LARGEST, Common, Kept, PageTask, RenderedPage

COMMON = Common("t", 1_795_340_562.0, 30, None, "assets/site.css", "", "test", "host", (), ())


def trace(n: int, spans: int = 1) -> Trace:
    tid = f"{n:032x}"
    return Trace(tid, tuple(Span(tid, f"{k + 1:016x}", None if k == 0 else f"{1:016x}", "op",
                                 "svc", 10 * n + k, 10 * n + k + 5, "ok", ())
                            for k in range(spans)))  # fmt: skip


def page(task: PageTask) -> RenderedPage:
    """A stand-in for the render: bytes that tell the trace's state, of varied sizes."""
    t = task.data["trace"]
    body = repr(t.state).encode() * (1 + zlib.crc32(t.trace_id.encode()) % 5)
    return RenderedPage(task.path, body, TaskRecord(task.name, 1, 0, 1, len(body), len(body) // 2))


def expected(shown: list[Trace]) -> dict[str, set[bytes]]:
    """The bytes each trace page may hold: one of those of the traces shown at its path."""
    out: dict[str, set[bytes]] = {}
    for t in shown:
        out.setdefault(trace_path(t.trace_id), set()).add(page(_task(t)).body)
    return out


def _task(t: Trace) -> PageTask:
    return PageTask("x", trace_path(t.trace_id), "trace.html", {"trace": t}, COMMON)


def check(kept: Kept, pages: list[RenderedPage], shown: list[Trace]) -> None:
    files = {**kept.files, **{p.path: p.body for p in pages}}
    want = expected(shown)
    assert files.keys() == want.keys()
    assert all(files[path] in want[path] for path in files)
    sizes = sorted((len(b) // 2 for b in kept.files.values()), reverse=True)[:LARGEST]
    assert kept.bytes == sum(map(len, kept.files.values()))
    assert [r.gzip_size for r in kept.largest] == sizes


def test_a_walk_of_cycles_makes_the_site_a_round_of_every_trace_would() -> None:
    rng = random.Random(7)
    finished = FinishedPages()
    finished.templates(b"one")
    pool = [trace(n) for n in range(60)]
    shown = pool[:30]
    for cycle in range(200):
        move = rng.random()
        if move < 0.3:  # new traces at the new end, the oldest gone
            shown = shown[rng.randint(0, 3) :] + [trace(1000 + cycle * 10 + k) for k in range(3)]
        elif move < 0.4:  # a trace grew a span: a new object, another state, the same path
            k = rng.randrange(len(shown))
            shown[k] = trace(int(shown[k].trace_id, 16), len(shown[k].spans) + 1)
        elif move < 0.5:  # made anew by a source, the same states
            shown = [dataclasses.replace(t) for t in shown]
        elif move < 0.6:  # one object twice, and two objects of one trace id
            shown = [*shown, shown[0], trace(int(shown[1].trace_id, 16), 3)]
        elif move < 0.65:
            finished.templates(rng.choice([b"one", b"two"]))
        todo, kept = finished.start(tuple(shown), COMMON)
        # No trace's page handed in twice.
        assert len({id(t.data["trace"]) for t in todo}) == len(todo)
        if rng.random() < 0.1:  # the round failed: nothing kept of it
            continue
        pages = [page(t) for t in todo]
        finished.keep(pages)
        check(kept, pages, shown)
        # The next cycle of the same traces renders nothing, and keeps the whole site.
        if rng.random() < 0.2:
            todo, kept = finished.start(tuple(shown), COMMON)
            assert todo == []
            check(kept, [], shown)


def test_a_new_stylesheet_or_template_renders_every_page_again() -> None:
    finished = FinishedPages()
    finished.templates(b"one")
    shown = (trace(1), trace(2))
    todo, _ = finished.start(shown, COMMON)
    finished.keep([page(t) for t in todo])
    assert finished.start(shown, COMMON)[0] == []
    # The cycle's time is not on a trace's page: a later cycle keeps the pages.
    later = dataclasses.replace(COMMON, generated_at=COMMON.generated_at + 30)
    assert finished.start(shown, later)[0] == []
    other = dataclasses.replace(COMMON, css_href="assets/site.0123.css")
    todo, kept = finished.start(shown, other)
    assert len(todo) == 2 and not kept.files and todo[0].common.css_href == other.css_href
    finished.keep([page(t) for t in todo])
    finished.templates(b"two")
    todo, kept = finished.start(shown, other)
    assert len(todo) == 2 and not kept.files


def test_a_start_that_fails_part_way_keeps_nothing(monkeypatch) -> None:
    from sitegen.render import finished as module

    finished = FinishedPages()
    shown = (trace(1), trace(2))
    todo, _ = finished.start(shown, COMMON)
    finished.keep([page(t) for t in todo])

    def broken(common, t):
        raise RuntimeError("no page for this one")

    monkeypatch.setattr(module, "trace_task", broken)
    with pytest.raises(RuntimeError):
        finished.start((*shown, trace(3)), COMMON)
    monkeypatch.undo()
    todo, kept = finished.start((*shown, trace(3)), COMMON)
    assert len(todo) == 3 and not kept.files


def test_after_a_round_that_failed_the_same_tasks_are_handed_in_again() -> None:
    finished = FinishedPages()
    shown = (trace(1), trace(2))
    todo, _ = finished.start(shown, COMMON)
    # The round failed (keep is not called); the next hands in the same task objects, so
    # their keys are known without a digest, and the pages of that round are kept.
    again, kept = finished.start((*shown, trace(3)), COMMON)
    assert again[:2] == todo and all(a is t for a, t in zip(again, todo, strict=False))
    assert not kept.files
    finished.keep([page(t) for t in again])
    assert finished.start((*shown, trace(3)), COMMON)[0] == []

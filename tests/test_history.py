"""The local history: tiers that bound what a chart reads, bounded deletes, damage survived."""

from __future__ import annotations

import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from sitegen import history
from sitegen.history import CHART_POINTS, DELETE_BATCH, ROLLUP_STEPS, History, bucket


def _week(now: float, step: float = 30.0) -> list[history.Sample]:
    """A week of one gauge every `step` seconds, cycling 0..9, up to `now`."""
    n = int(7 * 86400 / step)
    return [("g", (("host", "a"),), now - (n - i) * step, float(i % 10)) for i in range(n + 1)]


def _hour(now: float) -> list[history.Sample]:
    """An hour of one gauge every second, cycling 0..9, up to `now`."""
    return [("g", (("host", "a"),), now - 3600 + i, float(i % 10)) for i in range(3601)]


def test_a_chart_reads_the_same_number_of_points_whatever_the_range_and_tier(
    tmp_path: Path,
) -> None:
    now = time.time()
    week, hour = History(tmp_path / "week", 8 * 86400), History(tmp_path / "hour", 8 * 86400)
    week.add(_week(now))
    hour.add(_hour(now))
    short = (120, 239, 241, 600, 1199, 1201, 2399, 2401)  # around where the tiers took over
    long = (3600, 6 * 3600, 86400, 7 * 86400)
    for h, seconds in [*((hour, s) for s in short), *((week, s) for s in long)]:
        (s,) = h.series("g", now - seconds, until=now)
        # The whole buckets (the first partly in the range); in the bucket under way, the
        # mean of what came before the newest sample, and the newest sample itself.
        assert 2 / 3 * CHART_POINTS <= len(s.points) <= CHART_POINTS + 3, (seconds, len(s.points))
        assert s.points[0][0] >= now - seconds - bucket(seconds), seconds
        assert s.points[-1] == (now, 0.0)
        assert all(a[0] < b[0] for a, b in zip(s.points, s.points[1:], strict=False))
    # Each whole bucket holds whole cycles of 0..9: its mean is 4.5, raw or rolled up.
    for h, seconds in ((hour, 600), (hour, 1200), (week, 86400), (week, 7 * 86400)):
        (s,) = h.series("g", now - seconds, until=now)
        assert _whole_means(s) == {4.5}, seconds


def test_no_sample_of_the_bucket_under_way_is_left_out(tmp_path: Path) -> None:
    # Two renders under a second apart are two points, not the newest alone.
    assert bucket(120) == 2
    start = time.time() // 2 * 2  # a bucket starts: the samples below are all in it
    h = History(tmp_path, 8 * 86400)
    h.add([("g", (), start + 0.25, 2.0), ("g", (), start + 1.25, 4.0)])
    (s,) = h.series("g", start - 118, until=start + 1.5)
    assert s.points == ((start + 0.25, 2.0), (start + 1.25, 4.0))
    # More before the newest: their mean, at their mean time.
    h.add([("g", (), start + 0.75, 3.0)])
    (s,) = h.series("g", start - 118, until=start + 1.5)
    assert s.points == ((start + 0.5, 2.5), (start + 1.25, 4.0))


def test_each_series_carries_the_step_it_was_sampled_at(tmp_path: Path) -> None:
    now = time.time()
    h = History(tmp_path, 8 * 86400)
    h.add(_week(now))
    # Raw samples come every interval; a bucket of a longer range every bucket, or every
    # interval if longer.
    assert [s.step for s in h.series("g", now - 250, until=now, interval=30)] == [30]
    assert bucket(86400) == 1500  # five steps of the 300 s tier
    assert [s.step for s in h.series("g", now - 86400, until=now, interval=30)] == [1500]
    assert [s.step for s in h.series("g", now - 3600, until=now, interval=300)] == [300]
    assert [s.step for s in h.series("g", now - 250, until=now)] == [0]  # interval unknown


def _whole_means(series) -> set[float]:
    """The values of the whole buckets: all but the first (the range starts inside it) and
    the last two (the bucket under way: its samples before the newest, and the newest)."""
    return {round(v, 9) for _, v in series.points[1:-2]}


def test_an_old_history_is_rolled_up_when_first_opened(tmp_path: Path) -> None:
    now = time.time()
    with closing(sqlite3.connect(tmp_path / "history.sqlite")) as db, db:
        db.execute("CREATE TABLE samples (metric TEXT NOT NULL, labels TEXT NOT NULL, "
                   "ts REAL NOT NULL, value REAL NOT NULL)")  # fmt: skip
        db.executemany(
            "INSERT INTO samples VALUES (?, '{}', ?, ?)",
            [("g", now - 86400 + 30 * i, float(i % 10)) for i in range(2880)],
        )
    (day,) = History(tmp_path, 8 * 86400).series("g", now - 86400, until=now)
    assert _whole_means(day) == {4.5}


def test_the_last_hour_of_probes_does_not_start_at_the_clocks_hour(tmp_path: Path) -> None:
    # A minute after the hour turned, the "1 h" figure still counts the probes of the last
    # hour: counted per hour, it held that minute alone and showed no figure.
    turned = (time.time() // 3600 - 1) * 3600
    h = History(tmp_path, 3600)
    h.add_probe(turned - 3660, False, 9.0)  # 62 minutes before the read: out
    h.add_probe(turned - 600, True, 0.2)
    h.add_probe(turned - 60, False, 0.4)
    h.add_probe(turned + 30, True, 0.3)
    assert h.uptime(turned + 60, 1) == (pytest.approx(200 / 3), pytest.approx(0.3), 3)
    assert h.uptime(turned + 60, 24) == (50.0, pytest.approx(2.475), 4)
    # To the slot: a probe leaves the hour with its slot, up to 5 minutes early (the one a
    # minute before the hour turned, at 56 minutes), never late.
    assert h.uptime(turned + 3000, 1)[2] == 2
    assert h.uptime(turned + 3300, 1)[2] == 1


def test_probes_past_a_day_are_kept_per_hour_alone(tmp_path: Path) -> None:
    # Five-minute slots for a day; the 30 days and the day strip read hours: 720 and 2,160
    # rows, not twelve times that.
    now = time.time()
    h = History(tmp_path, 3600)
    for age in (3 * 86400, 2 * 86400, 1800, 60):
        h.add_probe(now - age, age < 86400, 0.5)
    assert h.uptime(now, 720) == (50.0, 0.5, 4)
    assert h.uptime(now, 24) == (100.0, 0.5, 2)
    assert sum(n for _, n in h.probes_by_day(now - 4 * 86400).values()) == 4
    assert _count(tmp_path, "probe_slots") == 2 and _count(tmp_path, "probes") >= 3


def test_old_rows_go_a_bounded_batch_per_write(tmp_path: Path) -> None:
    now = time.time()
    h = History(tmp_path, 8 * 86400)
    h.add(_week(now, step=60.0))
    raw_before = _count(tmp_path, "samples")
    h.add([("g", (("host", "a"),), now, 1.0)])
    # Raw samples past RAW_SECONDS go, but no more than a batch in one write.
    assert raw_before - _count(tmp_path, "samples") == DELETE_BATCH - 1
    for _ in range(10):
        h.add([])
    assert _count(tmp_path, "samples") <= history.RAW_SECONDS / 60 + 2


def _count(state: Path, table: str) -> int:
    with closing(sqlite3.connect(state / "history.sqlite")) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _damage_the_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 8192] = b"\xa5" * 8192
    path.write_bytes(bytes(data))


def test_a_history_damaged_in_the_middle_is_moved_aside_at_start(tmp_path: Path) -> None:
    now = time.time()
    History(tmp_path, 8 * 86400).add(_week(now, step=60.0))
    with closing(sqlite3.connect(tmp_path / "history.sqlite")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert db.execute("SELECT count(*) FROM samples").fetchone()[0] > 0  # still "fine"
    _damage_the_middle(tmp_path / "history.sqlite")
    h = History(tmp_path, 8 * 86400)
    assert list(tmp_path.glob("history.sqlite.corrupt-*"))
    h.add([("g", (), now, 1.0)])
    assert h.series("g", now - 60, until=now)[0].points == ((now, 1.0),)


def test_a_history_damaged_while_open_costs_one_write_not_every_cycle(tmp_path: Path) -> None:
    now = time.time()
    h = History(tmp_path, 8 * 86400)
    h.add(_week(now, step=60.0))
    with closing(sqlite3.connect(tmp_path / "history.sqlite")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage_the_middle(tmp_path / "history.sqlite")
    h.add([("g", (), now, 2.0)])  # moved aside, written to a new one
    assert list(tmp_path.glob("history.sqlite.corrupt-*"))
    assert h.series("g", now - 60, until=now)[0].points == ((now, 2.0),)
    assert h.first_ts() is not None and h.cycles() == ()


def test_a_full_disk_is_not_taken_for_damage(tmp_path: Path) -> None:
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert not history._damaged(error)
    error.sqlite_errorcode = sqlite3.SQLITE_CORRUPT
    assert history._damaged(error)


def test_the_first_sample_time_is_the_sample_not_the_start_of_its_rolled_up_step(
    tmp_path: Path,
) -> None:
    # Local charts span what the history holds: a history one minute old read as up to
    # half an hour old (the coarsest step's start) drew a chart mostly empty on the left.
    now = time.time()
    h = History(tmp_path, 8 * 86400)
    h.add([("g", (), now - 60 + i, 1.0) for i in range(61)])
    assert h.first_ts() == now - 60
    # Once the raw samples of the start are gone (past the raw hour, deleted as they are
    # added), the coarsest step says when it began.
    h.add([("g", (), now - 4 * 3600, 1.0)])
    assert h.first_ts() == now - 4 * 3600 - (now - 4 * 3600) % ROLLUP_STEPS[-1]


def test_calls_from_many_threads_share_one_connection(tmp_path: Path, monkeypatch) -> None:
    # A connection per call cost most of a millisecond each (file, schema, WAL index), about
    # twenty a cycle, and left its page cache's memory in each calling thread's arena.
    opened = []
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: opened.append(a) or connect(*a, **k))
    h = History(tmp_path, 8 * 86400)
    now = time.time()

    def cycle(n: int) -> int:
        h.add([("g", (("n", str(n)),), now - i, float(i)) for i in range(30)])
        h.first_ts()
        return len(h.series("g", now - 60, until=now))

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(cycle, range(40)))
    assert all(1 <= c <= 40 for c in counts)  # each saw its own series and maybe others'
    assert len(h.series("g", now - 60, until=now)) == 40
    assert len(opened) == 2, opened  # the check at start, then the one kept
    h.close()
    assert h.first_ts() is not None and len(opened) == 3  # closed: the next call opens anew


@pytest.mark.parametrize("retention", [8 * 86400, 1000])  # 1000: ranges reach past the horizon
def test_whole_buckets_are_read_once_and_a_late_sample_is_read_anew(
    tmp_path: Path, retention: int, monkeypatch
) -> None:
    # A chart of a growing range, every 7 s for 25 minutes: what the held buckets give must
    # be what a new handle reads from scratch, and each bucket is regrouped once (again
    # only when the buckets widen, or a sample lands in one already held).
    now = time.time()
    # The clock moves a second a chart, never between the two reads compared: the real one
    # could cross a bucket's edge between them, which moves the horizon's bucket.
    clock = [now]
    monkeypatch.setattr(history.time, "time", lambda: clock[0])
    h = History(tmp_path, retention)
    rereads: list[int] = []
    whole = History._whole

    def counted(db, metric, held, since, until):
        rows = whole(db, metric, held, since, until)
        if len(rows) > 3 * (7 // held.width + 1):  # more than this cycle's new buckets
            rereads.append(len(rows))
        return rows

    h._whole = counted  # this handle's reads only: the new handles below read everything
    first, widths = now - 1500, set()
    for i, ts in enumerate(range(int(first), int(now), 7)):
        clock[0] = now + i
        h.add([("g", (("k", str(k)),), ts + 0.5, float((i * (k + 1)) % 13)) for k in range(3)])
        if i == 150:  # late: into a bucket already held
            h.add([("g", (("k", "0"),), ts - 200.5, 100.0)])
        since = ts - max(120.0, 1.1 * (ts - first))
        got = h.series("g", since, until=ts + 1)
        assert got == History(tmp_path, retention).series("g", since, until=ts + 1), i
        widths.add(bucket(ts + 1 - since))
    # The first call of each width reads every bucket; so does the one after the late sample.
    assert len(rereads) <= len(widths) + 1, (rereads, widths)


def test_the_page_cache_is_bounded(tmp_path: Path) -> None:
    # The default (2,000 KiB) filled with the growing file: RSS a long run kept.
    h = History(tmp_path, 3600)
    h.add([("g", (), time.time(), 1.0)])
    with h._use() as db:
        assert db.execute("PRAGMA cache_size").fetchone()[0] == -history.CACHE_KIB


def test_a_write_is_not_synced_to_disk_on_each_commit(tmp_path: Path) -> None:
    # A sync on each commit (SQLite's default) was most of each write's time, several
    # writes a cycle; in WAL mode, syncing at checkpoints keeps the file whole.
    h = History(tmp_path, 3600)
    h.add([("g", (), time.time(), 1.0)])
    with h._use() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_a_label_set_no_longer_sampled_leaves_the_chart_with_its_last_bucket(
    tmp_path: Path,
) -> None:
    # The held buckets of a label set that stopped are dropped as the range moves past
    # them: no empty series is left behind for it.
    start = time.time() // 2 * 2 - 300
    h = History(tmp_path, 8 * 86400)
    h.add([("g", (("k", "gone"),), start + 0.5, 1.0)])
    for i in range(1, 200):
        h.add([("g", (("k", "kept"),), start + i + 0.5, 2.0)])
        got = h.series("g", start + i - 119, until=start + i + 1)
        assert got == History(tmp_path, 8 * 86400).series("g", start + i - 119, until=start + i + 1)
    assert [s.labels for s in got] == [(("k", "kept"),)]


def test_samples_sharing_the_newest_time_are_both_shown_in_value_order(tmp_path: Path) -> None:
    # Two writes of one label set at one time: the newest sample and the mean of those
    # before it share that time, and stay in (time, value) order as every point does,
    # whichever was written first.
    start = time.time() // 2 * 2
    h = History(tmp_path, 8 * 86400)
    for first, second in ((5.0, 3.0), (3.0, 5.0)):
        h.add([("g", (("first", str(first)),), start + 0.5, first)])
        h.add([("g", (("first", str(first)),), start + 0.5, second)])
    got = h.series("g", start - 118, until=start + 1)
    assert [s.points for s in got] == [((start + 0.5, 3.0), (start + 0.5, 5.0))] * 2


def test_the_bucket_under_way_of_a_chart_of_hours_reads_its_steps_rolled_up(
    tmp_path: Path,
) -> None:
    # A six-hour chart's bucket spans six minutes: read raw, at a 1 s interval, that was 360
    # samples a label set every cycle. Its whole steps come from the finest tier, and only
    # the newest step's samples raw; the newest sample is still itself, the mean still exact.
    width, step = bucket(6 * 3600), ROLLUP_STEPS[0]
    now = time.time() // width * width - width + 303.5  # the bucket under way began 303.5 s ago
    h = History(tmp_path, 8 * 86400)
    kept = [("g", (("k", "kept"),), now - 3600 + i, float(i % 7)) for i in range(3601)]
    stopped = [("g", (("k", "stopped"),), now - 3600 + i, float(i % 5)) for i in range(3500)]
    h.add(kept + stopped)
    read: list[str] = []
    with h._use() as db:
        db.set_trace_callback(read.append)
    got = {s.labels: s.points[-2:] for s in h.series("g", now - 6 * 3600, until=now)}
    with h._use() as db:
        db.set_trace_callback(None)
    for samples in (kept, stopped):
        *before, newest = [(ts, v) for _, _, ts, v in samples if ts >= now - 303.5]
        (mean_ts, mean), last = got[samples[0][1]]
        assert last == newest
        assert mean == pytest.approx(sum(v for _, v in before) / len(before), rel=1e-12)
        # Whole steps are taken at their middle: samples every second, at .5, fill them
        # evenly, so the mean time is that of the samples (off by up to step / 2 otherwise).
        assert mean_ts == pytest.approx(sum(ts for ts, _ in before) / len(before), abs=0.5)
        assert mean_ts < newest[0]
    # Raw samples are read from the newest step of a label set on: the one that stopped
    # 100 s ago reaches furthest back.
    starts = [float(re.search(r"ts >= ([\d.]+)", q)[1]) for q in read if "FROM samples" in q]
    assert starts and min(starts) >= (stopped[-1][2] // step) * step, read


def test_a_sample_of_no_time_or_a_nan_value_costs_only_itself(tmp_path: Path) -> None:
    # SQLite stores NaN as NULL, which the table refuses: the whole batch was lost with it.
    start = time.time() // 2 * 2
    h = History(tmp_path, 8 * 86400)
    h.add([("g", (), start + 0.25, 2.0), ("g", (), start + 0.5, float("nan")),
           ("g", (), float("inf"), 5.0), ("g", (), start + 1.25, float("inf"))])  # fmt: skip
    (s,) = h.series("g", start - 118, until=start + 1.5)
    assert s.points == ((start + 0.25, 2.0), (start + 1.25, float("inf")))

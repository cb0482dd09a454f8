"""Local SQLite history in state_dir: host and self samples, and one row per finished cycle.

Every run adds points, so charts of the embedded default show history across runs. Samples
are kept in tiers: raw for the last RAW_SECONDS, and rolled up (count, sum, min, max per
step) at each of ROLLUP_STEPS, each tier kept as long as a chart can need it. A chart of any
range gets the same number of points (CHART_POINTS, at most), regrouped in SQLite from the
coarsest tier that has TIER_ROWS rows for each, so its cost does not swing with the tier;
the buckets already whole are held, and each cycle regroups only those that became whole.
Old rows are deleted a bounded batch at a time on each write, so no write scans the table.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sitegen.model import CycleRecord, Labels, Point, Series, StageTiming, TaskRecord
from sitegen.statefiles import quarantine

HISTORY_FILE = "history.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (metric TEXT NOT NULL, labels TEXT NOT NULL,
                                    ts REAL NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS samples_metric_ts ON samples (metric, ts);
CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts);
CREATE TABLE IF NOT EXISTS rollups (metric TEXT NOT NULL, labels TEXT NOT NULL,
                                    step INTEGER NOT NULL, ts REAL NOT NULL, n INTEGER NOT NULL,
                                    total REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
                                    PRIMARY KEY (metric, step, labels, ts));
CREATE INDEX IF NOT EXISTS rollups_step_ts ON rollups (step, ts);
CREATE TABLE IF NOT EXISTS cycles (ts REAL NOT NULL, seconds REAL NOT NULL, stages TEXT NOT NULL,
                                   pages INTEGER NOT NULL, bytes INTEGER NOT NULL,
                                   ok INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS cycles_ts ON cycles (ts);
CREATE TABLE IF NOT EXISTS probes (hour INTEGER PRIMARY KEY, ok INTEGER NOT NULL,
                                   total INTEGER NOT NULL, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS probe_slots (slot INTEGER PRIMARY KEY, ok INTEGER NOT NULL,
                                        total INTEGER NOT NULL, seconds REAL NOT NULL);
"""
# Probes of the public site are counted per hour, for PROBE_DAYS: uptime over 30 days and the
# day strip's 90 days cost 720 and 2,160 rows, whatever the interval.
PROBE_DAYS = 90
# And per slot of PROBE_SLOT_SECONDS, for a day: the "1 h" figure covers the last 55 to 60
# minutes (per hour, it covered the clock's hour: a minute of it just after the hour turned).
PROBE_SLOT_SECONDS = 300
PROBE_SLOTS_KEPT = 86400 // PROBE_SLOT_SECONDS
# The probe counts: (table, its key column, the seconds a row counts, the rows kept), finest
# first. A probe goes into each; a window is read from the finest that keeps all of it.
PROBE_TABLES = (
    ("probe_slots", "slot", PROBE_SLOT_SECONDS, PROBE_SLOTS_KEPT),
    ("probes", "hour", 3600, PROBE_DAYS * 24),
)
# Raw samples are kept this long: charts of up to a few tens of minutes read them, and the
# newest sample of every chart comes from them.
RAW_SECONDS = 3600.0
# Rolled-up tiers (seconds per step); each is kept as long as it is the one some chart
# reads, the coarsest for the whole retention.
ROLLUP_STEPS = (10, 60, 300, 1800)
# The points a chart of history reads per series, whatever its range: each is the mean of
# an equal bucket of the range, so a chart costs the same at any range and any tier (a
# tier's own rows gave 28 to 290 points as the range grew: a cost that swung tenfold).
# One per about ten pixel columns, what an hour's or a week's chart got from its tier.
CHART_POINTS = 60
# Rows of a tier that make at least one point: a bucket is a whole number of tier steps, so
# with two or more a chart gets between two thirds of CHART_POINTS and all of them; and it
# regroups at most 12 rows a point (the tiers are five to six steps apart; raw samples at a
# 1 s interval, 20).
TIER_ROWS = 2
# Rows deleted per table and write: enough to keep up, never a scan of a big table.
DELETE_BATCH = 2000
# SQLite's page cache of the connection, in KiB (its default is 2,000). A chart reads only
# the buckets that became whole, and writes go to the newest pages: the default cache only
# filled up with the growing file, 2 MiB more RSS in a run's first ten minutes at a 1 s
# interval, for 0.1 ms a cycle saved.
CACHE_KIB = 256
# SQLite's primary result codes for a damaged database (or one of another shape):
# SQLITE_ERROR (our statements only fail so on a foreign schema), CORRUPT and NOTADB.
_DAMAGED_CODES = {sqlite3.SQLITE_ERROR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}

Sample = tuple[str, Labels, float, float]  # metric, labels, ts, value
_Row = tuple[float, str, float, float]  # a whole bucket's start, labels, mean time and value
# Per label set (its JSON), the starts of its whole buckets and their (mean time, mean value),
# in time order: each chart call groups only the buckets that became whole since the last.
_Held = dict[str, tuple[tuple[float, ...], tuple[Point, ...]]]
T = TypeVar("T")

_UPSERT = """
INSERT INTO rollups VALUES (?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (metric, step, labels, ts)
DO UPDATE SET n = n + 1, total = total + excluded.total, low = min(low, excluded.low),
              high = max(high, excluded.high)
"""
_BACKFILL = """
INSERT OR IGNORE INTO rollups SELECT metric, labels, ?1, CAST(ts / ?1 AS INTEGER) * ?1,
       count(*), sum(value), min(value), max(value) FROM samples GROUP BY 1, 2, 3, 4
"""
# The bucket under way, per label set: the mean time and value of the samples before the
# newest (NULL when there are none), then the newest sample.
_UNDER_WAY = """
SELECT labels, avg(iif(r > 1, ts, NULL)), avg(iif(r > 1, value, NULL)),
       max(iif(r = 1, ts, NULL)), max(iif(r = 1, value, NULL))
FROM (SELECT labels, ts, value, row_number() OVER (PARTITION BY labels ORDER BY ts DESC) AS r
      FROM samples WHERE metric = ? AND ts >= ?) GROUP BY labels
"""
# The bucket under way of a chart read from a tier, per label set: the finest tier's steps,
# then the raw samples of the newest of them. The (step, ts) index finds the bucket's steps
# among every metric's (a few hundred rows); the primary key would read the metric's all.
_STEPS_UNDER_WAY = (
    "SELECT labels, ts, n, total FROM rollups WHERE metric = ? AND step = ? AND ts >= ? "
    "ORDER BY labels, ts"
)
_NEWEST_STEPS = "SELECT labels, ts, value FROM samples WHERE metric = ? AND ts >= ? ORDER BY ts"
# Bounded: a retention change or a long stop never makes one write delete a million rows.
_BOUNDED_DELETE = (
    "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} LIMIT ?)"
)


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Say whether an error means the database is damaged, not busy, full or unwritable."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is None or code & 0xFF in _DAMAGED_CODES


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Run a History method; on damage, move the database aside and run it on a new one."""

    @functools.wraps(method)
    def run(self: History, *args: object, **kwargs: object) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise  # locked, disk full, I/O error: the database is fine, the cycle is not
            self._replace(f"history database damaged: {exc}")
            return method(self, *args, **kwargs)

    return run


def tier(seconds: float) -> int:
    """Return the tier a chart of `seconds` reads (0 = raw): the coarsest with TIER_ROWS
    rows for each of CHART_POINTS points."""
    return next(
        (step for step in reversed(ROLLUP_STEPS) if seconds >= step * TIER_ROWS * CHART_POINTS),
        0,
    )


def bucket(seconds: float) -> int:
    """Return the seconds each point of a chart of `seconds` stands for: a whole number of
    its tier's steps (of seconds, for raw samples), CHART_POINTS of them at most."""
    step = tier(seconds) or 1
    return step * max(1, math.ceil(seconds / (CHART_POINTS * step)))


@dataclass(frozen=True)
class _Buckets:
    """The whole buckets of one metric's chart, as last read: tier, width, what they span."""

    step: int
    width: int
    start: float  # the first bucket's start
    cut: float  # the start of the bucket under way: those before it are whole, and held
    series: _Held


@functools.lru_cache(maxsize=4096)
def _key(labels: Labels) -> str:
    """Return the stored key of a label set (encoded once: every cycle adds the same sets)."""
    return json.dumps(dict(labels), sort_keys=True)


@functools.lru_cache(maxsize=4096)
def _labels(key: str) -> Labels:
    """Return the labels of a stored label key (decoded once: every chart reads them again)."""
    return tuple(sorted(json.loads(key).items()))


def _by_labels(rows: list[_Row]) -> dict[str, tuple[list[float], list[Point]]]:
    """Group (bucket start, labels, time, value) rows by label set, keeping their order."""
    grouped: dict[str, tuple[list[float], list[Point]]] = {}
    for start, key, ts, value in rows:
        starts, points = grouped.setdefault(key, ([], []))
        starts.append(start)
        points.append((ts, value))
    return grouped


def _under_way(
    mean_ts: float | None, mean_value: float | None, ts: float, value: float
) -> tuple[Point, ...]:
    """Return the points of the bucket under way: the mean of the samples before the newest
    (if any), then the newest (in (time, value) order: two samples can share the newest time)."""
    if mean_ts is None:  # the newest is the bucket's only sample
        return ((ts, value),)
    return tuple(sorted(((mean_ts, mean_value), (ts, value))))


def _steps_under_way(
    db: sqlite3.Connection, metric: str, cut: float
) -> dict[str, tuple[Point, ...]]:
    """Return the points of the bucket under way from `cut` (a step of the finest tier), per
    label set: the finest tier's steps before the newest sample's, then that step's samples.

    The bucket of a chart of hours spans minutes: read raw, its samples at a 1 s interval cost
    a chart of six hours 360 rows a label set, every cycle. Its whole steps are read rolled up
    instead (their samples at the middle of the step, as a tier's whole buckets are): at most
    as many rows as the bucket has steps, and the samples of one step.
    """
    step = ROLLUP_STEPS[0]
    steps: dict[str, list[tuple[float, int, float]]] = {}
    for key, start, n, total in db.execute(_STEPS_UNDER_WAY, (metric, step, cut)):
        steps.setdefault(key, []).append((start, n, total))
    if not steps:
        return {}
    raw: dict[str, list[Point]] = {}
    newest_steps = min(rows[-1][0] for rows in steps.values())
    for key, ts, value in db.execute(_NEWEST_STEPS, (metric, newest_steps)):
        raw.setdefault(key, []).append((ts, value))
    out = {}
    for key, rows in steps.items():
        *whole, (last, _, _) = rows
        samples = sorted(p for p in raw.get(key, ()) if p[0] >= last)
        if not samples:  # none left (raw samples are kept less long than steps): steps alone
            whole = rows
        before = samples[:-1]
        count = sum(n for _, n, _ in whole) + len(before)
        mean_ts = mean = None  # no sample before the newest: the newest alone
        if count:
            mean_ts = (sum(n * (start + step / 2) for start, n, _ in whole)
                       + sum(ts for ts, _ in before)) / count  # fmt: skip
            mean = (sum(total for _, _, total in whole) + sum(v for _, v in before)) / count
        out[key] = _under_way(mean_ts, mean, *samples[-1]) if samples else ((mean_ts, mean),)
    return out


def _joined(before: list[_Row], held: _Held, start: float, after: list[_Row]) -> _Held:
    """Return the whole buckets per label set: those read before the held ones, the held
    from `start` on, and those read after them (each list a time span after the previous)."""
    early, late = _by_labels(before), _by_labels(after)
    joined: _Held = {}
    for key in {*early, *held, *late}:
        starts, points = held.get(key, ((), ()))
        gone = bisect.bisect_left(starts, start)
        if gone or key in early or key in late:
            early_starts, early_points = early.get(key, ((), ()))
            late_starts, late_points = late.get(key, ((), ()))
            starts = (*early_starts, *starts[gone:], *late_starts)
            points = (*early_points, *points[gone:], *late_points)
        if starts:
            joined[key] = (starts, points)
    return joined


class History:
    """A handle on the history database, with one connection its methods take in turn.

    A damaged database (found at start by an integrity check, or by any statement later)
    costs its history, never a cycle: it is moved aside and a new one started.
    """

    def __init__(self, state_dir: Path, retention_seconds: float) -> None:
        self.path = state_dir / HISTORY_FILE
        self.retention_seconds = retention_seconds
        # Held while a method uses the connection: the collect stage's threads take turns.
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        # Per metric, the whole buckets its chart read last: only newer ones are read again.
        self._buckets: dict[str, _Buckets] = {}
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                # Busy, full or unwritable: the file is kept, and the command cannot start
                # (an OSError, which the command line reports in a line, not a traceback).
                raise OSError(f"cannot open the history {self.path}: {exc}") from exc
            self._replace(f"history database unreadable: {exc}")

    def _open(self) -> None:
        with closing(self._connect()) as db:
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(problems[:3]))
            fresh = db.execute("SELECT name FROM sqlite_master WHERE name = 'rollups'").fetchone()
            db.executescript(_SCHEMA)
            if fresh is None:  # a history from before the tiers: roll up what it holds
                with db:
                    for step in ROLLUP_STEPS:
                        db.execute(_BACKFILL, (step,))

    def _replace(self, reason: str) -> None:
        with self._lock:
            self.close()  # the connection belongs to the damaged file
            self._buckets.clear()
            quarantine(self.path, reason)
            for suffix in ("-wal", "-shm"):  # they belong to the damaged file
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._open()

    def _connect(self) -> sqlite3.Connection:
        # WAL: another process (sqlite3, a backup) reads while this one writes.
        db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # Synced to disk at checkpoints, not on each commit (SQLite's default): in WAL mode
        # the file stays whole on a power loss, which may lose the last seconds of samples,
        # and the sync was most of each write's time, several writes a cycle.
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return db

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """Lend the connection to one method at a time, opening it when there is none.

        Kept open: a connection costs most of a millisecond to open (file, schema, WAL
        index) and its own page cache, and a cycle makes about twenty calls from as many
        threads, each of which left that memory behind in its own allocator arena.
        """
        with self._lock:
            if self._db is None:
                self._db = self._connect()
            yield self._db

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @_guarded
    def add(self, samples: Iterable[Sample]) -> None:
        """Store samples into every tier and drop a batch of what is past its tier's age."""
        # A sample of no time or a NaN value is no sample: it is left out alone (SQLite stores
        # NaN as NULL, which the table refuses: the whole batch, a source's panel, was lost).
        rows = [
            (m, _key(labels), ts, v)
            for m, labels, ts, v in samples
            if math.isfinite(ts) and not math.isnan(v)
        ]
        ups = [(m, labels, step, ts // step * step, v, v, v)
               for m, labels, ts, v in rows for step in ROLLUP_STEPS]  # fmt: skip
        now = time.time()
        with self._use() as db, db:
            for m, _labels, ts, _v in rows:  # a sample into a bucket held whole: read it anew
                held = self._buckets.get(m)
                if held is not None and ts < held.cut:
                    del self._buckets[m]
            db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", rows)
            db.executemany(_UPSERT, ups)
            raw = now - min(RAW_SECONDS, self.retention_seconds)
            db.execute(_BOUNDED_DELETE.format(table="samples", where="ts < ?"), (raw, DELETE_BATCH))
            for step in ROLLUP_STEPS:
                kept = min(self._kept(step), self.retention_seconds)
                db.execute(
                    _BOUNDED_DELETE.format(table="rollups", where="step = ? AND ts < ?"),
                    (step, now - kept, DELETE_BATCH),
                )

    @staticmethod
    def _kept(step: int) -> float:
        """Return how long a tier is kept: as long as some chart reads it (until the next
        tier has TIER_ROWS rows a point)."""
        coarser = [s for s in ROLLUP_STEPS if s > step]
        if not coarser:
            return math.inf
        return 1.1 * coarser[0] * TIER_ROWS * CHART_POINTS

    @_guarded
    def series(
        self, metric: str, since: float, until: float | None = None, interval: float = 0.0
    ) -> tuple[Series, ...]:
        """Return the series of one metric from `since` to now, one per label set, at most
        CHART_POINTS points each whatever the range.

        Each point is the mean of a bucket of the range (`bucket`), at the mean time of what
        it holds; in the bucket under way, the mean of the samples before the newest, then
        the newest sample itself, so the newest value is always the newest sample. Each
        series carries its sampling step: the bucket, or `interval` (how often samples are
        added) if longer; unknown (0) without an interval.
        """
        until = time.time() if until is None else until
        step, width = tier(until - since), bucket(until - since)
        start, cut = since - since % width, until - until % width
        with self._use() as db:
            held = self._buckets.get(metric)
            # Rows before the horizon are being deleted: the range starts at the horizon's
            # bucket, so what is held stays what a fresh read would give.
            kept = self._kept(step) if step else RAW_SECONDS
            horizon = time.time() - min(kept, self.retention_seconds)
            start = max(start, math.ceil(horizon / width) * width)
            if (
                held is None
                or (held.step, held.width) != (step, width)
                or not start <= cut >= held.cut
            ):
                held = _Buckets(step, width, start, start, {})
            # Whole buckets before those held (a range that grew back), held, and after them.
            before = self._whole(db, metric, held, start, min(held.start, cut))
            after = self._whole(db, metric, held, max(held.cut, start), cut)
            whole = _joined(before, held.series, start, after)
            self._buckets[metric] = _Buckets(step, width, start, max(cut, start), whole)
            if step:
                under_way = _steps_under_way(db, metric, cut)
            else:  # a raw bucket: at most a few tens of samples a label set
                under_way = {
                    key: _under_way(*tail) for key, *tail in db.execute(_UNDER_WAY, (metric, cut))
                }
        known = max(width, interval) if interval > 0 else 0.0
        # The whole buckets are in time order, and all before the bucket under way.
        return tuple(
            Series(_labels(key), whole.get(key, ((), ()))[1] + under_way.get(key, ()), step=known)
            for key in sorted(whole.keys() | under_way.keys())
        )

    @staticmethod
    def _whole(
        db: sqlite3.Connection, metric: str, held: _Buckets, since: float, until: float
    ) -> list[_Row]:
        """Return (start, labels, mean time, mean value) of the buckets from `since` to `until`
        (both bucket starts), regrouped from the held tier."""
        if until <= since:
            return []
        if held.step:
            # "+ts" keeps the index on (step, ts) out, which would read every metric's rows
            # of the range: the primary key (metric, step, labels, ts) reads this one's.
            query = (
                "SELECT CAST(ts / ?5 AS INTEGER) * ?5, labels, sum(n * (ts + ?1 / 2.0)) / sum(n), "
                "sum(total) / sum(n) FROM rollups WHERE metric = ?2 AND step = ?1 AND +ts >= ?3 "
                "AND +ts < ?4 GROUP BY labels, 1 ORDER BY labels, 1"
            )
        else:
            query = (
                "SELECT CAST(ts / ?5 AS INTEGER) * ?5, labels, avg(ts), avg(value) FROM samples "
                "WHERE metric = ?2 AND ts >= ?3 AND ts < ?4 GROUP BY labels, 1 ORDER BY labels, 1"
            )
        return db.execute(query, (held.step, metric, since, until, held.width)).fetchall()

    @_guarded
    def first_ts(self) -> float | None:
        """Return the time of the oldest stored sample, or None for an empty history."""
        coarsest = ROLLUP_STEPS[-1]
        with self._use() as db:
            raw = db.execute("SELECT min(ts) FROM samples").fetchone()[0]
            rolled = db.execute(
                "SELECT min(ts) FROM rollups WHERE step = ?", (coarsest,)
            ).fetchone()[0]
        # A rolled-up step starts up to a step before its first sample: while the raw
        # samples still hold that one, they say when the history began.
        if raw is not None and (rolled is None or raw - rolled < coarsest):
            return raw
        return rolled

    @_guarded
    def add_cycle(self, record: CycleRecord) -> None:
        """Store one finished cycle and drop cycles older than the retention."""
        stages = json.dumps({s.name: s.seconds for s in record.stages})
        with self._use() as db, db:
            db.execute(
                "INSERT INTO cycles VALUES (?, ?, ?, ?, ?, ?)",
                (record.ts, record.seconds, stages, record.pages, record.bytes, int(record.ok)),
            )
            db.execute("DELETE FROM cycles WHERE ts < ?", (time.time() - self.retention_seconds,))

    @_guarded
    def cycles(self, limit: int = 100) -> tuple[CycleRecord, ...]:
        """Return the newest cycles, oldest first."""
        with self._use() as db:
            rows = db.execute(
                "SELECT ts, seconds, stages, pages, bytes, ok FROM cycles ORDER BY ts DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return tuple(
            CycleRecord(
                ts=ts,
                seconds=seconds,
                stages=_stages(json.loads(stages)),
                pages=pages,
                bytes=size,
                ok=bool(ok),
            )
            for ts, seconds, stages, pages, size, ok in reversed(rows)
        )

    @_guarded
    def add_probe(self, ts: float, ok: bool, seconds: float) -> None:
        """Count one probe of the public site into its hour and its slot."""
        with self._use() as db, db:
            for table, column, width, kept in PROBE_TABLES:
                at = int(ts // width)
                db.execute(
                    f"INSERT INTO {table} VALUES (?, ?, 1, ?) ON CONFLICT ({column}) DO UPDATE "
                    "SET ok = ok + excluded.ok, total = total + 1, "
                    "seconds = seconds + excluded.seconds",
                    (at, int(ok), seconds),
                )
                db.execute(f"DELETE FROM {table} WHERE {column} < ?", (at - kept,))

    @_guarded
    def probes_by_day(self, since: float) -> dict[str, tuple[int, int]]:
        """Return (ok, total) probes of each UTC day (YYYY-MM-DD) from `since` on."""
        with self._use() as db:
            rows = db.execute(
                "SELECT hour / 24, sum(ok), sum(total) FROM probes WHERE hour >= ? GROUP BY 1",
                (int(since // 3600),),
            ).fetchall()
        return {time.strftime("%Y-%m-%d", time.gmtime(d * 86400)): (ok, n) for d, ok, n in rows}

    @_guarded
    def uptime(self, now: float, hours: int) -> tuple[float | None, float | None, int]:
        """Return (availability %, mean latency s, probes) over the last `hours` hours: to
        five minutes up to a day, to the hour past it (a part of the oldest slot or hour in
        the window is left out)."""
        table, column, width, _ = next(
            (t for t in PROBE_TABLES if hours * 3600 // t[2] <= t[3]), PROBE_TABLES[-1]
        )
        with self._use() as db:
            ok, total, seconds = db.execute(
                f"SELECT sum(ok), sum(total), sum(seconds) FROM {table} WHERE {column} > ?",
                (int(now // width) - hours * 3600 // width,),
            ).fetchone()
        if not total:
            return None, None, 0
        return 100.0 * ok / total, seconds / total, total


def _stages(mapping: dict[str, float]) -> tuple[StageTiming, ...]:
    return tuple(StageTiming(name, seconds) for name, seconds in mapping.items())


# Bucket bounds of the render task histogram (seconds), as Prometheus' le labels.
TASK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, math.inf)


def task_samples(ts: float, records: Iterable[TaskRecord]) -> Sequence[Sample]:
    """Count a cycle's pool tasks by duration into cumulative buckets, as a histogram does."""
    seconds = [(r.end_ns - r.start_ns) / 1e9 for r in records]
    return [
        (
            "sitegen_task_seconds_bucket",
            (("le", "+Inf" if math.isinf(le) else f"{le:g}"),),
            ts,
            float(sum(1 for s in seconds if s <= le)),
        )
        for le in TASK_BUCKETS
    ]


def cycle_samples(record: CycleRecord) -> Sequence[Sample]:
    """Turn a finished cycle into the self-metric samples its charts are drawn from."""
    samples: list[Sample] = [
        ("sitegen_cycle_seconds", (("stage", s.name),), record.ts, s.seconds) for s in record.stages
    ]
    samples.append(("sitegen_site_bytes", (), record.ts, float(record.bytes)))
    samples.append(("sitegen_pages", (), record.ts, float(record.pages)))
    return samples

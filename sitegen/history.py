"""Local SQLite history in state_dir: host and self samples, and one row per finished cycle.

Every run adds points, so charts of the embedded default show history across runs; rows
older than the retention are deleted on each write, so the file stays bounded.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path

from sitegen.model import CycleRecord, Labels, Series, StageTiming, TaskRecord
from sitegen.state import quarantine

HISTORY_FILE = "history.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (metric TEXT NOT NULL, labels TEXT NOT NULL,
                                    ts REAL NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS samples_metric_ts ON samples (metric, ts);
CREATE TABLE IF NOT EXISTS cycles (ts REAL NOT NULL, seconds REAL NOT NULL, stages TEXT NOT NULL,
                                   pages INTEGER NOT NULL, bytes INTEGER NOT NULL,
                                   ok INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS cycles_ts ON cycles (ts);
CREATE TABLE IF NOT EXISTS probes (hour INTEGER PRIMARY KEY, ok INTEGER NOT NULL,
                                   total INTEGER NOT NULL, seconds REAL NOT NULL);
"""
# Probes of the public site are kept per hour, for PROBE_DAYS: uptime over 30 days costs
# 720 rows, whatever the interval.
PROBE_DAYS = 90

Sample = tuple[str, Labels, float, float]  # metric, labels, ts, value


class History:
    """A handle on the history database; each method opens its own short connection."""

    def __init__(self, state_dir: Path, retention_seconds: float) -> None:
        self.path = state_dir / HISTORY_FILE
        self.retention_seconds = retention_seconds
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            with closing(self._connect()) as db:
                db.executescript(_SCHEMA)
                db.execute("SELECT count(*) FROM samples").fetchone()
        except sqlite3.DatabaseError as exc:
            # A damaged history costs its charts, never the cycle: start a new one.
            quarantine(self.path, f"history database unreadable: {exc}")
            with closing(self._connect()) as db:
                db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # Threads of the collect stage each open their own connection; WAL lets them read
        # while another writes.
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def add(self, samples: Iterable[Sample]) -> None:
        """Store samples and drop what is older than the retention."""
        rows = [
            (m, json.dumps(dict(labels), sort_keys=True), ts, v) for m, labels, ts, v in samples
        ]
        with closing(self._connect()) as db, db:
            db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", rows)
            db.execute("DELETE FROM samples WHERE ts < ?", (time.time() - self.retention_seconds,))

    def series(self, metric: str, since: float) -> tuple[Series, ...]:
        """Return the stored series of one metric from `since` on, one per label set."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT labels, ts, value FROM samples WHERE metric = ? AND ts >= ? "
                "ORDER BY labels, ts",
                (metric, since),
            ).fetchall()
        grouped: dict[str, list[tuple[float, float]]] = {}
        for labels, ts, value in rows:
            grouped.setdefault(labels, []).append((ts, value))
        return tuple(
            Series(labels=tuple(sorted(json.loads(k).items())), points=tuple(pts))
            for k, pts in grouped.items()
        )

    def first_ts(self) -> float | None:
        """Return the time of the oldest stored sample, or None for an empty history."""
        with closing(self._connect()) as db:
            return db.execute("SELECT min(ts) FROM samples").fetchone()[0]

    def add_cycle(self, record: CycleRecord) -> None:
        """Store one finished cycle and drop cycles older than the retention."""
        stages = json.dumps({s.name: s.seconds for s in record.stages})
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO cycles VALUES (?, ?, ?, ?, ?, ?)",
                (record.ts, record.seconds, stages, record.pages, record.bytes, int(record.ok)),
            )
            db.execute("DELETE FROM cycles WHERE ts < ?", (time.time() - self.retention_seconds,))

    def cycles(self, limit: int = 100) -> tuple[CycleRecord, ...]:
        """Return the newest cycles, oldest first."""
        with closing(self._connect()) as db:
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

    def add_probe(self, ts: float, ok: bool, seconds: float) -> None:
        """Count one probe of the public site into its hour."""
        hour = int(ts // 3600)
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO probes VALUES (?, ?, 1, ?) ON CONFLICT (hour) DO UPDATE SET "
                "ok = ok + excluded.ok, total = total + 1, seconds = seconds + excluded.seconds",
                (hour, int(ok), seconds),
            )
            db.execute("DELETE FROM probes WHERE hour < ?", (hour - PROBE_DAYS * 24,))

    def probes_by_day(self, since: float) -> dict[str, tuple[int, int]]:
        """Return (ok, total) probes of each UTC day (YYYY-MM-DD) from `since` on."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT hour / 24, sum(ok), sum(total) FROM probes WHERE hour >= ? GROUP BY 1",
                (int(since // 3600),),
            ).fetchall()
        return {time.strftime("%Y-%m-%d", time.gmtime(d * 86400)): (ok, n) for d, ok, n in rows}

    def uptime(self, now: float, hours: int) -> tuple[float | None, float | None, int]:
        """Return (availability %, mean latency s, probes) over the last `hours` hours."""
        with closing(self._connect()) as db:
            ok, total, seconds = db.execute(
                "SELECT sum(ok), sum(total), sum(seconds) FROM probes WHERE hour > ?",
                (int(now // 3600) - hours,),
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

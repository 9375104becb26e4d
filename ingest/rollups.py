"""1-minute and 1-hour rollups of readings, kept up to date by an incremental job.

``readings_1m`` and ``readings_1h`` (migration 0002) hold min, max, mean, count and the
last value per machine, channel and bucket. The ingest writer marks every minute a
batch touched in ``rollup_dirty`` (``MARK_DIRTY_MINUTES_SQL``, in the batch's own
transaction); :func:`refresh_rollups` takes those minutes, recomputes them from
``readings``, marks their hours, and recomputes the hours from ``readings_1m``. A
reading that arrives late for an old minute marks that minute again, so its minute and
hour are recomputed: the rollups are correct whatever the lateness.

Below the retention horizon of a source (``retention_horizon``, written by
``ingest/retention.py`` when it drops chunks) a bucket cannot be recomputed, because
its source rows are gone. Late rows there are *folded* into the existing rollup
(min/max/count/mean/last merged) and deleted from the source in the same statement, so
each is counted exactly once.

One refresh transaction runs at a time across all processes
(``pg_try_advisory_xact_lock(ROLLUP_LOCK_KEY)``); retention takes the same lock. The
job runs the same way on both TimescaleDB editions: docs/rollups.md says why
continuous aggregates are not used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, LiteralString, Protocol

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key shared by the refresh and retention transactions ("roll").
ROLLUP_LOCK_KEY = 0x726F6C6C

# Run by ingest/writer.py in the transaction that stores a batch, with one parameter:
# the batch's distinct minutes (ReadingBatch.minutes()). One row per minute touched; a
# plain insert (no ON CONFLICT): see rollup_dirty in prognos/sql/0002_rollups.sql.
MARK_DIRTY_MINUTES_SQL: LiteralString = (
    "INSERT INTO rollup_dirty (level, bucket) SELECT '1m', unnest(%s::timestamptz[])"
)

# Take up to %(limit)s of a level's oldest dirty buckets: every row naming them that
# this statement can see is deleted, rows committed later stay for the next refresh.
_CLAIM: LiteralString = """
    DELETE FROM rollup_dirty
    WHERE level = %(level)s
      AND bucket IN (SELECT DISTINCT bucket FROM rollup_dirty
                     WHERE level = %(level)s ORDER BY bucket LIMIT %(limit)s)
    RETURNING bucket"""

# A level's horizon is the newest of its source's and its own: below its own, the
# level's rows were dropped too, and the next level up can only fold them (a bucket
# recomputed from a complete source would then be counted again in that fold).
_HORIZON: LiteralString = (
    "SELECT max(dropped_before) FROM retention_horizon WHERE hypertable = ANY(%s)"
)

# Merge a partial aggregate (EXCLUDED) into an existing row (t): used when folding.
_MERGE: LiteralString = """
    ON CONFLICT (equipment_id, channel_id, bucket) DO UPDATE SET
        min = least(t.min, EXCLUDED.min),
        max = greatest(t.max, EXCLUDED.max),
        mean = (t.mean * t.count + EXCLUDED.mean * EXCLUDED.count) / (t.count + EXCLUDED.count),
        count = t.count + EXCLUDED.count,
        last = CASE WHEN EXCLUDED.last_time >= t.last_time THEN EXCLUDED.last ELSE t.last END,
        last_time = greatest(t.last_time, EXCLUDED.last_time)"""

_COLUMNS: LiteralString = (
    "(bucket, equipment_id, channel_id, min, max, mean, count, last, last_time)"
)

# Aggregates of raw readings (alias r) and of minute rollups (alias m).
_FROM_RAW: LiteralString = """
    time_bucket('1 minute', r.time), r.equipment_id, r.channel_id,
    min(r.value), max(r.value), avg(r.value), count(*), last(r.value, r.time), max(r.time)"""
_FROM_MINUTES: LiteralString = """
    time_bucket('1 hour', m.bucket), m.equipment_id, m.channel_id,
    min(m.min), max(m.max), sum(m.mean * m.count) / sum(m.count)::double precision,
    sum(m.count)::bigint, last(m.last, m.last_time), max(m.last_time)"""

# %(buckets)s is the sorted list of claimed bucket starts; %(lo)s and %(hi)s bound them
# so that TimescaleDB can exclude the chunks outside at plan time.
_MINUTE_CLEAR: LiteralString = """
    DELETE FROM readings_1m
    WHERE bucket = ANY(%(buckets)s::timestamptz[]) AND bucket >= %(lo)s AND bucket <= %(hi)s"""
_MINUTE_RECOMPUTE: LiteralString = (
    "INSERT INTO readings_1m "
    + _COLUMNS
    + " SELECT "
    + _FROM_RAW
    + """
    FROM unnest(%(buckets)s::timestamptz[]) AS b(bucket)
    JOIN readings r ON r.time >= b.bucket AND r.time < b.bucket + INTERVAL '1 minute'
    WHERE r.time >= %(lo)s AND r.time < %(hi)s + INTERVAL '1 minute'
    GROUP BY 1, 2, 3"""
)
_MINUTE_FOLD: LiteralString = (
    """
    WITH gone AS (
        DELETE FROM readings r USING unnest(%(buckets)s::timestamptz[]) AS b(bucket)
        WHERE r.time >= b.bucket AND r.time < b.bucket + INTERVAL '1 minute'
          AND r.time >= %(lo)s AND r.time < %(hi)s + INTERVAL '1 minute'
        RETURNING r.time, r.equipment_id, r.channel_id, r.value)
    INSERT INTO readings_1m AS t """
    + _COLUMNS
    + " SELECT "
    + _FROM_RAW
    + " FROM gone AS r GROUP BY 1, 2, 3"
    + _MERGE
)
_HOUR_CLEAR: LiteralString = """
    DELETE FROM readings_1h
    WHERE bucket = ANY(%(buckets)s::timestamptz[]) AND bucket >= %(lo)s AND bucket <= %(hi)s"""
_HOUR_RECOMPUTE: LiteralString = (
    "INSERT INTO readings_1h "
    + _COLUMNS
    + " SELECT "
    + _FROM_MINUTES
    + """
    FROM unnest(%(buckets)s::timestamptz[]) AS b(bucket)
    JOIN readings_1m m ON m.bucket >= b.bucket AND m.bucket < b.bucket + INTERVAL '1 hour'
    WHERE m.bucket >= %(lo)s AND m.bucket < %(hi)s + INTERVAL '1 hour'
    GROUP BY 1, 2, 3"""
)
_HOUR_FOLD: LiteralString = (
    """
    WITH gone AS (
        DELETE FROM readings_1m m USING unnest(%(buckets)s::timestamptz[]) AS b(bucket)
        WHERE m.bucket >= b.bucket AND m.bucket < b.bucket + INTERVAL '1 hour'
          AND m.bucket >= %(lo)s AND m.bucket < %(hi)s + INTERVAL '1 hour'
        RETURNING m.*)
    INSERT INTO readings_1h AS t """
    + _COLUMNS
    + " SELECT "
    + _FROM_MINUTES
    + " FROM gone AS m GROUP BY 1, 2, 3"
    + _MERGE
)
# Only refresh transactions (serialized by the advisory lock) write '1h' rows, so the
# NOT EXISTS keeps one row per dirty hour without a race.
_MARK_HOURS: LiteralString = """
    INSERT INTO rollup_dirty (level, bucket)
    SELECT DISTINCT '1h', h.bucket
    FROM unnest(%(buckets)s::timestamptz[]) AS b(bucket),
         LATERAL (SELECT time_bucket('1 hour', b.bucket) AS bucket) AS h
    WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.level = '1h' AND d.bucket = h.bucket)"""


@dataclass(frozen=True)
class _Level:
    name: str  # rollup_dirty.level
    source: str  # the hypertable it is computed from
    horizons: tuple[str, ...]  # retention_horizon rows below which it folds
    clear: LiteralString
    recompute: LiteralString
    fold: LiteralString
    marks_hours: bool


_MINUTES = _Level(
    "1m",
    "readings",
    ("readings", "readings_1m"),
    _MINUTE_CLEAR,
    _MINUTE_RECOMPUTE,
    _MINUTE_FOLD,
    marks_hours=True,
)
_HOURS = _Level(
    "1h",
    "readings_1m",
    ("readings_1m",),
    _HOUR_CLEAR,
    _HOUR_RECOMPUTE,
    _HOUR_FOLD,
    marks_hours=False,
)


@dataclass(frozen=True)
class _Pass:
    buckets: int  # dirty buckets taken
    rows: int  # rollup rows written (recomputed or merged)
    folded: int  # buckets below the level's retention horizon, folded instead


def _refresh_level(conn: psycopg.Connection[Any], level: _Level, limit: int) -> _Pass | None:
    """One transaction: claim, recompute or fold, mark hours. None if another refresh runs."""
    with conn.transaction():
        row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,)).fetchone()
        if row is None or not row[0]:
            return None
        claimed = conn.execute(_CLAIM, {"level": level.name, "limit": limit}).fetchall()
        buckets: list[datetime] = sorted({r[0] for r in claimed})
        if not buckets:
            return _Pass(0, 0, 0)
        found = conn.execute(_HORIZON, (list(level.horizons),)).fetchone()
        horizon: datetime | None = found[0] if found else None
        fold = [b for b in buckets if horizon is not None and b < horizon]
        replace = [b for b in buckets if horizon is None or b >= horizon]
        rows = 0
        if replace:
            params = {"buckets": replace, "lo": replace[0], "hi": replace[-1]}
            conn.execute(level.clear, params)
            rows += max(conn.execute(level.recompute, params).rowcount, 0)
        if fold:
            params = {"buckets": fold, "lo": fold[0], "hi": fold[-1]}
            rows += max(conn.execute(level.fold, params).rowcount, 0)
            log.info(
                "folded late data into %d %s bucket(s) from %s older than the retention horizon %s",
                len(fold),
                level.name,
                level.source,
                horizon,
            )
        if level.marks_hours:
            conn.execute(_MARK_HOURS, {"buckets": buckets})
        return _Pass(len(buckets), rows, len(fold))


def refresh_rollups(
    conn: psycopg.Connection[Any], *, max_buckets: int = 60, max_batches: int | None = 1
) -> dict[str, int]:
    """Bring the rollups up to date with the dirty buckets; returns what was done.

    First the dirty minutes, then the dirty hours (which include those the minutes
    just marked), oldest first. Each batch is one transaction of up to ``max_buckets``
    buckets; a level takes batches while they come back full, at most ``max_batches``
    of them (``None``: until its queue, as seen, is empty). If another refresh or the
    retention job holds the lock, it returns at once with ``busy`` = 1. ``conn`` must
    have no transaction open.

    Keys of the result: ``batches`` (transactions that took buckets), ``minutes`` and
    ``hours`` (buckets recomputed or folded), ``minute_rows`` and ``hour_rows`` (rollup
    rows written), ``folded`` (buckets below a retention horizon), ``busy``.
    """
    if max_buckets < 1:
        raise ValueError("max_buckets must be at least 1")
    if max_batches is not None and max_batches < 1:
        raise ValueError("max_batches must be at least 1 or None")
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise ValueError("refresh_rollups needs a connection with no transaction open")
    totals = dict.fromkeys(
        ("batches", "minutes", "minute_rows", "hours", "hour_rows", "folded", "busy"), 0
    )
    for level, buckets_key, rows_key in (
        (_MINUTES, "minutes", "minute_rows"),
        (_HOURS, "hours", "hour_rows"),
    ):
        batches = 0
        while max_batches is None or batches < max_batches:
            done = _refresh_level(conn, level, max_buckets)
            if done is None:
                totals["busy"] = 1
                return totals
            if done.buckets == 0:
                break
            batches += 1
            totals["batches"] += 1
            totals[buckets_key] += done.buckets
            totals[rows_key] += done.rows
            totals["folded"] += done.folded
            if done.buckets < max_buckets:
                break  # drained what was visible; later marks wait for the next call
    return totals


class Edition(Protocol):
    """What :func:`schedule` needs of ``prognos.timescale.TimescaleEdition``."""

    @property
    def continuous_aggregates(self) -> bool: ...


@dataclass
class RollupJob:
    """The scheduled refresh: one pooled connection per run, totals since start."""

    pool: ConnectionPool
    max_buckets: int = 60
    max_batches: int | None = 50
    totals: dict[str, int] = field(default_factory=dict)

    def run_once(self) -> dict[str, int]:
        with self.pool.connection() as conn:
            counts = refresh_rollups(
                conn, max_buckets=self.max_buckets, max_batches=self.max_batches
            )
        for key, value in counts.items():
            self.totals[key] = self.totals.get(key, 0) + value
        if counts["minutes"] or counts["hours"]:
            log.debug("rollups refreshed", extra=counts)
        return counts


def schedule(
    scheduler: Any,
    pool: ConnectionPool,
    edition: Edition,
    interval_s: float,
    *,
    max_buckets: int = 60,
    max_batches: int | None = 50,
) -> RollupJob:
    """Register the rollup refresh on an APScheduler 3 scheduler (job id ``rollups``).

    The same job runs on both editions. On the licensed one, continuous aggregates are
    available but not used, because their refresh window cannot honour late data and
    retention the way this job does (docs/rollups.md).
    """
    if edition.continuous_aggregates:
        log.info(
            "rollups: continuous aggregates are licensed but the platform job maintains "
            "readings_1m and readings_1h (late data and retention safety, docs/rollups.md)"
        )
    job = RollupJob(pool, max_buckets=max_buckets, max_batches=max_batches)
    scheduler.add_job(
        job.run_once,
        "interval",
        id="rollups",
        seconds=interval_s,
        max_instances=1,
        coalesce=True,
    )
    return job

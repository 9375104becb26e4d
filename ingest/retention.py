"""Retention: drop old chunks of readings and of their rollups, never ahead of the rollups,
and of the machines' health rows.

Each table has its own age limit (:class:`RetentionPolicy`) and loses whole chunks
through ``drop_chunks``, which the Apache edition of TimescaleDB has. A chunk is never
dropped while rollups still need it: raw chunks are kept from the oldest minute still
waiting in ``rollup_dirty`` onwards, minute chunks from the hour of that minute or the
oldest waiting hour onwards, whichever is older. :func:`plan` computes these cutoffs
(pure), :func:`apply_retention` applies them under the rollup lock and records in
``retention_horizon`` how far each table was dropped (``ingest/rollups.py`` folds late
data below it instead of recomputing). The ``health`` hypertable (one row per machine
and scored window, models/) feeds no rollup: it keeps the policy's cutoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool

from ingest.rollups import ROLLUP_LOCK_KEY

log = logging.getLogger(__name__)

RAW, MINUTE, HOUR = "readings", "readings_1m", "readings_1h"
HEALTH = "health"

# The bucket width of the rollup computed from each table: a retention horizon must
# fall on a bucket boundary, or a bucket would be half dropped and half kept.
_DERIVED_WIDTH: dict[str, timedelta | None] = {
    RAW: timedelta(minutes=1),
    MINUTE: timedelta(hours=1),
    HOUR: None,
    HEALTH: None,
}


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep each table; ``None`` keeps it forever.

    A rollup must outlive its source: ``raw_days <= minute_days <= hourly_days``
    (``None`` counting as forever). Otherwise late data could be counted twice.
    ``health_days``: the scored windows of the health models (a row per machine and
    scoring run, the largest table after the raw readings); the scoring job reads back
    72 hours of them and the model alerts 24, so a day is the least that works.
    """

    raw_days: int | None = 30
    minute_days: int | None = 365
    hourly_days: int | None = None
    health_days: int | None = 90

    def __post_init__(self) -> None:
        names = ("raw_days", "minute_days", "hourly_days", "health_days")
        for name in names:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 day or None (keep), got {value}")
        days = [self.raw_days, self.minute_days, self.hourly_days]
        forever = float("inf")
        as_float = [forever if d is None else float(d) for d in days]
        if not as_float[0] <= as_float[1] <= as_float[2]:
            raise ValueError(
                "rollups must be kept at least as long as their source: need "
                f"raw_days <= minute_days <= hourly_days (None = forever), got {days}"
            )


@dataclass(frozen=True)
class TablePlan:
    """What retention may drop from one table."""

    table: str
    policy_cutoff: datetime | None  # the policy's limit; None: keep everything
    cutoff: datetime | None  # the limit actually applied, never after policy_cutoff

    @property
    def held_back(self) -> bool:
        """True when rollups still waiting to be refreshed hold the cutoff back."""
        return self.cutoff != self.policy_cutoff


def _hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _earliest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def plan(
    policy: RetentionPolicy,
    now: datetime,
    oldest_dirty_minute: datetime | None,
    oldest_dirty_hour: datetime | None,
) -> list[TablePlan]:
    """The cutoff per table: the policy's, held back to what the dirty buckets still need.

    A dirty minute needs its raw readings (the minute is recomputed from them) and the
    minute rollups of its hour (the hour is recomputed from those); a dirty hour needs
    its minute rollups. The hourly table feeds nothing and keeps the policy's cutoff.
    """

    def policy_cutoff(days: int | None) -> datetime | None:
        return None if days is None else now - timedelta(days=days)

    raw = policy_cutoff(policy.raw_days)
    minute = policy_cutoff(policy.minute_days)
    hour = policy_cutoff(policy.hourly_days)
    health = policy_cutoff(policy.health_days)
    minute_floor = None if oldest_dirty_minute is None else _hour_floor(oldest_dirty_minute)
    return [
        TablePlan(RAW, raw, None if raw is None else _earliest(raw, oldest_dirty_minute)),
        TablePlan(
            MINUTE,
            minute,
            None if minute is None else _earliest(minute, minute_floor, oldest_dirty_hour),
        ),
        TablePlan(HOUR, hour, hour),
        TablePlan(HEALTH, health, health),
    ]


@dataclass
class RetentionResult:
    """What one run did: chunks dropped per table, and the plans it followed."""

    dropped: dict[str, list[str]] = field(default_factory=dict)
    held_back: dict[str, int] = field(default_factory=dict)  # chunks kept for dirty rollups
    plans: list[TablePlan] = field(default_factory=list)

    @property
    def total_dropped(self) -> int:
        return sum(len(names) for names in self.dropped.values())


_CHUNKS = """
    SELECT s.chunk::text, ch.range_end
    FROM show_chunks(%s::regclass, older_than => %s::timestamptz) AS s(chunk)
    JOIN timescaledb_information.chunks ch
      ON ch.hypertable_name = %s
     AND format('%%I.%%I', ch.chunk_schema, ch.chunk_name)::regclass = s.chunk"""
_COUNT_CHUNKS = "SELECT count(*) FROM show_chunks(%s::regclass, older_than => %s::timestamptz)"
_DROP = "SELECT drop_chunks(%s::regclass, older_than => %s::timestamptz)::text"
_RAISE_HORIZON = """
    INSERT INTO retention_horizon (hypertable, dropped_before) VALUES (%s, %s)
    ON CONFLICT (hypertable) DO UPDATE
    SET dropped_before = greatest(retention_horizon.dropped_before, EXCLUDED.dropped_before)"""


def _aligned(at: datetime, width: timedelta | None) -> bool:
    if width is None:
        return True
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) % width == timedelta(0)


def apply_retention(
    conn: psycopg.Connection[Any], policy: RetentionPolicy, now: datetime
) -> RetentionResult:
    """Drop the chunks the policy allows and the dirty buckets do not need; one transaction.

    The transaction takes the rollup lock (waiting for a running refresh) and a SHARE
    lock on ``readings`` (waiting for ingest batches in flight, and holding new ones
    back until it commits), so the dirty buckets it reads are complete. It raises each
    dropped table's ``retention_horizon`` to the end of its newest dropped chunk.
    ``conn`` must have no transaction open.
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise ValueError("apply_retention needs a connection with no transaction open")
    result = RetentionResult()
    ages = (policy.raw_days, policy.minute_days, policy.hourly_days, policy.health_days)
    if all(d is None for d in ages):
        return result
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,))
        conn.execute("LOCK TABLE ONLY readings IN SHARE MODE")
        row = conn.execute(
            "SELECT min(bucket) FILTER (WHERE level = '1m'), min(bucket) FILTER (WHERE level = '1h') "
            "FROM rollup_dirty"
        ).fetchone()
        oldest_minute, oldest_hour = (row[0], row[1]) if row else (None, None)
        result.plans = plan(policy, now, oldest_minute, oldest_hour)
        for p in result.plans:
            if p.cutoff is None or p.policy_cutoff is None:
                continue
            chunks = conn.execute(_CHUNKS, (p.table, p.cutoff, p.table)).fetchall()
            if p.held_back:
                wanted = conn.execute(_COUNT_CHUNKS, (p.table, p.policy_cutoff)).fetchone()
                kept = int(wanted[0]) - len(chunks) if wanted else 0
                if kept:
                    result.held_back[p.table] = kept
                    log.warning(
                        "retention kept %d chunk(s) of %s older than %s: rollups still "
                        "need them (oldest dirty minute %s, hour %s); cutoff %s",
                        kept,
                        p.table,
                        p.policy_cutoff,
                        oldest_minute,
                        oldest_hour,
                        p.cutoff,
                    )
            if not chunks:
                continue
            horizon: datetime = max(end for _, end in chunks)
            if not _aligned(horizon, _DERIVED_WIDTH[p.table]):
                log.error(
                    "retention skipped %s: its chunk boundary %s is not on a %s bucket "
                    "boundary (chunk interval changed?)",
                    p.table,
                    horizon,
                    _DERIVED_WIDTH[p.table],
                )
                continue
            dropped = [r[0] for r in conn.execute(_DROP, (p.table, p.cutoff)).fetchall()]
            conn.execute(_RAISE_HORIZON, (p.table, horizon))
            result.dropped[p.table] = dropped
            log.info(
                "retention dropped %d chunk(s) of %s older than %s",
                len(dropped),
                p.table,
                p.cutoff,
            )
    return result


@dataclass
class RetentionJob:
    """The scheduled retention run: one pooled connection per run, totals since start."""

    pool: ConnectionPool
    policy: RetentionPolicy
    chunks_dropped: int = 0
    runs: int = 0

    def run_once(self) -> RetentionResult:
        with self.pool.connection() as conn:
            result = apply_retention(conn, self.policy, datetime.now(UTC))
        self.runs += 1
        self.chunks_dropped += result.total_dropped
        return result


def schedule(
    scheduler: Any, pool: ConnectionPool, policy: RetentionPolicy, interval_s: float
) -> RetentionJob:
    """Register retention on an APScheduler 3 scheduler (job id ``retention``).

    It also runs once right after the scheduler starts, then every ``interval_s``.
    """
    job = RetentionJob(pool, policy)
    scheduler.add_job(
        job.run_once,
        "interval",
        id="retention",
        seconds=interval_s,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
    )
    return job

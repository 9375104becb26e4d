"""Rollups and retention against the real TimescaleDB (the Apache edition's platform jobs).

Readings go in through ``BatchWriter`` (which marks their minutes dirty); rollups are
compared with hand-computed values and with aggregating ``readings`` directly.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from psycopg import sql
from psycopg_pool import ConnectionPool

from device_sim.fleet import load_fleet
from ingest import retention, rollups
from ingest.batch import Reading
from ingest.catalog import load_catalog
from ingest.retention import RetentionPolicy, apply_retention
from ingest.rollups import MARK_DIRTY_MINUTES_SQL, ROLLUP_LOCK_KEY, refresh_rollups
from ingest.writer import BatchWriter
from models.store import write_health
from prognos import migrations
from prognos.localservices import Endpoints
from prognos.seed import seed
from prognos.timescale import TimescaleEdition
from tests.health_rows import health_row

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # refresh never looks at the clock
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # "now" for retention
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
COLUMNS = "bucket, equipment_id, channel_id, min, max, mean, count, last, last_time"
Row = tuple[Any, ...]


@dataclass(frozen=True)
class Ids:
    cp1: int
    cp2: int
    coolant: int
    pressure: int


@pytest.fixture
def ids(conn: psycopg.Connection[Any]) -> Ids:
    seed(conn, load_fleet(DEMO_FLEET))
    catalog = load_catalog(conn)
    cp1, cp2 = catalog.get("CP-0001"), catalog.get("CP-0002")
    assert cp1 is not None
    assert cp2 is not None
    return Ids(
        cp1.id, cp2.id, cp1.channels["coolant_temp"].id, cp1.channels["hydraulic_pressure"].id
    )


@pytest.fixture
def writer(database_url: str) -> Iterator[BatchWriter]:
    w = BatchWriter(database_url)
    yield w
    w.close()


def rollup(conn: psycopg.Connection[Any], table: str, where: str = "true") -> list[Row]:
    return conn.execute(
        f"SELECT {COLUMNS} FROM {table} WHERE {where} ORDER BY equipment_id, channel_id, bucket".encode()
    ).fetchall()


def direct(conn: psycopg.Connection[Any], width: str) -> list[Row]:
    """The rollup computed straight from readings, for comparison."""
    return conn.execute(
        "SELECT time_bucket(%s::interval, time), equipment_id, channel_id, min(value), "
        "max(value), avg(value), count(*), last(value, time), max(time) FROM readings "
        "GROUP BY 1, 2, 3 ORDER BY 2, 3, 1",
        (width,),
    ).fetchall()


def assert_same(actual: Sequence[Row], expected: Sequence[Row]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        # bucket, machine, channel, min, max, count, last, last_time exactly; mean to rounding
        assert (*got[:5], *got[6:]) == (*want[:5], *want[6:])
        assert got[5] == pytest.approx(want[5], rel=1e-12)


def dirty(conn: psycopg.Connection[Any]) -> dict[str, set[datetime]]:
    out: dict[str, set[datetime]] = {}
    for level, bucket in conn.execute("SELECT level, bucket FROM rollup_dirty").fetchall():
        out.setdefault(level, set()).add(bucket)
    return out


def scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return row[0]


def chunks(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """A hypertable's chunks, oldest first, named as drop_chunks names them."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT format('%%I.%%I', chunk_schema, chunk_name)::regclass::text "
            "FROM timescaledb_information.chunks WHERE hypertable_name = %s ORDER BY range_start",
            (table,),
        ).fetchall()
    ]


def ordered(rows: list[Row]) -> list[Row]:
    """Rows in the order rollup() returns them: machine, channel, bucket."""
    return sorted(rows, key=lambda row: (row[1], row[2], row[0]))


def test_minute_and_hour_rollups_by_hand(
    conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter
) -> None:
    m0, m1 = T0, T0 + M
    writer.write(
        [
            Reading(m0 + 5 * S, ids.cp1, ids.coolant, 1.0),
            Reading(m0 + 50 * S, ids.cp1, ids.coolant, 2.5),
            Reading(m0 + 20 * S, ids.cp1, ids.coolant, 4.0),  # out of order in the batch
            Reading(m1, ids.cp1, ids.coolant, 7.0),  # on the boundary: the next minute's
            Reading(m1 - timedelta(microseconds=1), ids.cp1, ids.pressure, 300.0),
            Reading(m0 + 30 * S, ids.cp2, ids.coolant, 90.0),
        ]
    )
    assert dirty(conn) == {"1m": {m0, m1}}
    assert scalar(conn, "SELECT count(*) FROM readings_1m") == 0

    counts = refresh_rollups(conn)

    assert counts["minutes"] == 2
    assert counts["hours"] == 1
    assert counts["busy"] == 0
    assert dirty(conn) == {}
    assert rollup(conn, "readings_1m") == ordered(
        [
            (m0, ids.cp1, ids.coolant, 1.0, 4.0, 2.5, 3, 2.5, m0 + 50 * S),
            (m1, ids.cp1, ids.coolant, 7.0, 7.0, 7.0, 1, 7.0, m1),
            (
                m0,
                ids.cp1,
                ids.pressure,
                300.0,
                300.0,
                300.0,
                1,
                300.0,
                m1 - timedelta(microseconds=1),
            ),
            (m0, ids.cp2, ids.coolant, 90.0, 90.0, 90.0, 1, 90.0, m0 + 30 * S),
        ]
    )
    assert rollup(conn, "readings_1h") == ordered(
        [
            (T0, ids.cp1, ids.coolant, 1.0, 7.0, 3.625, 4, 7.0, m1),
            (
                T0,
                ids.cp1,
                ids.pressure,
                300.0,
                300.0,
                300.0,
                1,
                300.0,
                m1 - timedelta(microseconds=1),
            ),
            (T0, ids.cp2, ids.coolant, 90.0, 90.0, 90.0, 1, 90.0, m0 + 30 * S),
        ]
    )


def test_rollups_equal_direct_aggregation_and_a_second_refresh_is_a_no_op(
    conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter
) -> None:
    rng = random.Random(20261122)
    readings: list[Reading] = []
    for eq in (ids.cp1, ids.cp2):
        for ch in (ids.coolant, ids.pressure):
            at = T0 - 7 * M + rng.randint(0, 9_999_999) * timedelta(microseconds=1)
            while at < T0 + 3 * H:
                readings.append(Reading(at, eq, ch, rng.uniform(-40.0, 400.0)))
                at += timedelta(milliseconds=rng.randint(3_000, 15_000))
    rng.shuffle(readings)  # every batch touches minutes all over the three hours
    for start in range(0, len(readings), 700):
        writer.write(readings[start : start + 700])

    counts = refresh_rollups(conn, max_buckets=25, max_batches=None)

    assert counts["batches"] > 1
    assert counts["minutes"] == 3 * 60 + 7
    assert counts["hours"] == 4
    assert dirty(conn) == {}
    assert_same(rollup(conn, "readings_1m"), direct(conn, "1 minute"))
    assert_same(rollup(conn, "readings_1h"), direct(conn, "1 hour"))
    assert scalar(conn, "SELECT sum(count) FROM readings_1m") == len(readings)
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == len(readings)

    versions = "SELECT xmin::text, bucket FROM {} ORDER BY equipment_id, channel_id, bucket"
    before = [
        conn.execute(versions.format(t).encode()).fetchall() for t in ("readings_1m", "readings_1h")
    ]
    again = refresh_rollups(conn, max_batches=None)
    assert (again["minutes"], again["hours"], again["minute_rows"], again["hour_rows"]) == (
        0,
        0,
        0,
        0,
    )
    after = [
        conn.execute(versions.format(t).encode()).fetchall() for t in ("readings_1m", "readings_1h")
    ]
    assert after == before  # not a single row rewritten

    redelivered = writer.write(readings[:700])  # a redelivery stores nothing ...
    assert redelivered.inserted == 0
    assert dirty(conn) == {}  # ... and marks nothing


def test_late_data_for_an_old_minute_updates_its_minute_and_hour(
    conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter
) -> None:
    writer.write(
        [Reading(T0 + i * 10 * S, ids.cp1, ids.coolant, 50.0 + i % 7) for i in range(2 * 360)]
    )
    refresh_rollups(conn, max_batches=None)
    minute = T0 + 5 * M
    (old,) = rollup(conn, "readings_1m", f"bucket = '{minute.isoformat()}'")
    assert (old[3], old[4], old[6]) == (50.0, 56.0, 6)
    hour_before = rollup(conn, "readings_1h", f"bucket = '{T0.isoformat()}'")
    second_hour = f"SELECT xmin::text FROM readings_1h WHERE bucket = '{(T0 + H).isoformat()}'"
    second_hour_version = scalar(conn, second_hour)

    late = [
        Reading(minute + 3 * S, ids.cp1, ids.coolant, 999.0),  # a new maximum
        Reading(minute + 59 * S, ids.cp1, ids.coolant, -5.0),  # a new minimum, and last
    ]
    writer.write(late)
    assert dirty(conn) == {"1m": {minute}}

    counts = refresh_rollups(conn, max_batches=None)

    assert (counts["minutes"], counts["hours"], counts["folded"]) == (1, 1, 0)
    (new,) = rollup(conn, "readings_1m", f"bucket = '{minute.isoformat()}'")
    assert new[3:] == (
        -5.0,
        999.0,
        pytest.approx((old[5] * 6 + 999.0 - 5.0) / 8),
        8,
        -5.0,
        minute + 59 * S,
    )
    assert_same(rollup(conn, "readings_1m"), direct(conn, "1 minute"))
    assert_same(rollup(conn, "readings_1h"), direct(conn, "1 hour"))
    hour_after = rollup(conn, "readings_1h", f"bucket = '{T0.isoformat()}'")
    assert hour_after[0][6] == hour_before[0][6] + 2
    assert (hour_after[0][3], hour_after[0][4]) == (-5.0, 999.0)
    assert scalar(conn, second_hour) == second_hour_version  # the other hour: not rewritten
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == 2 * 360 + 2


def test_a_batch_committing_during_a_refresh_is_not_lost(
    conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter, database_url: str
) -> None:
    writer.write([Reading(T0 + S, ids.cp1, ids.coolant, 1.0)])  # minute T0 is dirty
    with psycopg.connect(database_url) as other:  # another ingest batch, not committed yet
        other.execute(
            "INSERT INTO readings (time, equipment_id, channel_id, value) VALUES (%s, %s, %s, %s)",
            (T0 + 2 * S, ids.cp1, ids.coolant, 50.0),
        )
        other.execute(MARK_DIRTY_MINUTES_SQL, ([T0],))

        first = refresh_rollups(conn)  # sees the committed mark and reading only

        assert first["minutes"] == 1
        assert scalar(conn, "SELECT count FROM readings_1m") == 1
        other.commit()
    second = refresh_rollups(conn)
    assert second["minutes"] == 1
    assert rollup(conn, "readings_1m")[0][3:7] == (1.0, 50.0, 25.5, 2)


def test_refresh_is_bounded_and_one_at_a_time(
    conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter, database_url: str
) -> None:
    writer.write([Reading(T0 + i * M, ids.cp1, ids.coolant, float(i)) for i in range(5)])

    one = refresh_rollups(conn, max_buckets=2)

    assert (one["batches"], one["minutes"], one["hours"]) == (2, 2, 1)  # one of each level
    assert dirty(conn) == {"1m": {T0 + 2 * M, T0 + 3 * M, T0 + 4 * M}}

    with psycopg.connect(database_url) as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,))
        busy = refresh_rollups(conn)
        assert busy["busy"] == 1
        assert busy["minutes"] == 0
        assert len(dirty(conn)["1m"]) == 3

    rest = refresh_rollups(conn, max_buckets=2, max_batches=None)
    assert (rest["minutes"], rest["busy"]) == (3, 0)
    assert dirty(conn) == {}
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == 5
    with pytest.raises(ValueError, match="max_buckets"):
        refresh_rollups(conn, max_buckets=0)


def test_retention_drops_old_chunks_but_never_what_rollups_still_need(
    conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter
) -> None:
    policy = RetentionPolicy(raw_days=30, minute_days=45, hourly_days=None)
    a, b, c, d = NOW - 60 * D, NOW - 40 * D, NOW - 10 * D, NOW - H  # minute starts
    eq, ch = ids.cp1, ids.coolant
    writer.write(
        [
            Reading(a + 10 * S, eq, ch, 10.0),
            Reading(a + 20 * S, eq, ch, 11.0),
            Reading(a + M + 5 * S, eq, ch, 12.0),
            Reading(b + 10 * S, eq, ch, 20.0),
            Reading(b + 20 * S, eq, ch, 21.0),
            Reading(b + 30 * S, eq, ch, 22.0),
            Reading(c + 10 * S, eq, ch, 30.0),
            Reading(c + 20 * S, eq, ch, 31.0),
            Reading(d + 10 * S, eq, ch, 40.0),
            Reading(d + 20 * S, eq, ch, 41.0),
        ]
    )
    written = 10
    raw_chunks = chunks(conn, "readings")
    assert len(raw_chunks) == 4  # one per day: a, b, c, d

    # 1. Nothing refreshed yet: every old raw chunk is still needed.
    held = apply_retention(conn, policy, NOW)
    assert held.dropped == {}
    assert held.held_back == {"readings": 2}
    assert chunks(conn, "readings") == raw_chunks

    # 2. Refreshed: raw older than 30 days and minutes older than 45 days go.
    refresh_rollups(conn, max_batches=None)
    hourly_chunks = chunks(conn, "readings_1h")
    hourly_rows = rollup(conn, "readings_1h")
    minute_before = rollup(conn, "readings_1m")
    done = apply_retention(conn, policy, NOW)
    assert sorted(done.dropped) == ["readings", "readings_1m"]
    assert sorted(done.dropped["readings"]) == sorted(raw_chunks[:2])
    assert len(done.dropped["readings_1m"]) == 1
    assert done.held_back == {}
    assert scalar(conn, "SELECT count(*) FROM readings") == 4
    assert [r[0] for r in rollup(conn, "readings_1m")] == [b, c, d]
    assert rollup(conn, "readings_1m") == minute_before[2:]  # a's two minutes dropped
    assert chunks(conn, "readings_1h") == hourly_chunks  # hourly_days=None: kept, untouched
    assert rollup(conn, "readings_1h") == hourly_rows
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == written
    horizon = dict(conn.execute("SELECT hypertable, dropped_before FROM retention_horizon"))
    assert horizon["readings"] == b.replace(hour=0) + D  # the end of b's daily chunk
    assert a < horizon["readings_1m"] <= b

    # 3. A late reading 35 days old is in a chunk retention would drop: kept until refreshed.
    e = NOW - 35 * D
    writer.write([Reading(e + S, eq, ch, 35.0)])
    written += 1
    kept = apply_retention(conn, policy, NOW)
    assert kept.dropped.get("readings", []) == []
    assert kept.held_back == {"readings": 1}
    assert scalar(conn, "SELECT count(*) FROM readings") == 5
    refresh_rollups(conn, max_batches=None)
    assert rollup(conn, "readings_1m", f"bucket = '{e.isoformat()}'")[0][6] == 1
    assert len(apply_retention(conn, policy, NOW).dropped["readings"]) == 1
    assert scalar(conn, "SELECT count(*) FROM readings") == 4
    horizon = dict(conn.execute("SELECT hypertable, dropped_before FROM retention_horizon"))
    assert horizon["readings"] == e.replace(hour=0) + D

    # 4. Late readings for minutes whose raw data (b) or minute rollups (a) are gone:
    #    folded into the rollups that exist, counted once, never replacing them.
    writer.write([Reading(b + 40 * S, eq, ch, 500.0), Reading(a + 30 * S, eq, ch, -100.0)])
    written += 2
    counts = refresh_rollups(conn, max_batches=None)
    assert counts["folded"] == 3  # minutes a and b; hour a (its minutes are gone)
    (minute_b,) = rollup(conn, "readings_1m", f"bucket = '{b.isoformat()}'")
    assert minute_b[3:] == (20.0, 500.0, pytest.approx(563.0 / 4), 4, 500.0, b + 40 * S)
    assert rollup(conn, "readings_1m", f"bucket < '{b.isoformat()}'") == []
    (hour_a,) = rollup(conn, "readings_1h", f"bucket = '{a.isoformat()}'")
    assert hour_a[3:] == (-100.0, 12.0, pytest.approx(-67.0 / 4), 4, 12.0, a + M + 5 * S)
    (hour_b,) = rollup(conn, "readings_1h", f"bucket = '{b.isoformat()}'")
    assert hour_b[3:] == minute_b[3:]
    assert scalar(conn, "SELECT count(*) FROM readings") == 4  # the folded rows went
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == written
    assert dirty(conn) == {}

    # 5. The chunks the late data created are empty and dropped; horizons never go back.
    last = apply_retention(conn, policy, NOW)
    assert last.total_dropped == 3  # raw: a's and b's days; minutes: a's week
    assert dict(conn.execute("SELECT hypertable, dropped_before FROM retention_horizon")) == horizon
    assert chunks(conn, "readings_1h") == hourly_chunks
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == written


def test_retention_drops_health_rows_older_than_their_age_limit(
    conn: psycopg.Connection[Any], ids: Ids
) -> None:
    ages = [120 * D, 100 * D, 10 * D, H]  # health chunks are 7 days wide
    rows = [health_row(ids.cp1, NOW - age, 90.0) for age in ages]
    assert write_health(conn, pd.DataFrame(rows)) == 4
    before = chunks(conn, "health")
    assert len(before) == 4

    kept = apply_retention(conn, RetentionPolicy(health_days=None), NOW)
    assert kept.total_dropped == 0  # "keep" keeps the scored windows
    done = apply_retention(conn, RetentionPolicy(health_days=90), NOW)
    assert done.dropped == {"health": before[:2]}
    times = [r[0] for r in conn.execute("SELECT time FROM health ORDER BY time").fetchall()]
    assert times == [NOW - 10 * D, NOW - H]
    horizon = dict(conn.execute("SELECT hypertable, dropped_before FROM retention_horizon"))
    assert NOW - 100 * D < horizon["health"] <= NOW - 90 * D  # the end of the newer chunk


def test_retention_waits_for_a_batch_in_flight_and_keeps_what_it_marked(
    conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter, database_url: str
) -> None:
    policy = RetentionPolicy(raw_days=30, minute_days=45)
    old = NOW - 40 * D
    eq, ch = ids.cp1, ids.coolant
    writer.write([Reading(old + S, eq, ch, 1.0)])
    refresh_rollups(conn, max_batches=None)  # clean: the chunk may go ...
    outcome: list[Any] = []
    with psycopg.connect(database_url) as batch:  # ... but a late batch for it is open
        batch.execute(
            "INSERT INTO readings (time, equipment_id, channel_id, value) VALUES (%s, %s, %s, %s)",
            (old + M + S, eq, ch, 2.0),
        )
        batch.execute(MARK_DIRTY_MINUTES_SQL, ([old + M],))
        with psycopg.connect(database_url, autocommit=True) as other:

            def run() -> None:
                try:
                    outcome.append(apply_retention(other, policy, NOW))
                except Exception as exc:  # pragma: no cover - reported below
                    outcome.append(exc)

            thread = threading.Thread(target=run)
            thread.start()
            thread.join(1.0)
            assert thread.is_alive(), "retention did not wait for the batch in flight"
            batch.commit()
            thread.join(30)
    (result,) = outcome
    assert not isinstance(result, Exception), result
    assert result.dropped == {}
    assert result.held_back == {"readings": 1}
    assert scalar(conn, "SELECT count(*) FROM readings") == 2
    refresh_rollups(conn, max_batches=None)
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == 2
    assert len(apply_retention(conn, policy, NOW).dropped["readings"]) == 1


def test_late_data_after_a_gap_is_counted_once_when_its_minutes_are_gone(
    conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter
) -> None:
    # Readings on the first day of a minute chunk only: retention drops that one raw
    # day but the whole week of minutes, so the minutes' horizon is 6 days newer than
    # the raw one. Late readings in between must be folded, not recomputed, or the
    # hour would count a reading again each time its minute is refreshed.
    policy = RetentionPolicy(raw_days=30, minute_days=30)
    week = 7 * D
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + ((NOW - 60 * D - epoch) // week) * week
    eq, ch = ids.cp1, ids.coolant
    writer.write([Reading(start + 10 * S, eq, ch, 1.0)])
    refresh_rollups(conn, max_batches=None)
    assert conn.execute(
        "SELECT range_start, range_end FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'readings_1m'"
    ).fetchall() == [(start, start + week)]
    assert apply_retention(conn, policy, NOW).total_dropped == 2
    horizon = dict(conn.execute("SELECT hypertable, dropped_before FROM retention_horizon"))
    assert horizon == {"readings": start + D, "readings_1m": start + week}

    late = start + 3 * D
    for value in (5.0, 7.0):  # two late readings for the same minute, refreshed apart
        writer.write([Reading(late + value * S, eq, ch, value)])
        refresh_rollups(conn, max_batches=None)

    (hour,) = rollup(conn, "readings_1h", f"bucket = '{late.isoformat()}'")
    assert hour[3:] == (5.0, 7.0, 6.0, 2, 7.0, late + 7 * S)
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == 3
    assert scalar(conn, "SELECT count(*) FROM readings") == 0  # folded, then deleted


def test_schedule_registers_single_coalescing_jobs(
    pool: ConnectionPool, conn: psycopg.Connection[Any], ids: Ids, writer: BatchWriter
) -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    edition = TimescaleEdition(version="2.19.3", license="apache")
    refresh_job = rollups.schedule(scheduler, pool, edition, 5.0, max_buckets=10)
    retention_job = retention.schedule(scheduler, pool, RetentionPolicy(), 3600.0)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert sorted(jobs) == ["retention", "rollups"]
    for job in jobs.values():
        assert job.max_instances == 1
        assert job.coalesce is True

    start = datetime.now(UTC).replace(second=0, microsecond=0) - 10 * M
    writer.write([Reading(start + i * 30 * S, ids.cp1, ids.coolant, float(i)) for i in range(4)])
    counts = refresh_job.run_once()
    assert counts["minutes"] == 2
    assert refresh_job.totals["minutes"] == 2
    assert scalar(conn, "SELECT sum(count) FROM readings_1h") == 4
    result = retention_job.run_once()  # ten minutes old: nothing to drop
    assert (retention_job.runs, retention_job.chunks_dropped, result.total_dropped) == (1, 0, 0)
    assert scalar(conn, "SELECT count(*) FROM readings") == 4


def test_the_migration_queues_readings_stored_before_it(
    endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(endpoints.database_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as server:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(url, autocommit=True) as db:
            shipped = migrations.available()
            monkeypatch.setattr(migrations, "available", lambda: shipped[:1])
            migrations.migrate(db)  # a database of the previous version, with readings
            db.execute(
                "INSERT INTO readings VALUES (%s, 1, 1, 1.0), (%s, 1, 1, 3.0), (%s, 2, 1, 5.0)",
                (T0 + 30 * S, T0 + 2 * H + 5 * M, T0 + 40 * S),
            )
            monkeypatch.setattr(migrations, "available", lambda: shipped)
            assert [m.name for m in migrations.migrate(db)] == [m.name for m in shipped[1:]]
            assert dirty(db) == {"1m": {T0 + i * M for i in range(2 * 60 + 6)}}
            refresh_rollups(db, max_batches=None)
            assert_same(rollup(db, "readings_1m"), direct(db, "1 minute"))
            assert_same(rollup(db, "readings_1h"), direct(db, "1 hour"))
            assert scalar(db, "SELECT sum(count) FROM readings_1h") == 3
    finally:
        with psycopg.connect(admin, autocommit=True) as server:
            server.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

"""The benchmark's database: its fleet, fresh databases, and the phases that need no broker:
the writer's ceiling (with and without the unique index), decoding alone, and the naive
one-INSERT-per-reading baseline."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from psycopg import sql

from device_sim.fleet import parse_fleet
from device_sim.load import LoadPlan
from ingest.batch import ReadingBatch
from ingest.catalog import load_catalog
from ingest.protocol import decode
from ingest.writer import BatchWriter
from prognos import migrations
from prognos.seed import seed

CHANNELS = ("c0", "c1", "c2", "c3", "c4")
PREFIX = "prognos-bench/v1"


def bench_fleet(machines: int) -> dict[str, Any]:
    return {
        "seed": 1,
        "families": [{"code": "bench", "name": "Benchmark machine"}],
        "models": [
            {
                "code": "BENCH-5",
                "family": "bench",
                "name": "Five-channel benchmark model",
                "channels": [
                    {
                        "code": c,
                        "unit": "u",
                        "nominal": 0,
                        "valid": [-1e15, 1e15],
                        "physical": [-1e15, 1e15],
                    }
                    for c in CHANNELS
                ],
            }
        ],
        "customers": [{"code": "C-BENCH", "name": "Benchmark"}],
        "equipment": [
            {
                "serial": f"B-{i:05d}",
                "model": "BENCH-5",
                "customer": "C-BENCH",
                "lat": 30.0,
                "lon": 114.0,
                "commissioned": date(2026, 1, 1),
                "warranty_end": date(2028, 1, 1),
            }
            for i in range(machines)
        ],
    }


def with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def fresh_database(
    admin_url: str, name: str, machines: int
) -> tuple[str, dict[str, tuple[int, list[int]]]]:
    with psycopg.connect(with_dbname(admin_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin_url, name)
    with psycopg.connect(url) as conn:
        migrations.migrate(conn)
        seed(conn, parse_fleet(bench_fleet(machines), "<bench>"))
        catalog = load_catalog(conn)
    ids = {s: (e.id, [e.channels[c].id for c in CHANNELS]) for s, e in catalog.equipment.items()}
    return url, ids


def truncate(url: str) -> None:
    """Empty the tables and checkpoint, so every phase starts from the same state (no
    checkpoint left pending from the phase before to slow it down)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE readings, dead_letters, rollup_dirty")
        conn.execute("CHECKPOINT")


def verify(url: str, total: int) -> tuple[int, int]:
    """(lost, duplicated) for readings valued 0..total-1, each expected exactly once."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT value) FROM readings").fetchone()
    assert row is not None  # noqa: S101
    count, distinct = int(row[0]), int(row[1])
    return total - distinct, count - distinct


def measure_ceiling(
    url: str, ids: dict[str, tuple[int, list[int]]], rows: int, batch: int = 5000
) -> float:
    eq = np.array([ids[s][0] for s in sorted(ids)], np.int32)
    chans = np.array(ids[sorted(ids)[0]][1], np.int16)
    idx = np.arange(rows)
    per_sample = len(eq) * len(chans)
    base_us = (int(time.time()) - 3600) * 1_000_000
    batches = []
    for start in range(0, rows, batch):
        i = idx[start : start + batch]
        batches.append(
            ReadingBatch.from_columns(
                base_us + (i // per_sample).astype(np.int64),
                eq[(i // len(chans)) % len(eq)],
                chans[i % len(chans)],
                i.astype(np.float64),
            )
        )
    writer = BatchWriter(url)
    try:
        started = time.perf_counter()
        for b in batches:
            writer.write(b)
        return rows / (time.perf_counter() - started)
    finally:
        writer.close()


def measure_plain_index(url: str, ids: dict[str, tuple[int, list[int]]], rows: int) -> float:
    """The same COPY into a copy of the table whose index is not unique (no dedupe)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX readings_identity_idx")
        conn.execute(
            "CREATE INDEX readings_plain_idx ON readings (equipment_id, channel_id, time DESC)"
        )
    try:
        truncate(url)
        return measure_ceiling(url, ids, rows)
    finally:
        truncate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP INDEX readings_plain_idx")
            conn.execute(
                "CREATE UNIQUE INDEX readings_identity_idx "
                "ON readings (equipment_id, channel_id, time DESC)"
            )


def measure_decode(url: str, machines: list[str], messages: int = 20_000) -> float:
    """Readings/s that protocol v1 decoding and validation alone reach on one core.

    Measured beside the ceiling to tell whether a compact payload (MessagePack, arrays)
    could pay: while decoding is several times faster than the database takes rows,
    a cheaper format cannot raise the end-to-end rate (docs/benchmarks.md).
    """
    with psycopg.connect(url) as conn:
        catalog = load_catalog(conn)
    plan = LoadPlan(
        serials=tuple(machines),
        channels=CHANNELS,
        messages_per_machine=max(messages // len(machines), 1),
        samples_per_message=10,
        base_ms=(int(time.time()) - 3600) * 1000,
        prefix=PREFIX,
    )
    payloads = [
        (f"{PREFIX}/{plan.serials[k]}/telemetry", plan.payload(r, k))
        for r in range(plan.messages_per_machine)
        for k in range(len(machines))
    ]
    now = datetime.now(UTC)
    started = time.perf_counter()
    readings = sum(
        len(decode(t, p, catalog=catalog, prefix=PREFIX, now=now).values) for t, p in payloads
    )
    return readings / (time.perf_counter() - started)


def measure_naive(url: str, ids: dict[str, tuple[int, list[int]]], seconds: float) -> float:
    eq, chans = ids[sorted(ids)[0]]
    base = datetime.now(UTC) - timedelta(hours=1)
    n = 0
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute(
                "INSERT INTO readings (time, equipment_id, channel_id, value) VALUES (%s, %s, %s, %s)",
                (base + timedelta(microseconds=n), eq, chans[n % len(chans)], float(n)),
            )
            n += 1
        return n / (time.perf_counter() - started)

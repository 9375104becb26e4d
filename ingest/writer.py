"""Batches into the database: readings by binary COPY, deduplicated; dead letters.

Readings are COPYed into a per-connection staging table and moved into the hypertable
with ``ON CONFLICT DO NOTHING`` on (equipment, channel, time), so a redelivered message
is stored once. Readings and dead letters of a batch commit in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from ingest.errors import StorageError
from ingest.protocol import Reading


@dataclass(frozen=True)
class DeadLetter:
    received_at: datetime
    topic: str
    payload: bytes
    reason: str
    detail: str
    equipment_id: int | None = None


@dataclass(frozen=True)
class WriteResult:
    offered: int
    inserted: int
    dead_letters: int

    @property
    def duplicates(self) -> int:
        return self.offered - self.inserted


_STAGE = """CREATE TEMP TABLE IF NOT EXISTS readings_stage
            (time timestamptz, equipment_id integer, channel_id smallint, value double precision)
            ON COMMIT DELETE ROWS"""


class BatchWriter:
    """Writes batches over one dedicated connection (not thread-safe: one writer thread)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self._url, connect_timeout=5)
            self._conn.execute(_STAGE)
            self._conn.commit()
        return self._conn

    def write(self, readings: Sequence[Reading], dead_letters: Sequence[DeadLetter]) -> WriteResult:
        try:
            conn = self._connection()
            with conn.transaction():
                inserted = 0
                if readings:
                    with conn.cursor() as cur:
                        with cur.copy(
                            "COPY readings_stage (time, equipment_id, channel_id, value) "
                            "FROM STDIN (FORMAT BINARY)"
                        ) as copy:
                            copy.set_types(["timestamptz", "int4", "int2", "float8"])
                            for r in readings:
                                copy.write_row((r.time, r.equipment_id, r.channel_id, r.value))
                        cur.execute(
                            "INSERT INTO readings (time, equipment_id, channel_id, value) "
                            "SELECT time, equipment_id, channel_id, value FROM readings_stage "
                            "ON CONFLICT DO NOTHING"
                        )
                        inserted = max(cur.rowcount, 0)
                if dead_letters:
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO dead_letters "
                            "(received_at, topic, payload, reason, detail, equipment_id) "
                            "VALUES (%s, %s, %s, %s, %s, %s)",
                            [
                                (
                                    d.received_at,
                                    d.topic,
                                    d.payload,
                                    d.reason,
                                    d.detail,
                                    d.equipment_id,
                                )
                                for d in dead_letters
                            ],
                        )
        except psycopg.Error as exc:
            self.close()
            raise StorageError(f"batch of {len(readings)} readings not stored: {exc}") from exc
        return WriteResult(len(readings), inserted, len(dead_letters))

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

"""Batches into the database: readings by binary COPY, stored once each; dead letters.

The fast path COPYs a batch straight into the readings hypertable, whose unique index
on (equipment, channel, time) refuses a reading that is already there. Such a conflict
only happens when messages are redelivered (after a crash or a reconnect); the batch is
then rolled back and written through a staging table with ``ON CONFLICT DO NOTHING``,
so every reading is stored once and the common case pays only for the index. Readings
and dead letters of a batch commit in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors

from ingest.batch import ReadingBatch
from ingest.errors import StorageError
from ingest.rollups import MARK_DIRTY_MINUTES_SQL


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
    slow_path: bool = False

    @property
    def duplicates(self) -> int:
        return self.offered - self.inserted


_STAGE = """CREATE TEMP TABLE IF NOT EXISTS readings_stage
            (time timestamptz, equipment_id integer, channel_id smallint, value double precision)
            ON COMMIT DELETE ROWS"""
_COPY_READINGS = "COPY readings (time, equipment_id, channel_id, value) FROM STDIN (FORMAT BINARY)"
_COPY_STAGE = (
    "COPY readings_stage (time, equipment_id, channel_id, value) FROM STDIN (FORMAT BINARY)"
)
_MERGE_STAGE = """INSERT INTO readings (time, equipment_id, channel_id, value)
                  SELECT time, equipment_id, channel_id, value FROM readings_stage
                  ON CONFLICT DO NOTHING"""


class BatchWriter:
    """Writes batches over one dedicated connection (not thread-safe: one writer thread)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection[Any] | None = None
        self.slow_batches = 0

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self._url, connect_timeout=5)
            self._conn.execute(_STAGE)
            self._conn.commit()
        return self._conn

    def write(
        self, batch: ReadingBatch | Sequence[Any], dead_letters: Sequence[DeadLetter] = ()
    ) -> WriteResult:
        """Store a batch (a ReadingBatch, or a sequence of Reading) and its dead letters."""
        readings = batch if isinstance(batch, ReadingBatch) else ReadingBatch.from_readings(batch)
        payload = readings.copy_payload() if len(readings) else b""
        try:
            conn = self._connection()
            try:
                with conn.transaction():
                    if payload:
                        with conn.cursor() as cur, cur.copy(_COPY_READINGS) as copy:
                            copy.write(payload)
                        conn.execute(MARK_DIRTY_MINUTES_SQL, (readings.minutes(),))
                    self._dead_letters(conn, dead_letters)
                return WriteResult(len(readings), len(readings), len(dead_letters))
            except errors.UniqueViolation:
                pass  # some readings are stored already: a redelivery
            self.slow_batches += 1
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(_COPY_STAGE) as copy:
                    copy.write(payload)
                cur.execute(_MERGE_STAGE)
                inserted = max(cur.rowcount, 0)
                if inserted:  # rollups: the minutes to recompute (ingest/rollups.py)
                    cur.execute(MARK_DIRTY_MINUTES_SQL, (readings.minutes(),))
                self._dead_letters(conn, dead_letters)
            return WriteResult(len(readings), inserted, len(dead_letters), slow_path=True)
        except psycopg.Error as exc:
            self.close()
            raise StorageError(f"batch of {len(readings)} readings not stored: {exc}") from exc

    @staticmethod
    def _dead_letters(conn: psycopg.Connection[Any], dead_letters: Sequence[DeadLetter]) -> None:
        if not dead_letters:
            return
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters "
                "(received_at, topic, payload, reason, detail, equipment_id) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (d.received_at, d.topic, d.payload, d.reason, d.detail, d.equipment_id)
                    for d in dead_letters
                ],
            )

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

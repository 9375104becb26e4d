"""Columnar batches and their binary COPY encoding; the vectorised range screen."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import numpy as np

from alerts.rules import ChannelLimit, LimitArrays
from ingest.batch import Reading, ReadingBatch, from_us, to_us

T0 = datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=UTC)


def test_microseconds_round_trip_exactly() -> None:
    assert to_us(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert to_us(datetime(2000, 1, 1, tzinfo=UTC)) == 946_684_800_000_000
    assert from_us(to_us(T0)) == T0


def test_batch_round_trips_readings() -> None:
    readings = [Reading(T0 + timedelta(seconds=i), 7, 3 + i % 2, 1.5 * i) for i in range(5)]
    batch = ReadingBatch.from_readings(readings)
    assert len(batch) == 5
    assert list(batch) == readings
    assert batch.channel_id.dtype == np.int16


def test_copy_payload_is_postgres_binary_copy() -> None:
    batch = ReadingBatch()
    batch.extend(42, [to_us(T0)], [5], [2.5])
    payload = batch.copy_payload()
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    assert payload.startswith(header)
    assert payload.endswith(b"\xff\xff")
    row = payload[len(header) : -2]
    pg_us = to_us(T0) - 946_684_800_000_000
    expected = struct.pack(">hiqiiihid", 4, 8, pg_us, 4, 42, 2, 5, 8, 2.5)
    assert row == expected
    assert len(row) == 2 + (4 + 8) + (4 + 4) + (4 + 2) + (4 + 8)


def test_extend_after_freeze_keeps_everything() -> None:
    batch = ReadingBatch()
    batch.extend(1, [1, 2], [1, 1], [0.0, 1.0])
    assert len(batch.freeze().time_us) == 2
    batch.extend(2, [3], [2], [5.0])
    assert batch.freeze().equipment_id.tolist() == [1, 1, 2]


def test_minutes_are_distinct_and_floored() -> None:
    batch = ReadingBatch()
    times = [T0, T0 + timedelta(seconds=10), T0 + timedelta(minutes=1), T0 - timedelta(minutes=3)]
    batch.extend(1, [to_us(t) for t in times], [1] * 4, [0.0] * 4)
    floor = T0.replace(second=0, microsecond=0)
    assert batch.minutes() == [floor - timedelta(minutes=3), floor, floor + timedelta(minutes=1)]


def test_limit_arrays_screen_like_the_scalar_rule() -> None:
    limits = {
        2: ChannelLimit(2, "coolant_temp", "C", 40.0, 105.0, "major"),
        5: ChannelLimit(5, "oil_pressure", "bar", 2.0, None, "critical"),
    }
    arrays = LimitArrays(limits)
    channels = np.array([2, 2, 2, 5, 5, 3, 99], dtype=np.int16)
    values = np.array([39.9, 50.0, 105.1, 1.9, 1e9, -1e9, 1e9])
    assert arrays.outside(channels, values).tolist() == [
        True,
        False,
        True,
        True,
        False,
        False,
        False,
    ]
    for ch, v, out in zip(
        channels.tolist(), values.tolist(), arrays.outside(channels, values).tolist(), strict=True
    ):
        limit = limits.get(ch)
        assert out == (limit is not None and limit.violation(v) is not None)

"""Columnar batches of readings, and their PostgreSQL binary COPY encoding.

A batch holds four NumPy columns (time in microseconds since the Unix epoch, machine
id, channel id, value). Encoding the whole batch for ``COPY ... (FORMAT BINARY)`` is one
vectorised NumPy operation, so the database, not Python, sets the pace of a write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PG_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01, PostgreSQL's timestamp origin
_ONE_US = timedelta(microseconds=1)

# One binary COPY row of readings (time, equipment_id, channel_id, value): a field
# count, then each field as its length and its big-endian value.
_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("time_len", ">i4"),
        ("time", ">i8"),
        ("eq_len", ">i4"),
        ("equipment_id", ">i4"),
        ("ch_len", ">i4"),
        ("channel_id", ">i2"),
        ("value_len", ">i4"),
        ("value", ">f8"),
    ]
)
_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_TRAILER = b"\xff\xff"


def to_us(at: datetime) -> int:
    """Exact microseconds since the Unix epoch of an aware datetime."""
    return (at - UNIX_EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True)
class Reading:
    """One stored value: a machine's channel at an instant."""

    time: datetime
    equipment_id: int
    channel_id: int
    value: float


class ReadingBatch:
    """Readings as columns: ``extend`` per message then ``freeze``, or ``from_columns``.

    Do not ``extend`` a batch made ``from_columns``.
    """

    def __init__(self) -> None:
        self._time: list[int] = []
        self._equipment: list[int] = []
        self._channel: list[int] = []
        self._value: list[float] = []
        self.time_us: NDArray[np.int64] = np.empty(0, np.int64)
        self.equipment_id: NDArray[np.int32] = np.empty(0, np.int32)
        self.channel_id: NDArray[np.int16] = np.empty(0, np.int16)
        self.value: NDArray[np.float64] = np.empty(0, np.float64)

    @classmethod
    def from_readings(cls, readings: Sequence[Reading]) -> ReadingBatch:
        batch = cls()
        for r in readings:
            batch.extend(r.equipment_id, [to_us(r.time)], [r.channel_id], [r.value])
        return batch.freeze()

    @classmethod
    def from_columns(
        cls,
        time_us: NDArray[np.int64],
        equipment_id: NDArray[np.int32],
        channel_id: NDArray[np.int16],
        value: NDArray[np.float64],
    ) -> ReadingBatch:
        batch = cls()
        batch.time_us = np.asarray(time_us, np.int64)
        batch.equipment_id = np.asarray(equipment_id, np.int32)
        batch.channel_id = np.asarray(channel_id, np.int16)
        batch.value = np.asarray(value, np.float64)
        return batch

    def extend(
        self, equipment_id: int, times_us: list[int], channel_ids: list[int], values: list[float]
    ) -> None:
        self._time.extend(times_us)
        self._equipment.extend([equipment_id] * len(times_us))
        self._channel.extend(channel_ids)
        self._value.extend(values)

    def freeze(self) -> ReadingBatch:
        """Turn what was added into the NumPy columns (idempotent)."""
        if self._time and len(self._time) != len(self.time_us):
            self.time_us = np.asarray(self._time, np.int64)
            self.equipment_id = np.asarray(self._equipment, np.int32)
            self.channel_id = np.asarray(self._channel, np.int16)
            self.value = np.asarray(self._value, np.float64)
        return self

    @property
    def pending(self) -> int:
        """Readings added and not yet frozen into the columns."""
        return len(self._time)

    def __len__(self) -> int:
        return max(len(self.time_us), len(self._time))

    def __iter__(self) -> Iterator[Reading]:
        self.freeze()
        for t, e, c, v in zip(
            self.time_us.tolist(),
            self.equipment_id.tolist(),
            self.channel_id.tolist(),
            self.value.tolist(),
            strict=True,
        ):
            yield Reading(from_us(t), e, c, v)

    def copy_payload(self) -> bytes:
        """The whole batch as one PostgreSQL binary COPY stream."""
        self.freeze()
        rows = np.empty(len(self.time_us), _ROW)
        rows["fields"] = 4
        rows["time_len"] = 8
        rows["time"] = self.time_us - _PG_EPOCH_US
        rows["eq_len"] = 4
        rows["equipment_id"] = self.equipment_id
        rows["ch_len"] = 2
        rows["channel_id"] = self.channel_id
        rows["value_len"] = 8
        rows["value"] = self.value
        return _HEADER + rows.tobytes() + _TRAILER

    def minutes(self) -> list[datetime]:
        """The distinct minutes the batch touches (for rollup bookkeeping)."""
        self.freeze()
        minute_us = np.unique(self.time_us // 60_000_000) * 60_000_000
        return [from_us(m) for m in minute_us.tolist()]

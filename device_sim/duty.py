"""Duty cycles: when each machine is scheduled to run, vectorised over machines.

Schedules (local time, UTC+8):

- ``continuous``: always running (the demo; a 24/7 plant);
- ``shifts``: one day shift starting between 06:30 and 08:30 for 9 to 11 hours, engine
  off over lunch (12:00-13:00), off at night, a weekly rest day for most machines and
  a few random days off (no job, weather);
- ``two_shifts``: about 05:30 to 22:00, same rest days.

Day-to-day choices come from a hash of (machine, day), so any instant is computed
directly, without replaying earlier days: backfill and real time agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from device_sim.cities import UTC_OFFSET_H

SCHEDULE_CODES = {"continuous": 0, "shifts": 1, "two_shifts": 2}
_DAY = 86_400.0
LUNCH_S = (12 * 3600.0, 13 * 3600.0)  # the shift schedule's engine-off lunch, local time
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def unit_hash(keys: NDArray[np.uint64], salt: int | NDArray[np.int64]) -> NDArray[np.float64]:
    """A uniform number in [0, 1) per key, fixed for (key, salt) (splitmix64).

    ``salt`` is one number, or an array (one salt per key, or many salts of one key).
    """
    if isinstance(salt, np.ndarray):
        with np.errstate(over="ignore"):
            z = keys + np.asarray(salt, np.int64).astype(np.uint64) * _GOLDEN
    else:
        z = keys + np.uint64((salt * int(_GOLDEN)) & 0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return np.asarray((z >> np.uint64(11)).astype(np.float64) / float(1 << 53), np.float64)


@dataclass(frozen=True)
class _Day:
    working: NDArray[np.bool_]
    start: NDArray[np.float64]
    length: NDArray[np.float64]


@dataclass
class Duty:
    """Per-machine schedule parameters (arrays of one entry per machine)."""

    code: NDArray[np.int8]
    keys: NDArray[np.uint64]
    rest_day: NDArray[np.int64]  # 0 = Monday ... 6 = Sunday; 7 = none
    day_off_p: NDArray[np.float64]
    start_h: NDArray[np.float64]
    length_h: NDArray[np.float64]
    # the last local day's choices (working, shift start, shift length): a simulation
    # steps through a day in thousands of steps, and each would hash them again
    _today: tuple[int, _Day] | None = field(default=None, init=False, repr=False, compare=False)
    continuous: NDArray[np.bool_] = field(init=False, repr=False, compare=False)
    _lunch: NDArray[np.bool_] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.continuous = self.code == 0
        self._lunch = self.code == 1  # the schedules with an engine-off lunch

    @classmethod
    def build(cls, schedules: list[str], keys: NDArray[np.uint64]) -> Duty:
        code = np.array([SCHEDULE_CODES[s] for s in schedules], np.int8)
        u = [unit_hash(keys, salt) for salt in (101, 102, 103, 104)]
        two = code == 2
        return cls(
            code=code,
            keys=keys,
            rest_day=np.where(u[0] < 0.7, 6, 7).astype(np.int64),
            day_off_p=0.03 + 0.09 * u[1],
            start_h=np.where(two, 5.5 + 1.0 * u[2], 6.5 + 2.0 * u[2]),
            length_h=np.where(two, 15.5 + 1.0 * u[3], 9.0 + 2.0 * u[3]),
        )

    def day(self, t: float) -> int:
        return int((t + UTC_OFFSET_H * 3600.0) // _DAY)

    def choices(self, day: int) -> _Day:
        """Each machine's choices for local ``day``: whether it works, when its shift
        starts (seconds after local midnight) and how long it is (seconds)."""
        if self._today is not None and self._today[0] == day:
            return self._today[1]
        salt = day * 8
        working = (self.rest_day != (day + 3) % 7) & (
            unit_hash(self.keys, salt + 1) >= self.day_off_p
        )
        start = (self.start_h + (unit_hash(self.keys, salt + 2) - 0.5)) * 3600.0
        length = (self.length_h + 1.5 * (unit_hash(self.keys, salt + 3) - 0.5)) * 3600
        self._today = (day, _Day(working, start, length))
        return self._today[1]

    def shift_clock(self, t: float) -> NDArray[np.float64]:
        """Seconds since today's shift started (negative before; NaN on a day off)."""
        local = t + UTC_OFFSET_H * 3600.0
        day = int(local // _DAY)
        today = self.choices(day)
        return np.where(today.working, (local - day * _DAY) - today.start, np.nan)

    def day_intervals(self, i: int, days: NDArray[np.int64]) -> NDArray[np.float64]:
        """When machine ``i`` is scheduled to run on each of the local ``days`` (day
        numbers as ``day`` gives them): (days, 2, 2) intervals [start, end) in seconds
        after local midnight; an interval that does not happen has start == end. The
        same instants as ``on`` (tested)."""
        days = np.asarray(days, np.int64)
        out = np.zeros((days.size, 2, 2))
        code = int(self.code[i])
        if code == 0:
            out[:, 0, 1] = _DAY
            return out
        key = np.full(days.size, self.keys[i], np.uint64)
        salt = days * 8
        working = (self.rest_day[i] != (days + 3) % 7) & (
            unit_hash(key, salt + 1) >= self.day_off_p[i]
        )
        start = (self.start_h[i] + (unit_hash(key, salt + 2) - 0.5)) * 3600.0
        length = (self.length_h[i] + 1.5 * (unit_hash(key, salt + 3) - 0.5)) * 3600.0
        end = np.where(working, np.minimum(start + length, _DAY), start)
        out[:, 0, 0] = start
        if code == 1:  # engine off over lunch: a morning and an afternoon
            out[:, 0, 1] = np.maximum(np.minimum(end, LUNCH_S[0]), start)
            out[:, 1, 0] = np.minimum(np.maximum(start, LUNCH_S[1]), end)
            out[:, 1, 1] = end
        else:
            out[:, 0, 1] = end
            out[:, 1, :] = end[:, None]
        return out

    def on(self, t: float) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        """Whether each machine is scheduled to run at ``t``, and its shift clock."""
        since = self.shift_clock(t)
        local_h = ((t + UTC_OFFSET_H * 3600.0) % _DAY) / 3600.0
        length = self.choices(self.day(t)).length
        with np.errstate(invalid="ignore"):
            in_shift = (since >= 0) & (since < length)
        lunch = self._lunch & (local_h >= 12.0) & (local_h < 13.0)
        running = np.where(self.continuous, True, in_shift & ~lunch)
        return running, np.where(self.continuous, np.inf, since)

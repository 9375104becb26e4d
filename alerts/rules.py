"""Threshold rule: a reading outside its channel's valid range opens an alert. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

THRESHOLD_RULE = "threshold"


class ReadingLike(Protocol):
    @property
    def time(self) -> datetime: ...
    @property
    def equipment_id(self) -> int: ...
    @property
    def channel_id(self) -> int: ...
    @property
    def value(self) -> float: ...


@dataclass(frozen=True)
class ChannelLimit:
    channel_id: int
    code: str
    unit: str
    valid_min: float | None
    valid_max: float | None
    grade: str

    def violation(self, value: float) -> str | None:
        """'above' / 'below' when ``value`` leaves the valid range, else None."""
        if self.valid_max is not None and value > self.valid_max:
            return "above"
        if self.valid_min is not None and value < self.valid_min:
            return "below"
        return None


@dataclass(frozen=True)
class AlertCandidate:
    equipment_id: int
    channel_id: int
    rule: str
    grade: str
    reading_time: datetime
    value: float
    direction: str
    limit: float
    message: str


def evaluate_thresholds(
    readings: Iterable[ReadingLike], limits: Mapping[int, ChannelLimit]
) -> list[AlertCandidate]:
    """One candidate per (machine, channel) that left its range: its earliest violation."""
    first: dict[tuple[int, int], AlertCandidate] = {}
    for r in readings:
        limit = limits.get(r.channel_id)
        if limit is None:
            continue
        direction = limit.violation(r.value)
        if direction is None:
            continue
        key = (r.equipment_id, r.channel_id)
        seen = first.get(key)
        if seen is not None and seen.reading_time <= r.time:
            continue
        bound = limit.valid_max if direction == "above" else limit.valid_min
        assert bound is not None  # noqa: S101 - violation() returned a direction for it
        first[key] = AlertCandidate(
            equipment_id=r.equipment_id,
            channel_id=r.channel_id,
            rule=THRESHOLD_RULE,
            grade=limit.grade,
            reading_time=r.time,
            value=r.value,
            direction=direction,
            limit=bound,
            message=f"{limit.code} {r.value:g} {limit.unit} is {direction} the valid "
            f"{'maximum' if direction == 'above' else 'minimum'} {bound:g} {limit.unit}",
        )
    return sorted(first.values(), key=lambda c: (c.reading_time, c.equipment_id, c.channel_id))


class LimitArrays:
    """Valid ranges as arrays indexed by channel id, to screen a whole batch at once."""

    def __init__(self, limits: Mapping[int, ChannelLimit]) -> None:
        size = max(limits, default=0) + 1
        self.low = np.full(size, -np.inf)
        self.high = np.full(size, np.inf)
        for channel_id, limit in limits.items():
            if limit.valid_min is not None:
                self.low[channel_id] = limit.valid_min
            if limit.valid_max is not None:
                self.high[channel_id] = limit.valid_max

    def outside(
        self, channel_ids: NDArray[np.integer[Any]], values: NDArray[np.floating[Any]]
    ) -> NDArray[np.bool_]:
        """True where a value leaves its channel's valid range (unknown channels: never)."""
        known = channel_ids < len(self.low)
        index = np.where(known, channel_ids, 0)
        return known & ((values < self.low[index]) | (values > self.high[index]))

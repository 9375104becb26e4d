"""Store-and-forward pieces of a device: a bounded buffer and a jittered backoff.

Both are pure (no I/O); device_sim.devices uses one of each per machine.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable


class SampleBuffer:
    """Encoded samples waiting for the broker, oldest first, at most ``capacity``.

    When full, the oldest samples are dropped to make room and counted in ``dropped``,
    as a gateway with a fixed-size flash buffer does.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a buffer needs room for at least one sample")
        self.capacity = capacity
        self.dropped = 0
        self._items: deque[bytes] = deque(maxlen=capacity)

    def extend(self, items: Iterable[bytes]) -> None:
        batch = list(items)
        overflow = len(self._items) + len(batch) - self.capacity
        if overflow > 0:
            self.dropped += overflow
        self._items.extend(batch)

    def take(self, limit: int) -> list[bytes]:
        """Remove and return up to ``limit`` of the oldest samples."""
        count = min(limit, len(self._items))
        return [self._items.popleft() for _ in range(count)]

    def __len__(self) -> int:
        return len(self._items)


class Backoff:
    """Exponential delays with jitter: attempt k waits a uniform time in [d/2, d],
    d = min(cap, base * 2**k), so a fleet that lost its broker does not come back at once."""

    def __init__(
        self, base_s: float = 0.5, cap_s: float = 30.0, *, seed: int | None = None
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("backoff needs 0 < base_s <= cap_s")
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0
        self._rng = random.Random(seed)

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0

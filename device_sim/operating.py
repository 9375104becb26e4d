"""Operating time: when a machine runs, and the faults that wear with it (pure).

Machine faults need operation: bearings and pumps wear with running hours, a radiator
fouls with the air its fan draws through it, a hose or seal leaks under hydraulic
pressure. Such a fault begins while its machine runs, and its degradation is a function
of the operating seconds since its onset, not of the calendar: a machine parked for the
night or the weekend does not degrade, and a leak cannot start, progress or burst in a
machine that is switched off. A machine runs when its duty cycle says so
(device_sim.duty) and it is not down after a failure.

``MachineClock`` turns calendar time into operating time for one machine.
``MachineFaults`` draws one machine's random machine faults as a Poisson process in
operating time and resolves, event by event in time order, when each begins and when it
fails: a failure takes the machine down until its repair, which stops the clock of
every other fault of that machine. Onset and failure times are therefore exact, and the
fault truth says when the machine actually fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from device_sim.cities import UTC_OFFSET_H
from device_sim.duty import Duty
from device_sim.errors import SimError
from device_sim.modes import MODES, repair_time

F64 = NDArray[np.float64]
_DAY = 86_400.0
_TZ = UTC_OFFSET_H * 3600.0
_MAX_DAYS = 20 * 365.0  # a machine whose schedule never runs is an error


def _cut(intervals: F64, start: float, end: float) -> F64:
    """``intervals`` (k, 2) without [start, end)."""
    left = intervals.copy()
    left[:, 1] = np.minimum(left[:, 1], start)
    right = intervals.copy()
    right[:, 0] = np.maximum(right[:, 0], end)
    both = np.concatenate([left, right])
    both = both[both[:, 1] > both[:, 0]]
    return both[np.argsort(both[:, 0], kind="stable")]


class MachineClock:
    """One machine's operating time: its duty's running intervals minus its downtimes."""

    def __init__(self, duty: Duty, index: int) -> None:
        self.duty = duty
        self.index = index
        self.down: list[tuple[float, float]] = []  # (failure, repaired), in time order

    def scheduled(self, t0: float, t1: float) -> F64:
        """The duty's running intervals (k, 2) within [t0, t1], epoch seconds, in order."""
        if not t1 > t0:
            return np.zeros((0, 2))
        first, last = int((t0 + _TZ) // _DAY), int((t1 + _TZ) // _DAY)
        days = np.arange(first, last + 1, dtype=np.int64)
        local = self.duty.day_intervals(self.index, days)
        epoch = (local + (days * _DAY - _TZ)[:, None, None]).reshape(-1, 2)
        epoch = np.clip(epoch, t0, t1)
        epoch = epoch[epoch[:, 1] > epoch[:, 0]]
        # one stretch across midnight (continuous and late double shifts), not two
        joined = np.r_[False, epoch[1:, 0] == epoch[:-1, 1]]
        if joined.any():
            starts = np.flatnonzero(~joined)
            ends = np.r_[starts[1:], len(epoch)] - 1
            epoch = np.column_stack([epoch[starts, 0], epoch[ends, 1]])
        return epoch

    def intervals(self, t0: float, t1: float) -> F64:
        """When the machine runs within [t0, t1]: scheduled and not down."""
        out = self.scheduled(t0, t1)
        for start, end in self.down:
            if start < t1 and end > t0:
                out = _cut(out, start, end)
        return out

    def seconds(self, t0: float, t1: float) -> float:
        """Operating seconds within [t0, t1]."""
        iv = self.intervals(t0, t1)
        return float((iv[:, 1] - iv[:, 0]).sum())

    def until(self, t0: float, need: float) -> float:
        """The earliest time at which the machine has run ``need`` seconds since ``t0``
        (``need`` = 0: the first instant from ``t0`` on at which it runs)."""
        t = t0
        # a first guess of the days it takes (a few running hours a day), then doubling
        days = min(max(need / (4 * 3600.0), 1.0) + 2.0, _MAX_DAYS)
        while t < t0 + _MAX_DAYS * _DAY:
            iv = self.intervals(t, t + days * _DAY)
            run = iv[:, 1] - iv[:, 0]
            total = np.cumsum(run)
            k = int(np.searchsorted(total, need, side="left"))
            if k < run.size:
                return float(iv[k, 0] + (need - (total[k] - run[k])))
            need -= float(total[-1]) if total.size else 0.0
            t += days * _DAY
            days = min(2 * days, _MAX_DAYS)
        raise SimError(f"machine {self.index} does not run within {_MAX_DAYS:.0f} days")


@dataclass(frozen=True)
class Resolved:
    """A machine fault whose onset and failure are known."""

    mode: str
    onset: float  # epoch seconds: degradation starts (the machine runs)
    failure: float  # the machine fails (and stops)
    repaired: float
    span_s: float  # operating seconds from onset to failure
    draws: F64  # uniform draws for the rest of the fault's description
    source: str  # "random" or "scheduled"
    channel: str | None = None


@dataclass
class _Active:
    mode: str
    onset: float
    fails_at: float  # the machine's operating seconds at the failure
    span_s: float
    draws: F64
    source: str
    channel: str | None


@dataclass(frozen=True)
class Scheduled:
    """A machine fault of the fleet file: it begins at the first running instant from
    ``at`` and fails after ``span_s`` operating seconds."""

    at: float
    span_s: float
    mode: str
    draws: F64
    channel: str | None = None


@dataclass
class MachineFaults:
    """One machine's machine faults in operating time, resolved in time order.

    Random faults: a Poisson process in operating seconds at ``rates`` (per operating
    second, one per mode of ``modes``); each fault's duration is drawn in operating hours
    from its mode. Five uniform draws per fault, whatever the mode, so the stream does
    not depend on it.
    """

    clock: MachineClock
    birth: float
    modes: list[str]
    rates: F64
    rng: np.random.Generator
    scheduled: list[Scheduled] = field(default_factory=list)
    t: float = field(init=False)  # the frontier: events before it are resolved
    s: float = field(init=False, default=0.0)  # operating seconds at the frontier
    next_s: float = field(init=False, default=math.inf)  # the next random onset
    active: list[_Active] = field(init=False, default_factory=list)
    _peek: tuple[float, float, int, int] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.t = self.birth
        self.scheduled = sorted(self.scheduled, key=lambda f: f.at)
        total = float(self.rates.sum()) if self.rates.size else 0.0
        if total > 0:
            self.next_s = float(self.rng.exponential(1.0 / total))

    def _next(self) -> tuple[float, float, int, int] | None:
        """The next event: (time, operating seconds, kind, index); kinds: 0 a failure,
        1 a scheduled onset, 2 a random onset."""
        if self._peek is not None:
            return self._peek
        best: tuple[float, int, int] | None = None
        for k, fault in enumerate(self.active):
            if best is None or fault.fails_at < best[0]:
                best = (fault.fails_at, 0, k)
        if self.scheduled:
            at = max(self.scheduled[0].at, self.t)
            s = self.s + self.clock.seconds(self.t, at)
            if best is None or s < best[0]:
                best = (s, 1, 0)
        if math.isfinite(self.next_s) and (best is None or self.next_s < best[0]):
            best = (self.next_s, 2, 0)
        if best is None:
            return None
        s, kind, k = best
        if kind == 1:
            when = self.clock.until(max(self.scheduled[0].at, self.t), 0.0)
        else:
            when = self.clock.until(self.t, max(s - self.s, 0.0))
        self._peek = (when, s, kind, k)
        return self._peek

    def advance(self, until: float) -> list[Resolved]:
        """Resolve every fault that begins by ``until``; the newly resolved ones."""
        out: list[Resolved] = []
        while True:
            event = self._next()
            if event is None:
                break
            due = any(f.onset <= until for f in self.active)
            if event[0] > until and not due:
                break
            self._peek = None
            resolved = self._process(*event)
            if resolved is not None:
                out.append(resolved)
        return out

    def _process(self, when: float, s: float, kind: int, k: int) -> Resolved | None:
        if kind == 0:
            fault = self.active.pop(k)
            repaired = repair_time(fault.mode, when, float(fault.draws[0]))
            self.clock.down.append((when, repaired))
            self.t, self.s = when, s
            return Resolved(
                fault.mode,
                fault.onset,
                when,
                repaired,
                fault.span_s,
                fault.draws,
                fault.source,
                fault.channel,
            )
        if kind == 1:
            planned = self.scheduled.pop(0)
            self.t, self.s = max(planned.at, self.t), s
            self.active.append(
                _Active(
                    planned.mode,
                    when,
                    s + planned.span_s,
                    planned.span_s,
                    planned.draws,
                    "scheduled",
                    planned.channel,
                )
            )
            return None
        u = self.rng.random(5)
        cumulative = np.cumsum(self.rates) / self.rates.sum()
        pick = min(int(np.searchsorted(cumulative, u[0], side="right")), len(self.modes) - 1)
        mode = MODES[self.modes[pick]]
        low, high = mode.duration_h
        span = (low + (high - low) * float(u[1])) * 3600.0
        self.active.append(_Active(mode.name, when, s + span, span, u[2:], "random", None))
        self.t, self.s = when, s
        self.next_s = s + float(self.rng.exponential(1.0 / self.rates.sum()))
        return None

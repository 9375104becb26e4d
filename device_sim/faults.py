"""Which faults each machine gets, and when: the ground truth of a simulation.

Faults come from three places: excursions and scheduled modes in the fleet file, and
random faults drawn at the fleet's rates per machine-month. Random faults are Poisson
processes per machine that start at the machine's commissioning and depend only on the
fleet seed, the serial number and the rates, so a backfill and a later real-time run
see the same faults, and adding a machine changes no one else's. Sensor faults arrive
in calendar time (per 30 days); machine faults in operating time (per
``OPERATING_MONTH_H`` operating hours), begin while the machine runs and last a number
of operating hours (device_sim.operating), so their failure times are when the machine
actually fails. A scheduled machine fault of the fleet file begins at the first running
instant from its onset and fails after ``failure - onset`` of operating time (the same
times for a machine that runs continuously).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime, time

import numpy as np

from device_sim.cities import UTC_OFFSET_H
from device_sim.duty import Duty
from device_sim.families import FAMILY_PARTS, SENSOR_PARTS
from device_sim.faultfile import FaultDef
from device_sim.fleet import Fleet, MachineDef
from device_sim.generate import stable_seed
from device_sim.modes import (
    MODES,
    NOT_SENSED,
    OPERATING_MONTH_H,
    effect_columns,
    repair_time,
    sensor_part,
)
from device_sim.operating import MachineClock, MachineFaults, Resolved, Scheduled

_DAY = 86_400.0
_MONTH = 30 * _DAY


@dataclass(frozen=True)
class FaultEvent:
    """One injected fault. Times are epoch seconds (UTC)."""

    fault_id: str
    serial: str
    model: str
    family: str
    mode: str  # a device_sim.modes name, or "excursion"
    sensor: bool
    channels: tuple[str, ...]  # where its signature shows
    component: str
    parts: tuple[str, ...]  # part numbers the repair likely needs
    onset: float
    failure: float
    repaired: float  # healthy again (inf: not within the simulation)
    shape: str
    grade: str
    source: str  # "random", "scheduled" or "excursion"
    sign: float = 1.0  # direction of a sensor drift
    value: float = 0.0  # excursions: the value the channel moves to
    ramp_s: float = 0.0  # excursions
    duration_s: float | None = None  # excursions
    operating: bool = False  # degrades with operating time (device_sim.operating)
    span_s: float = 0.0  # operating faults: operating seconds from onset to failure


def _epoch(at: datetime) -> float:
    return at.timestamp()


def _parts_hint(fleet: Fleet, family: str, prefixes: tuple[str, ...]) -> tuple[str, ...]:
    own = [p.part_number for p in fleet.parts if family in p.families]
    known = own or [n for n, _, _ in FAMILY_PARTS.get(family, [])] + [n for n, _, _ in SENSOR_PARTS]
    return tuple(sorted({n for n in known if n.startswith(prefixes)}))


class FaultPlan:
    """Every fault of a fleet, generated lazily up to the time asked for."""

    def __init__(self, fleet: Fleet, start: datetime) -> None:
        self.fleet = fleet
        self.start = _epoch(start)
        self._known: list[FaultEvent] = []
        self._streams: list[tuple[float, int]] = []  # heap of (next onset, machine index)
        self._rngs: dict[int, np.random.Generator] = {}
        self._rates: dict[int, tuple[list[str], np.ndarray]] = {}
        self._index = {m.serial: i for i, m in enumerate(fleet.machines)}
        keys = np.array(
            [stable_seed(fleet.seed, "machine", m.serial) for m in fleet.machines], np.uint64
        )
        self._duty = Duty.build([fleet.schedule_of(m) for m in fleet.machines], keys)
        self._clocks: dict[int, MachineClock] = {}
        self._machine_faults: dict[int, MachineFaults] = {}
        by_serial = {m.serial: m for m in fleet.machines}
        for f in fleet.faults:
            self._known.append(self._excursion(by_serial[f.serial], f))
        scheduled: dict[int, list[Scheduled]] = {}
        for s in fleet.scheduled:
            machine = by_serial[s.serial]
            onset = _epoch(s.onset) if s.onset else self.start + float(s.onset_after_s or 0)
            failure = _epoch(s.failure) if s.failure else self.start + float(s.failure_after_s or 0)
            rng = np.random.default_rng(stable_seed(fleet.seed, "scheduled", s.serial, s.mode))
            u = rng.random(3)
            if MODES[s.mode].operating:
                planned = Scheduled(onset, failure - onset, s.mode, u, s.channel)
                scheduled.setdefault(self._index[s.serial], []).append(planned)
                continue
            repaired = repair_time(s.mode, failure, float(u[0]))
            self._known.append(
                self._event(
                    machine,
                    s.mode,
                    (onset, failure, repaired),
                    u,
                    source="scheduled",
                    channel=s.channel,
                )
            )
        for i, machine in enumerate(fleet.machines):
            kinds = {c.kind for c in fleet.model_of(machine).channels}
            usable = [m for m in sorted(fleet.fault_rates) if MODES[m].applies_to(kinds)]
            birth = datetime.combine(machine.commissioned, time(0), UTC).timestamp()
            birth -= UTC_OFFSET_H * 3600
            sensor = [m for m in usable if not MODES[m].operating]
            if sensor:
                rates = np.array([fleet.fault_rates[m] / _MONTH for m in sensor])
                self._rates[i] = (sensor, rates)
                rng = np.random.default_rng(
                    stable_seed(fleet.seed, "sensor-faults", machine.serial)
                )
                self._rngs[i] = rng
                heapq.heappush(self._streams, (birth + rng.exponential(1 / rates.sum()), i))
            operating = [m for m in usable if MODES[m].operating]
            if operating or i in scheduled:
                per_second = OPERATING_MONTH_H * 3600.0
                self._machine_faults[i] = MachineFaults(
                    self.clock(machine.serial),
                    birth,
                    operating,
                    np.array([fleet.fault_rates[m] / per_second for m in operating]),
                    np.random.default_rng(
                        stable_seed(fleet.seed, "machine-faults", machine.serial)
                    ),
                    scheduled.get(i, []),
                )

    def clock(self, serial: str) -> MachineClock:
        """The machine's operating clock (its downtimes known up to the generated time)."""
        i = self._index[serial]
        if i not in self._clocks:
            self._clocks[i] = MachineClock(self._duty, i)
        return self._clocks[i]

    def _id(self, serial: str, mode: str, onset: float) -> str:
        return f"{self.fleet.seed}:{serial}:{mode}:{int(onset)}"

    def _excursion(self, machine: MachineDef, f: FaultDef) -> FaultEvent:
        onset = self.start + f.after_s
        end = onset + f.duration_s if f.duration_s is not None else float("inf")
        model = self.fleet.model_of(machine)
        return FaultEvent(
            self._id(machine.serial, "excursion", onset) + f":{f.channel}",
            machine.serial,
            model.code,
            model.family,
            "excursion",
            False,
            (f.channel,),
            f.channel,
            (),
            onset,
            onset + f.ramp_s,
            end,
            "step" if f.ramp_s <= 0 else "linear",
            next(c.grade for c in model.channels if c.code == f.channel),
            "excursion",
            value=f.value,
            ramp_s=f.ramp_s,
            duration_s=f.duration_s,
        )

    def _event(
        self,
        machine: MachineDef,
        mode_name: str,
        times: tuple[float, float, float],
        u: np.ndarray,
        *,
        source: str,
        channel: str | None = None,
        span_s: float = 0.0,
    ) -> FaultEvent:
        """``times``: onset, failure and repair (epoch seconds)."""
        mode = MODES[mode_name]
        model = self.fleet.model_of(machine)
        kinds = [c.kind for c in model.channels]
        onset, failure, repaired = times
        sign = 1.0
        channels: tuple[str, ...]
        parts: tuple[str, ...]
        if mode.sensor:
            sensed = [c for c in model.channels if c.kind not in NOT_SENSED]
            ch = next((c for c in sensed if c.code == channel), None)
            ch = ch or sensed[int(float(u[1]) * len(sensed))]
            channels = (ch.code,)
            component = f"{ch.name} sensor"
            parts = (sensor_part(ch.kind),)
            sign = 1.0 if float(u[2]) < 0.5 else -1.0
        else:
            cols = [col for effect in mode.effects for col in effect_columns(effect, kinds)]
            channels = tuple(dict.fromkeys(model.channels[col].code for col in cols))
            component = mode.component
            parts = _parts_hint(self.fleet, model.family, mode.part_prefixes)
        return FaultEvent(
            self._id(machine.serial, mode_name, onset),
            machine.serial,
            model.code,
            model.family,
            mode_name,
            mode.sensor,
            channels,
            component,
            parts,
            onset,
            failure,
            repaired,
            mode.shape,
            mode.grade,
            source,
            sign=sign,
            operating=mode.operating,
            span_s=span_s,
        )

    def _resolved(self, i: int, r: Resolved) -> FaultEvent:
        return self._event(
            self.fleet.machines[i],
            r.mode,
            (r.onset, r.failure, r.repaired),
            r.draws,
            source=r.source,
            channel=r.channel,
            span_s=r.span_s,
        )

    def _generate(self, until: float) -> None:
        while self._streams and self._streams[0][0] <= until:
            onset, i = heapq.heappop(self._streams)
            modes, rates = self._rates[i]
            rng = self._rngs[i]
            u = rng.random(5)  # always five draws: the stream never depends on the mode
            cumulative = np.cumsum(rates) / rates.sum()
            k = min(int(np.searchsorted(cumulative, u[0], side="right")), len(modes) - 1)
            mode = MODES[modes[k]]
            low, high = mode.duration_h
            failure = onset + (low + (high - low) * float(u[1])) * 3600.0
            repaired = repair_time(mode.name, failure, float(u[2]))
            event = self._event(
                self.fleet.machines[i],
                mode.name,
                (onset, failure, repaired),
                u[2:],
                source="random",
            )
            self._known.append(event)
            heapq.heappush(self._streams, (onset + rng.exponential(1 / rates.sum()), i))
        for i, faults in self._machine_faults.items():
            self._known.extend(self._resolved(i, r) for r in faults.advance(until))

    def overlapping(self, start: float, end: float) -> list[FaultEvent]:
        """Faults in effect at some time in [start, end] (onset <= end, repaired > start)."""
        self._generate(end)
        found = [e for e in self._known if e.onset <= end and e.repaired > start]
        return sorted(found, key=lambda e: (e.onset, e.fault_id))

    def progress(self, event: FaultEvent, t0: float, t1: float) -> tuple[float, np.ndarray]:
        """An operating fault's operating seconds from its onset to ``t0``, and the
        intervals (k, 2) within [t0, t1] in which its machine runs (physics: its
        degradation at any time of [t0, t1])."""
        clock = self.clock(event.serial)
        begin = max(t0, event.onset)
        before = clock.seconds(event.onset, t0) if t0 > event.onset else 0.0
        return before, clock.intervals(begin, max(t1, begin))

"""Which faults each machine gets, and when: the ground truth of a simulation.

Faults come from three places: excursions and scheduled modes in the fleet file, and
random faults drawn at the fleet's rates per machine-month. Random faults are a
Poisson process per machine that starts at the machine's commissioning and depends
only on the fleet seed, the serial number and the rates, so a backfill and a later
real-time run see the same faults, and adding a machine changes no one else's.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime, time

import numpy as np

from device_sim.cities import UTC_OFFSET_H
from device_sim.families import FAMILY_PARTS, SENSOR_PARTS
from device_sim.faultfile import FaultDef
from device_sim.fleet import Fleet, MachineDef
from device_sim.generate import stable_seed
from device_sim.modes import MODES, NOT_SENSED, effect_columns, sensor_part

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
        self._counts: dict[str, int] = {}
        by_serial = {m.serial: m for m in fleet.machines}
        for f in fleet.faults:
            self._known.append(self._excursion(by_serial[f.serial], f))
        for s in fleet.scheduled:
            machine = by_serial[s.serial]
            onset = _epoch(s.onset) if s.onset else self.start + float(s.onset_after_s or 0)
            failure = _epoch(s.failure) if s.failure else self.start + float(s.failure_after_s or 0)
            rng = np.random.default_rng(stable_seed(fleet.seed, "scheduled", s.serial, s.mode))
            self._known.append(
                self._event(
                    machine,
                    s.mode,
                    onset,
                    failure,
                    rng.random(3),
                    source="scheduled",
                    channel=s.channel,
                )
            )
        for i, machine in enumerate(fleet.machines):
            kinds = {c.kind for c in fleet.model_of(machine).channels}
            modes = [m for m in sorted(fleet.fault_rates) if MODES[m].applies_to(kinds)]
            if not modes:
                continue
            rates = np.array([fleet.fault_rates[m] / _MONTH for m in modes])
            self._rates[i] = (modes, rates)
            rng = np.random.default_rng(stable_seed(fleet.seed, "faults", machine.serial))
            self._rngs[i] = rng
            birth = datetime.combine(machine.commissioned, time(0), UTC).timestamp()
            birth -= UTC_OFFSET_H * 3600
            heapq.heappush(self._streams, (birth + rng.exponential(1 / rates.sum()), i))
        self._generated_until = -np.inf

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
        onset: float,
        failure: float,
        u: np.ndarray,
        *,
        source: str,
        channel: str | None = None,
    ) -> FaultEvent:
        mode = MODES[mode_name]
        model = self.fleet.model_of(machine)
        kinds = [c.kind for c in model.channels]
        low, high = mode.repair_days
        repaired = failure + (low + (high - low) * float(u[0])) * _DAY
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
            low, high = mode.duration_days
            failure = onset + (low + (high - low) * float(u[1])) * _DAY
            event = self._event(
                self.fleet.machines[i], mode.name, onset, failure, u[2:], source="random"
            )
            self._known.append(event)
            heapq.heappush(self._streams, (onset + rng.exponential(1 / rates.sum()), i))
        self._generated_until = max(self._generated_until, until)

    def overlapping(self, start: float, end: float) -> list[FaultEvent]:
        """Faults in effect at some time in [start, end] (onset <= end, repaired > start)."""
        self._generate(end)
        found = [e for e in self._known if e.onset <= end and e.repaired > start]
        return sorted(found, key=lambda e: (e.onset, e.fault_id))

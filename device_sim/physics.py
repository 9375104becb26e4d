"""What a simulated machine's sensors read at a given time. Pure and seeded.

Each channel follows its nominal value plus a duty-cycle swing (a slow sine per machine,
standing in for the load of a working shift) plus Gaussian sensor noise; the readings
stay inside the channel's valid range unless a scheduled fault drives the channel to
another value (optionally over a ramp, optionally for a limited time). The same fleet
seed gives the same readings.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from device_sim.fleet import FaultDef, Fleet, MachineDef, ModelDef

DUTY_PERIOD_S = 3600.0


@dataclass(frozen=True)
class Sample:
    time: datetime
    values: dict[str, float]


def _machine_seed(fleet_seed: int, serial: str) -> int:
    digest = hashlib.sha256(f"{fleet_seed}:{serial}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class MachineModel:
    """One machine's sensors, advanced sample by sample from a start time."""

    def __init__(self, fleet: Fleet, machine: MachineDef, start: datetime) -> None:
        self.machine = machine
        self.model: ModelDef = fleet.model_of(machine)
        self.start = start
        self.faults: list[FaultDef] = [f for f in fleet.faults if f.serial == machine.serial]
        self._rng = np.random.default_rng(_machine_seed(fleet.seed, machine.serial))
        self._phase = float(self._rng.uniform(0, 2 * math.pi))

    def sample(self, elapsed_s: float) -> Sample:
        """The reading of every channel ``elapsed_s`` simulated seconds after the start."""
        duty = math.sin(2 * math.pi * elapsed_s / DUTY_PERIOD_S + self._phase)
        noise = self._rng.standard_normal(len(self.model.channels))
        values: dict[str, float] = {}
        for i, ch in enumerate(self.model.channels):
            low, high = ch.valid
            healthy = ch.nominal + ch.swing * duty + ch.noise * float(noise[i])
            value = min(max(healthy, low), high)
            for fault in self.faults:
                if fault.channel == ch.code:
                    value = _apply_fault(fault, elapsed_s, value)
            values[ch.code] = round(value, 3)
        return Sample(self.start + timedelta(seconds=elapsed_s), values)


def _apply_fault(fault: FaultDef, elapsed_s: float, healthy: float) -> float:
    since = elapsed_s - fault.after_s
    if since < 0:
        return healthy
    if fault.duration_s is not None and since > fault.duration_s:
        return healthy
    progress = 1.0 if fault.ramp_s <= 0 else min(since / fault.ramp_s, 1.0)
    return healthy + (fault.value - healthy) * progress

"""The failure modes the simulator injects, and how each one shows in the channels.

A fault has an onset, a failure time and a degradation ``d`` that grows from 0 at the
onset to 1 at the failure along its shape. Machine faults act through the physics
(a load-dependent change of a channel, or of the heat a thermal channel settles at)
and act on every channel the mechanism touches; after the failure the machine is down
(silent) until repaired. Sensor faults act on one channel only and leave the others,
and the load, alone: that is what tells them apart from machine faults.

Machine faults need operation (``Mode.operating``): they begin while the machine runs,
their duration is in operating hours and their degradation advances only while the
machine runs (device_sim.operating). Sensor faults follow the calendar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

SHAPES = ("exponential", "linear", "fast", "step")


@dataclass(frozen=True)
class Effect:
    """How a machine fault changes the first channel present of ``kinds``.

    ``where`` is "out" (the reading) or "heat" (the level a thermal channel settles at,
    so the change arrives with the channel's lag). The size at d = 1 is ``gain`` times
    the channel's reference (``ref``: "margin", the distance from full load to the valid
    limit; "full", the full-load reading). ``load_floor`` = 1 means independent of load;
    0 means proportional to it. The effect starts when d passes ``delay`` and grows as
    ((d - delay) / (1 - delay)) ** power.
    """

    kinds: tuple[str, ...]
    where: str
    gain: float
    ref: str = "margin"
    load_floor: float = 0.0
    delay: float = 0.0
    power: float = 1.0
    all_matching: bool = False  # every channel of the first kind found, not just one


@dataclass(frozen=True)
class Mode:
    name: str
    sensor: bool
    shape: str
    duration_h: tuple[float, float]  # onset to failure: operating hours, or calendar hours
    repair_days: tuple[float, float]  # failure to healthy again (calendar)
    component: str
    grade: str
    part_prefixes: tuple[str, ...]  # part numbers that the repair likely needs
    effects: tuple[Effect, ...] = ()

    @property
    def operating(self) -> bool:
        """Whether the fault needs operation: it begins and progresses only while the
        machine runs (every machine mode: wear, fouling and leaks happen in use)."""
        return not self.sensor

    def applies_to(self, kinds: set[str]) -> bool:
        if self.sensor:
            return bool(kinds - NOT_SENSED)
        return any(k in kinds for k in self.effects[0].kinds)


# Channels that no sensor fault is drawn for (counters and position).
NOT_SENSED = frozenset({"hours", "lat", "lon"})
PRESSURE = ("hyd_pressure", "air_pressure")
HOT_OIL = ("oil_temp", "discharge_temp")

MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode(
            "bearing_wear",
            False,
            "exponential",
            (150, 450),
            (1, 4),
            "bearing",
            "major",
            ("P-BRG",),
            (
                Effect(("vibration",), "out", 1.8, load_floor=0.4, all_matching=True),
                Effect(
                    ("discharge_temp", "oil_temp", "coolant_temp"),
                    "heat",
                    1.0,
                    load_floor=0.3,
                    delay=0.55,
                    power=1.5,
                ),
            ),
        ),
        Mode(
            "hydraulic_pump_wear",
            False,
            "linear",
            (250, 700),
            (2, 5),
            "main pump (internal leakage)",
            "major",
            ("P-HYDPUMP", "P-AIREND"),
            (
                Effect(PRESSURE, "out", -0.28, ref="full"),
                Effect(HOT_OIL, "heat", 0.9, load_floor=0.2),
            ),
        ),
        Mode(
            "cooling_fouling",
            False,
            "linear",
            (150, 450),
            (1, 3),
            "radiator / cooler",
            "major",
            ("P-RAD", "P-COOLER"),
            (Effect(("coolant_temp", "discharge_temp"), "heat", 1.3, load_floor=0.2),),
        ),
        Mode(
            "seal_hose_leak",
            False,
            "fast",
            (0.5, 6.0),
            (0.5, 2),
            "hose / seals",
            "critical",
            ("P-HOSE", "P-SEAL"),
            (
                Effect(PRESSURE, "out", -0.6, ref="full", load_floor=0.5),
                Effect(HOT_OIL, "heat", 0.3, load_floor=0.5),
            ),
        ),
        Mode("sensor_stuck", True, "step", (0, 0), (2, 7), "sensor", "minor", ("P-SENS",)),
        Mode("sensor_drift", True, "linear", (120, 480), (2, 7), "sensor", "minor", ("P-SENS",)),
        Mode("sensor_noisy", True, "linear", (24, 120), (2, 7), "sensor", "minor", ("P-SENS",)),
        Mode("sensor_dropout", True, "linear", (12, 72), (2, 7), "sensor", "minor", ("P-SENS",)),
    )
}
MACHINE_MODES = tuple(m for m in MODES if not MODES[m].sensor)
SENSOR_MODES = tuple(m for m in MODES if MODES[m].sensor)

# Default rates for fleets that ask for random faults (``[fault_rates] defaults =
# true``), per machine-month: machine faults per OPERATING_MONTH_H operating hours (a
# month of single-shift work), sensor faults per 30 calendar days. A machine in single
# shifts fails about once in two years.
OPERATING_MONTH_H = 200.0
DEFAULT_RATES = {
    "bearing_wear": 0.012,
    "hydraulic_pump_wear": 0.008,
    "cooling_fouling": 0.010,
    "seal_hose_leak": 0.010,
    "sensor_stuck": 0.004,
    "sensor_drift": 0.004,
    "sensor_noisy": 0.004,
    "sensor_dropout": 0.004,
}

_SENSOR_PART = {
    "coolant_temp": "P-SENS-TEMP",
    "oil_temp": "P-SENS-TEMP",
    "discharge_temp": "P-SENS-TEMP",
    "hyd_pressure": "P-SENS-PRES",
    "oil_pressure": "P-SENS-PRES",
    "air_pressure": "P-SENS-PRES",
    "vibration": "P-SENS-VIB",
}


def effect_columns(effect: Effect, kinds: list[str]) -> list[int]:
    """The channel columns (indexes into ``kinds``) an effect acts on."""
    kind = next((k for k in effect.kinds if k in kinds), None)
    if kind is None:
        return []
    cols = [i for i, k in enumerate(kinds) if k == kind]
    return cols if effect.all_matching else cols[:1]


def sensor_part(kind: str) -> str:
    return _SENSOR_PART.get(kind, "P-SENS-SPD")


def repair_time(mode: str, failure: float, u: float) -> float:
    """When a fault failed at ``failure`` is repaired, for a uniform draw ``u``."""
    low, high = MODES[mode].repair_days
    return failure + (low + (high - low) * u) * 86_400.0


def degradation(
    t: float, onset: NDArray[np.float64], failure: NDArray[np.float64], shape: NDArray[np.int8]
) -> NDArray[np.float64]:
    """d in [0, 1] of each calendar fault at time ``t`` (epoch seconds); 0 before the
    onset. ``shape`` holds indexes into SHAPES."""
    span = np.maximum(failure - onset, 1e-9)
    x = np.clip((t - onset) / span, 0.0, 1.0)
    return np.where(t >= onset, along(x, shape), 0.0)


def along(x: NDArray[np.float64], shape: NDArray[np.int8]) -> NDArray[np.float64]:
    """d in [0, 1] at the share ``x`` of the way from onset to failure, by shape."""
    d = np.select(
        [shape == 0, shape == 1, shape == 2],
        [
            np.expm1(4.0 * x) / math.expm1(4.0),
            x,
            -np.expm1(-5.0 * x) / -math.expm1(-5.0),
        ],
        default=1.0,
    )
    return np.asarray(d, dtype=np.float64)

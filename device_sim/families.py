"""Built-in equipment families and models: channels, units, ranges, duty habits, parts.

A channel is described by what it reads at idle and at full load (``nominal`` and
``swing`` are their midpoint and half-span), its sensor noise, its valid (operating)
and physical ranges, and its ``kind``: what it measures physically, which sets how it
responds (a thermal lag, a counter, a position) and which failure modes act on it.
Fleet files may define their own models; generated fleets use these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# kind -> default first-order lag (seconds) of the channel behind the machine's load
THERMAL_TAU_S = {"coolant_temp": 600.0, "oil_temp": 1500.0, "discharge_temp": 400.0}

# channel code -> kind, for channels whose fleet-file entry gives no ``kind``
KIND_BY_CODE = {
    "engine_speed": "speed",
    "engine_load": "load",
    "coolant_temp": "coolant_temp",
    "hydraulic_oil_temp": "oil_temp",
    "oil_temp": "oil_temp",
    "discharge_temp": "discharge_temp",
    "hydraulic_pressure": "hyd_pressure",
    "oil_pressure": "oil_pressure",
    "discharge_pressure": "air_pressure",
    "pump_vibration": "vibration",
    "bearing_vibration": "vibration",
    "slew_vibration": "vibration",
    "motor_current": "current",
    "fuel_rate": "fuel",
    "operating_hours": "hours",
    "gps_lat": "lat",
    "gps_lon": "lon",
}
KINDS = frozenset(KIND_BY_CODE.values()) | {"generic"}


@dataclass(frozen=True)
class FamilyHabits:
    """How machines of a family are used: their default duty schedule and mobility."""

    schedule: str  # "shifts", "two_shifts" or "continuous"
    mobile: bool  # drives between job sites (GPS moves) or stays at one site
    prefix: str  # serial-number prefix of generated machines


FAMILY_HABITS = {
    "concrete_pump": FamilyHabits("shifts", True, "CP"),
    "truck_crane": FamilyHabits("shifts", True, "TC"),
    "excavator": FamilyHabits("shifts", False, "EX"),
    "air_compressor": FamilyHabits("two_shifts", False, "AC"),
}

FAMILY_NAMES = {
    "concrete_pump": "Concrete pump truck",
    "truck_crane": "Truck crane",
    "excavator": "Excavator",
    "air_compressor": "Air compressor",
}


def _ch(  # noqa: PLR0917 - one row of a table
    code: str,
    name: str,
    unit: str,
    idle: float,
    full: float,
    noise: float,
    valid: tuple[float, float],
    physical: tuple[float, float],
    grade: str = "major",
    decimals: int = 3,
) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "unit": unit,
        "idle": idle,
        "full": full,
        "noise": noise,
        "valid": list(valid),
        "physical": list(physical),
        "grade": grade,
        "decimals": decimals,
    }


def _common(fuel: tuple[float, float] | None) -> list[dict[str, Any]]:
    rows = [
        _ch("operating_hours", "Operating hours", "h", 0, 0, 0, (0, 200_000), (0, 1e6), "minor", 2),
        _ch("gps_lat", "GPS latitude", "deg", 0, 0, 0, (-90, 90), (-90, 90), "minor", 6),
        _ch("gps_lon", "GPS longitude", "deg", 0, 0, 0, (-180, 180), (-180, 180), "minor", 6),
    ]
    if fuel is not None:
        rows.insert(0, _ch("fuel_rate", "Fuel rate", "L/h", *fuel, 0.5, (0, 70), (0, 120), "minor"))
    return rows


def _engine(idle_rpm: float, full_rpm: float) -> list[dict[str, Any]]:
    return [
        _ch("engine_speed", "Engine speed", "rpm", idle_rpm, full_rpm, 12, (550, 2300), (0, 3500)),
        _ch("engine_load", "Engine load", "%", 8, 92, 1.5, (0, 100), (0, 110)),
        _ch("coolant_temp", "Coolant temperature", "C", 80, 92, 0.4, (-30, 104), (-40, 150)),
        _ch(
            "oil_pressure",
            "Engine oil pressure",
            "bar",
            1.8,
            4.8,
            0.06,
            (1.0, 6.5),
            (0, 12),
            "critical",
        ),
    ]


def _hydraulics(idle_bar: float, full_bar: float, valid_max: float) -> list[dict[str, Any]]:
    return [
        _ch(
            "hydraulic_oil_temp",
            "Hydraulic oil temperature",
            "C",
            45,
            68,
            0.3,
            (-30, 85),
            (-40, 150),
        ),
        _ch(
            "hydraulic_pressure",
            "Hydraulic pressure",
            "bar",
            idle_bar,
            full_bar,
            4,
            (0, valid_max),
            (0, 600),
        ),
    ]


BUILTIN_MODELS: dict[str, dict[str, Any]] = {
    "HBT-62": {
        "family": "concrete_pump",
        "name": "62 m truck-mounted concrete pump",
        "channels": _engine(750, 1900)
        + _hydraulics(40, 320, 360)
        + [_ch("pump_vibration", "Pump vibration RMS", "mm/s", 1.2, 3.6, 0.12, (0, 7.1), (0, 50))]
        + _common((4, 38)),
    },
    "QY-50": {
        "family": "truck_crane",
        "name": "50 t truck crane",
        "channels": _engine(700, 1800)
        + _hydraulics(30, 260, 300)
        + [
            _ch(
                "slew_vibration",
                "Slewing bearing vibration RMS",
                "mm/s",
                0.6,
                2.4,
                0.08,
                (0, 5.5),
                (0, 50),
            )
        ]
        + _common((3, 30)),
    },
    "SY-365": {
        "family": "excavator",
        "name": "36 t hydraulic excavator",
        "channels": _engine(800, 1950)
        + _hydraulics(35, 330, 380)
        + [
            _ch(
                "pump_vibration", "Main pump vibration RMS", "mm/s", 1.5, 4.2, 0.12, (0, 8), (0, 50)
            )
        ]
        + _common((5, 42)),
    },
    "PDS-750": {
        "family": "air_compressor",
        "name": "750 cfm electric screw compressor",
        "channels": [
            _ch("motor_current", "Motor current", "A", 60, 240, 2, (0, 280), (0, 500)),
            _ch(
                "discharge_pressure",
                "Discharge pressure",
                "bar",
                6.8,
                8.6,
                0.05,
                (5.5, 10),
                (0, 20),
            ),
            _ch(
                "discharge_temp", "Discharge temperature", "C", 70, 92, 0.4, (-20, 110), (-40, 200)
            ),
            _ch(
                "bearing_vibration",
                "Airend bearing vibration RMS",
                "mm/s",
                1.2,
                2.8,
                0.1,
                (0, 6),
                (0, 50),
            ),
            *_common(None),
        ],
    },
}

DEFAULT_MODEL = {
    "concrete_pump": "HBT-62",
    "truck_crane": "QY-50",
    "excavator": "SY-365",
    "air_compressor": "PDS-750",
}

# Parts the network stocks, per family: (part number, name, class)
FAMILY_PARTS: dict[str, list[tuple[str, str, str]]] = {
    "concrete_pump": [
        ("P-RAD-062", "Radiator core, HBT-62", "critical"),
        ("P-HYDPUMP-A4", "Main hydraulic pump A4VG", "critical"),
        ("P-BRG-6318", "Bearing 6318", "common"),
        ("P-SEAL-KIT-H", "Hydraulic seal kit", "common"),
        ("P-HOSE-HP", "High-pressure hose assembly", "common"),
        ("P-FILTER-OIL", "Engine oil filter", "consumable"),
    ],
    "truck_crane": [
        ("P-RAD-050", "Radiator core, QY-50", "critical"),
        ("P-HYDPUMP-K3", "Hydraulic pump K3V", "critical"),
        ("P-BRG-SLEW", "Slewing ring bearing", "critical"),
        ("P-SEAL-KIT-H", "Hydraulic seal kit", "common"),
        ("P-HOSE-HP", "High-pressure hose assembly", "common"),
        ("P-FILTER-OIL", "Engine oil filter", "consumable"),
    ],
    "excavator": [
        ("P-RAD-365", "Radiator core, SY-365", "critical"),
        ("P-HYDPUMP-K5", "Main pump K5V", "critical"),
        ("P-BRG-6318", "Bearing 6318", "common"),
        ("P-SEAL-KIT-H", "Hydraulic seal kit", "common"),
        ("P-HOSE-HP", "High-pressure hose assembly", "common"),
        ("P-FILTER-OIL", "Engine oil filter", "consumable"),
    ],
    "air_compressor": [
        ("P-AIREND-750", "Screw airend, PDS-750", "critical"),
        ("P-COOLER-750", "Oil/air cooler core, PDS-750", "critical"),
        ("P-BRG-6318", "Bearing 6318", "common"),
        ("P-HOSE-AIR", "Discharge hose assembly", "common"),
        ("P-FILTER-SEP", "Oil separator element", "consumable"),
    ],
}
SENSOR_PARTS = [
    ("P-SENS-TEMP", "Temperature sensor", "common"),
    ("P-SENS-PRES", "Pressure transducer", "common"),
    ("P-SENS-VIB", "Vibration sensor", "common"),
    ("P-SENS-SPD", "Speed / current sensor", "common"),
]


def kind_of(code: str, explicit: str | None) -> str:
    """The kind of a channel: the fleet file's ``kind``, else by its code, else generic."""
    if explicit is not None:
        if explicit not in KINDS:
            raise ValueError(f"unknown channel kind {explicit!r} (known: {sorted(KINDS)})")
        return explicit
    return KIND_BY_CODE.get(code, "generic")

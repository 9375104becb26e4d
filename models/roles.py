"""What a channel measures, from its code: the vocabulary shared by features and modes.

Real machines and the simulator name channels alike (``pump_vibration``,
``hydraulic_oil_temp``, ``discharge_pressure`` ...); the role says how a channel
behaves (a temperature lags the load) and which failure modes show in it. Counters and
positions (``operating_hours``, ``gps_lat``) say nothing about health and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

ROLES = (
    "vibration",
    "coolant_temp",
    "oil_temp",
    "pressure",
    "oil_pressure",
    "current",
    "speed",
    "load",
    "fuel",
    "other",
)
EXCLUDED = "excluded"

# The first rule whose keyword is in the code wins; order matters.
_RULES: tuple[tuple[str, str], ...] = (
    ("operating_hours", EXCLUDED),
    ("hours", EXCLUDED),
    ("gps", EXCLUDED),
    ("latitude", EXCLUDED),
    ("longitude", EXCLUDED),
    ("vibration", "vibration"),
    ("coolant", "coolant_temp"),
    ("oil_temp", "oil_temp"),
    ("discharge_temp", "oil_temp"),  # a screw compressor's oil-flooded airend outlet
    ("oil_pressure", "oil_pressure"),
    ("pressure", "pressure"),
    ("current", "current"),
    ("load", "load"),
    ("speed", "speed"),
    ("rpm", "speed"),
    ("fuel", "fuel"),
)

# Where the operating point is read from, best first: the same coolant temperature
# means different things at idle and at full load.
LOAD_ROLES = ("load", "current", "speed")


def role_of(code: str) -> str:
    lowered = code.lower()
    for keyword, role in _RULES:
        if keyword in lowered:
            return role
    return "other"


def health_channels(codes: Sequence[str]) -> list[str]:
    """The channels that carry health information, in the order given."""
    return [c for c in codes if role_of(c) != EXCLUDED]


def load_channel(codes: Sequence[str]) -> str | None:
    """The channel that tells the operating point, if the machine has one."""
    for wanted in LOAD_ROLES:
        for code in codes:
            if role_of(code) == wanted:
                return code
    return None


def label(code: str) -> str:
    """``pump_vibration`` -> ``pump vibration`` (for explanations)."""
    return code.replace("_", " ")

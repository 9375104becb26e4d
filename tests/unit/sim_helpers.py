"""Small fleets and runs for the simulator's unit tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from device_sim.fleet import Fleet, parse_fleet
from device_sim.physics import FleetPhysics

START = datetime(2026, 9, 7, 0, 0, tzinfo=UTC)  # a Monday, 08:00 in China


def one_machine(
    family: str = "concrete_pump",
    *,
    faults: list[dict[str, Any]] | None = None,
    schedule: str = "continuous",
    seed: int = 7,
    count: int = 1,
) -> Fleet:
    data: dict[str, Any] = {
        "seed": seed,
        "fleet": [
            {
                "family": family,
                "count": count,
                "regions": ["Hunan"],
                "schedule": schedule,
                "commissioned": [date(2024, 1, 1), date(2024, 1, 1)],
            }
        ],
        "faults": faults or [],
    }
    return parse_fleet(data, "<test>")


def run(
    fleet: Fleet, days: float, interval_s: float = 600.0, start: datetime = START
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Times (days since start), readings (steps, channels; NaN = not sent) of machine 0."""
    physics = FleetPhysics(fleet, start)
    group = physics.groups[0]
    steps = int(days * 86_400 / interval_s)
    times = np.arange(steps) * interval_s / 86_400
    out = np.full((steps, len(group.model.channels)), np.nan)
    for i in range(steps):
        (g,) = physics.step(start + timedelta(seconds=i * interval_s))
        if 0 in g.rows:
            out[i] = g.values[0]
    return times, out, [c.code for c in group.model.channels]


def fault(
    serial: str, mode: str, onset_days: float, failure_days: float, **extra: Any
) -> dict[str, Any]:
    return {
        "serial": serial,
        "mode": mode,
        "onset_after_s": onset_days * 86_400,
        "failure_after_s": failure_days * 86_400,
        **extra,
    }

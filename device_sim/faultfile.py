"""The fault entries of a fleet file: ``[[faults]]`` and ``[fault_rates]``.

A ``[[faults]]`` entry with a ``mode`` schedules a failure mode (device_sim.modes):
``serial``, ``mode``, ``onset`` and ``failure`` (TOML datetimes) or ``onset_after_s`` and
``failure_after_s`` (seconds after the simulation start), and for sensor modes an
optional ``channel``. An entry without ``mode`` is an excursion: ``channel`` moves to
``value`` ``after_s`` seconds in (over ``ramp_s``, for ``duration_s``), as in the demo.
``[fault_rates]`` gives random faults per machine-month per mode (``defaults = true``
starts from device_sim.modes.DEFAULT_RATES; ``scale`` multiplies them all).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from device_sim.errors import FleetFileError
from device_sim.modes import DEFAULT_RATES, MODES, NOT_SENSED


@dataclass(frozen=True)
class FaultDef:
    """An excursion: from ``after_s`` simulated seconds, ``channel`` moves to ``value``."""

    serial: str
    channel: str
    after_s: float
    value: float
    ramp_s: float = 0.0
    duration_s: float | None = None


@dataclass(frozen=True)
class ScheduledFault:
    """A failure mode scheduled in the fleet file.

    Times are absolute (``onset``/``failure``) or relative to the simulation start
    (``onset_after_s``/``failure_after_s``).
    """

    serial: str
    mode: str
    onset: datetime | None = None
    failure: datetime | None = None
    onset_after_s: float | None = None
    failure_after_s: float | None = None
    channel: str | None = None  # the sensor, for sensor faults


def _time_pair(f: dict[str, Any], key: str, where: str) -> tuple[datetime | None, float | None]:
    absolute: Any = f.get(key)
    relative: Any = f.get(f"{key}_after_s")
    if (absolute is None) == (relative is None):
        raise FleetFileError(f"{where}: give exactly one of {key!r} and '{key}_after_s'")
    if absolute is not None:
        if not isinstance(absolute, datetime) or absolute.tzinfo is None:
            raise FleetFileError(f"{where}: {key!r} must be a TOML datetime with a zone")
        return absolute, None
    return None, float(relative)


def parse_faults(
    entries: list[dict[str, Any]], kinds: dict[str, dict[str, str]], source: str
) -> tuple[tuple[FaultDef, ...], tuple[ScheduledFault, ...]]:
    """Excursions and scheduled modes; ``kinds`` maps serial -> channel code -> kind."""
    excursions: list[FaultDef] = []
    scheduled: list[ScheduledFault] = []
    for f in entries:
        where = f"{source} fault {f!r}"
        serial = str(f.get("serial"))
        if serial not in kinds:
            raise FleetFileError(f"{where}: unknown machine {serial!r}")
        channels = kinds[serial]
        if "mode" not in f:
            if f.get("channel") not in channels:
                raise FleetFileError(f"{where}: the machine has no channel {f.get('channel')!r}")
            for key in ("after_s", "value"):
                if key not in f:
                    raise FleetFileError(f"{where}: missing key {key!r}")
            excursions.append(
                FaultDef(
                    serial,
                    str(f["channel"]),
                    float(f["after_s"]),
                    float(f["value"]),
                    float(f.get("ramp_s", 0.0)),
                    None if f.get("duration_s") is None else float(f["duration_s"]),
                )
            )
            continue
        mode = MODES.get(str(f["mode"]))
        if mode is None:
            raise FleetFileError(f"{where}: unknown mode {f['mode']!r} (known: {sorted(MODES)})")
        if not mode.applies_to(set(channels.values())):
            raise FleetFileError(f"{where}: {mode.name} needs channels the machine lacks")
        channel = f.get("channel")
        if channel is not None and (
            not mode.sensor or channel not in channels or channels[channel] in NOT_SENSED
        ):
            raise FleetFileError(f"{where}: 'channel' names a sensed channel of a sensor fault")
        onset, onset_after = _time_pair(f, "onset", where)
        failure, failure_after = _time_pair(f, "failure", where)
        if (onset is None) != (failure is None):
            raise FleetFileError(f"{where}: give both times absolute or both relative")
        if (onset and failure and failure < onset) or (
            onset_after is not None and failure_after is not None and failure_after < onset_after
        ):
            raise FleetFileError(f"{where}: the failure comes before the onset")
        scheduled.append(
            ScheduledFault(serial, mode.name, onset, failure, onset_after, failure_after, channel)
        )
    return tuple(excursions), tuple(scheduled)


def parse_rates(table: dict[str, Any], source: str) -> dict[str, float]:
    """Random-fault rates per machine-month and mode; an absent table means none."""
    rates = dict(DEFAULT_RATES) if table.get("defaults", False) else {}
    for key, value in table.items():
        if key in ("defaults", "scale"):
            continue
        if key not in MODES:
            raise FleetFileError(f"{source} [fault_rates]: unknown mode {key!r}")
        rates[key] = float(value)
    scale = float(table.get("scale", 1.0))
    out = {k: v * scale for k, v in rates.items()}
    if any(v < 0 for v in out.values()):
        raise FleetFileError(f"{source} [fault_rates]: rates must not be negative")
    return {k: v for k, v in out.items() if v > 0}

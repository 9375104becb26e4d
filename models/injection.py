"""Failure modes injected into healthy bucket aggregates (pure pandas / NumPy).

How each mode shows, in the terms of the domain (../shared/DOMAIN.md, docs/simulator.md):

| mode | what changes |
| --- | --- |
| bearing_wear | vibration rises with load; late, the hot oil / coolant warms |
| hydraulic_pump_wear | working pressure falls under load; oil temperature rises |
| cooling_fouling | coolant (compressor: discharge) temperature creeps up under the same load |
| seal_hose_leak | working pressure drops by more than half; oil warms slightly |
| sensor_stuck | one channel frozen: no noise, no load response |
| sensor_drift | one channel drifts away, independent of the load |
| sensor_noisy | one channel's noise grows several-fold |
| sensor_dropout | one channel reports less and less often |

Sizes are relative to what the family's own healthy data says about each channel: its
``span`` (idle to full load, from the load model) and its noise (within-bucket range).
The failure-mode classifier is trained on a family's healthy windows with these
injected (models/modes.py), so it learns each mode's signature in that family's
channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.roles import role_of

MACHINE_MODES = ("bearing_wear", "hydraulic_pump_wear", "cooling_fouling", "seal_hose_leak")
SENSOR_MODES = ("sensor_stuck", "sensor_drift", "sensor_noisy", "sensor_dropout")
MODES = MACHINE_MODES + SENSOR_MODES

# Which role each machine mode acts on first, and the fallback roles.
_HOT = ("oil_temp", "coolant_temp")
_COOLING = ("coolant_temp", "oil_temp")


@dataclass(frozen=True)
class ChannelScale:
    """What a family's healthy data says about one channel."""

    span: float  # reading at full load minus at idle (absolute value; > 0)
    noise: float  # typical within-bucket range


@dataclass(frozen=True)
class Injected:
    mode: str
    d: float  # degradation 0 .. 1
    channel: str | None = None  # sensor modes: the sensor


def _first(channels: list[str], roles: tuple[str, ...]) -> str | None:
    for role in roles:
        for channel in channels:
            if role_of(channel) == role:
                return channel
    return None


def target_channels(channels: list[str]) -> dict[str, str | None]:
    """The channels machine modes act on, by part of their signatures."""
    return {
        "vibration": _first(channels, ("vibration",)),
        "pressure": _first(channels, ("pressure",)),
        "hot": _first(channels, _HOT),
        "cooling": _first(channels, _COOLING),
    }


def applicable(mode: str, channels: list[str]) -> bool:
    """Whether the family has the channels the mode shows in."""
    t = target_channels(channels)
    need = {
        "bearing_wear": t["vibration"],
        "hydraulic_pump_wear": t["pressure"],
        "cooling_fouling": t["cooling"],
        "seal_hose_leak": t["pressure"],
    }
    return mode in SENSOR_MODES or need.get(mode) is not None


def inject(
    aggregates: pd.DataFrame,
    faults: dict[tuple[int, int], Injected],
    scales: dict[str, ChannelScale],
    load: NDArray[np.float64],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """A copy of ``aggregates`` with each (machine, window)'s fault applied.

    ``load`` is the operating point (0 idle .. 1 full) of every row of ``aggregates``
    (the load of the row's bucket).
    """
    values = {c: aggregates[c].to_numpy(dtype=np.float64).copy() for c in ("mean", "min", "max")}
    channel = aggregates["channel"].to_numpy()
    keep = np.ones(len(aggregates), dtype=bool)
    positions: dict[Any, Any] = aggregates.groupby(["equipment_id", "window"], sort=False).indices
    rows_of = {(int(k[0]), int(k[1])): np.asarray(v, dtype=np.int64) for k, v in positions.items()}
    for key, fault in faults.items():
        rows = rows_of.get(key)
        if rows is not None:
            clipped = np.clip(load[rows], 0.0, 1.0)
            _apply(values, channel, rows, fault, scales=scales, load=clipped, rng=rng, keep=keep)
    out = aggregates.copy()
    for column, array in values.items():
        out[column] = array
    return out[keep].reset_index(drop=True)


def _apply(
    values: dict[str, NDArray[np.float64]],
    channel_of: NDArray[Any],
    rows: NDArray[np.int64],
    fault: Injected,
    *,
    scales: dict[str, ChannelScale],
    load: NDArray[np.float64],
    rng: np.random.Generator,
    keep: NDArray[np.bool_],
) -> None:
    here = channel_of[rows]

    def shift(code: str | None, amount: Callable[[NDArray[np.float64]], Any]) -> None:
        if code is None:
            return
        mask = here == code
        delta = amount(load[mask])
        for column in ("mean", "min", "max"):
            values[column][rows[mask]] += delta

    if fault.mode in MACHINE_MODES:
        _machine_fault(fault, scales, shift)
    elif fault.mode in SENSOR_MODES:
        code = fault.channel or next(iter(scales))
        _sensor_fault(
            fault,
            values,
            rows[here == code],
            scale=scales[code],
            rng=rng,
            keep=keep,
            shift=shift,
            code=code,
        )
    else:
        raise ValueError(f"unknown failure mode {fault.mode!r}")


Shift = Callable[[str | None, Callable[[NDArray[np.float64]], Any]], None]


def _machine_fault(fault: Injected, scales: dict[str, ChannelScale], shift: Shift) -> None:
    d = fault.d
    t = target_channels(list(scales))
    vib, pressure, hot, cooling = t["vibration"], t["pressure"], t["hot"], t["cooling"]

    def span(code: str | None) -> float:
        return scales[code].span if code is not None else 0.0

    if fault.mode == "bearing_wear":
        late = max(0.0, (d - 0.55) / 0.45) ** 1.5
        shift(vib, lambda lr: 1.2 * d * span(vib) * (0.4 + 0.6 * lr))
        shift(hot, lambda lr: 0.35 * late * span(hot) * (0.3 + 0.7 * lr))
    elif fault.mode == "hydraulic_pump_wear" and pressure:
        shift(pressure, lambda lr: -0.28 * d * span(pressure) * lr)
        shift(hot, lambda lr: 0.5 * d * span(hot) * (0.2 + 0.8 * lr))
    elif fault.mode == "cooling_fouling":
        shift(cooling, lambda lr: 1.1 * d * span(cooling) * (0.2 + 0.8 * lr))
    elif fault.mode == "seal_hose_leak" and pressure:
        shift(pressure, lambda lr: -0.6 * d * span(pressure) * (0.5 + 0.5 * lr))
        shift(hot, lambda _lr: 0.15 * d * span(hot))


def _sensor_fault(
    fault: Injected,
    values: dict[str, NDArray[np.float64]],
    rows: NDArray[np.int64],
    *,
    scale: ChannelScale,
    rng: np.random.Generator,
    keep: NDArray[np.bool_],
    shift: Shift,
    code: str,
) -> None:
    if rows.size == 0:
        return
    d = fault.d
    if fault.mode == "sensor_stuck":
        frozen = values["mean"][rows[0]]
        for column in ("mean", "min", "max"):
            values[column][rows] = frozen
    elif fault.mode == "sensor_drift":
        direction = 1.0 if rng.random() < 0.5 else -1.0
        size = direction * 0.3 * d * max(scale.span, 10 * scale.noise)
        shift(code, lambda _lr: size)
    elif fault.mode == "sensor_noisy":
        gain = 1.0 + 7.0 * d
        mean = values["mean"][rows]
        half = (values["max"][rows] - values["min"][rows]) / 2
        jitter = rng.normal(0, 1, rows.size) * scale.noise * (gain - 1) / 4
        values["mean"][rows] = mean + jitter
        values["min"][rows] = mean + jitter - half * gain
        values["max"][rows] = mean + jitter + half * gain
    else:  # sensor_dropout
        keep[rows[rng.random(rows.size) < 0.9 * d]] = False

"""Failure modes injected into healthy bucket aggregates (pure pandas / NumPy).

How each mode shows, in the terms of the domain (../shared/DOMAIN.md, docs/simulator.md):

| mode | what changes |
| --- | --- |
| bearing_wear | vibration rises with load; late, the hot oil / coolant warms |
| hydraulic_pump_wear | working pressure falls under load; oil temperature rises |
| cooling_fouling | coolant (compressor: discharge) temperature creeps up under the same load |
| seal_hose_leak | working pressure drops by more than half; oil warms slightly |
| sensor_stuck | one channel frozen (from a moment that may fall inside the window): no noise, no load response |
| sensor_drift | one channel drifts away, independent of the load |
| sensor_noisy | one channel's noise grows several-fold |
| sensor_dropout | one channel loses more and more of its readings, then whole buckets |

Sizes are relative to what the family's own healthy data says about each channel: its
``span`` (idle to full load, from the load model) and its noise (within-bucket range).
The failure-mode classifier is trained on a family's healthy windows with these
injected (models/modes.py), so it learns each mode's signature in that family's
channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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
    lag: float = 0.0  # first-order lag per bucket (temperatures): heat arrives late
    level: float = 0.0  # typical reading at full load (|value|; 0: use the span)


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


@dataclass(frozen=True)
class RowLoad:
    """The operating point (0 idle .. 1 full) of every aggregate row's bucket: its mean,
    and the lowest and highest the load went within the bucket."""

    mean: NDArray[np.float64]
    low: NDArray[np.float64] | None = None
    high: NDArray[np.float64] | None = None


def inject(
    aggregates: pd.DataFrame,
    faults: dict[tuple[int, int], Injected],
    scales: dict[str, ChannelScale],
    load: NDArray[np.float64] | RowLoad,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """A copy of ``aggregates`` with each (machine, window)'s fault applied.

    ``load`` is the operating point of every row of ``aggregates`` (the load of the
    row's bucket; with its range within the bucket, an effect that grows with the load
    also widens the bucket's min-max range, as it does in a machine whose load moves).
    Heat reaches a lagging channel (``ChannelScale.lag``) bucket by bucket.
    """
    loads = load if isinstance(load, RowLoad) else RowLoad(np.asarray(load, dtype=np.float64))
    columns = ("mean", "min", "max", "count") if "count" in aggregates else ("mean", "min", "max")
    values = {c: aggregates[c].to_numpy(dtype=np.float64).copy() for c in columns}
    channel = aggregates["channel"].to_numpy()
    order = (
        _as_order(aggregates["bucket"]) if "bucket" in aggregates else np.arange(len(aggregates))
    )
    keep = np.ones(len(aggregates), dtype=bool)
    positions: dict[Any, Any] = aggregates.groupby(["equipment_id", "window"], sort=False).indices
    rows_of = {(int(k[0]), int(k[1])): np.asarray(v, dtype=np.int64) for k, v in positions.items()}
    for key, fault in faults.items():
        rows = rows_of.get(key)
        if rows is not None:
            rows = rows[np.argsort(order[rows], kind="stable")]
            here = _Rows(rows, channel[rows], loads)
            _apply(values, here, fault, scales=scales, rng=rng, keep=keep)
    out = aggregates.copy()
    for column, array in values.items():
        out[column] = array.astype(aggregates[column].to_numpy().dtype)  # counts stay integers
    return out[keep].reset_index(drop=True)


def _as_order(values: pd.Series) -> NDArray[np.int64]:
    if pd.api.types.is_datetime64_any_dtype(values):
        return np.asarray(values.to_numpy(dtype="datetime64[ns]").astype(np.int64))
    return np.asarray(pd.to_numeric(values).to_numpy(), dtype=np.int64)


@dataclass(frozen=True)
class _Rows:
    """One (machine, window)'s aggregate rows, in bucket order, and their load."""

    index: NDArray[np.int64]
    channel: NDArray[Any]
    loads: RowLoad

    def load(self, mask: NDArray[np.bool_], which: str = "mean") -> NDArray[np.float64]:
        array = getattr(self.loads, which)
        if array is None:
            array = self.loads.mean
        return np.asarray(np.clip(array[self.index[mask]], 0.0, 1.0), dtype=np.float64)


def _lagged(delta: NDArray[np.float64], lag: float) -> NDArray[np.float64]:
    """First-order lag along the buckets, starting settled at the first bucket's value."""
    if lag <= 0 or delta.size == 0:
        return delta
    out = np.empty_like(delta)
    level = float(delta[0])
    for i, target in enumerate(delta.tolist()):
        level = lag * level + (1.0 - lag) * target
        out[i] = level
    return out


def _apply(
    values: dict[str, NDArray[np.float64]],
    here: _Rows,
    fault: Injected,
    *,
    scales: dict[str, ChannelScale],
    rng: np.random.Generator,
    keep: NDArray[np.bool_],
) -> None:
    rows = here.index

    def shift(
        code: str | None,
        amount: Callable[[NDArray[np.float64]], Any],
        onset: tuple[float, float] | None = None,
    ) -> None:
        """Add ``amount(load)`` to channel ``code``; with ``onset`` = (start, length) as
        shares of the window, the fault arrives during the window along a ramp."""
        if code is None:
            return
        mask = here.channel == code
        n = int(mask.sum())
        ramp = np.ones(n)
        if onset is not None and n:
            position = (np.arange(n) + 0.5) / n
            ramp = np.clip((position - onset[0]) / max(onset[1], 1e-9), 0.0, 1.0)
        lag = scales[code].lag if code in scales else 0.0
        if lag > 0:  # heat: the bucket's level follows the lag; its range does not widen
            delta = _lagged(np.broadcast_to(amount(here.load(mask)), n) * ramp, lag)
            for column in ("mean", "min", "max"):
                values[column][rows[mask]] += delta
            return
        # a reading that rises with the load peaks with it: the bucket's extremes move
        # with the load's extremes, so an effect that grows with load widens the range
        mean = np.broadcast_to(amount(here.load(mask)), n) * ramp
        low = np.broadcast_to(amount(here.load(mask, "low")), n) * ramp
        high = np.broadcast_to(amount(here.load(mask, "high")), n) * ramp
        new_min = values["min"][rows[mask]] + low
        new_max = values["max"][rows[mask]] + high
        values["mean"][rows[mask]] += mean
        values["min"][rows[mask]] = np.minimum(new_min, new_max)
        values["max"][rows[mask]] = np.maximum(new_min, new_max)

    if fault.mode in MACHINE_MODES:
        _machine_fault(fault, scales, shift, rng)
    elif fault.mode in SENSOR_MODES:
        code = fault.channel or next(iter(scales))
        _sensor_fault(
            fault,
            values,
            rows[here.channel == code],
            scale=scales[code],
            rng=rng,
            keep=keep,
            shift=shift,
            code=code,
        )
    else:
        raise ValueError(f"unknown failure mode {fault.mode!r}")


class Shift(Protocol):
    def __call__(
        self,
        code: str | None,
        amount: Callable[[NDArray[np.float64]], Any],
        onset: tuple[float, float] | None = None,
    ) -> None: ...


def _machine_fault(
    fault: Injected, scales: dict[str, ChannelScale], shift: Shift, rng: np.random.Generator
) -> None:
    d = fault.d
    t = target_channels(list(scales))
    vib, pressure, hot, cooling = t["vibration"], t["pressure"], t["hot"], t["cooling"]

    def span(code: str | None) -> float:
        return scales[code].span if code is not None else 0.0

    def level(code: str | None) -> float:
        """A pressure falls by a share of what it reads, not of its idle-to-full span."""
        return max(scales[code].level, scales[code].span) if code is not None else 0.0

    if fault.mode == "bearing_wear":
        late = max(0.0, (d - 0.55) / 0.45) ** 1.5
        shift(vib, lambda lr: 1.2 * d * span(vib) * (0.4 + 0.6 * lr))
        shift(hot, lambda lr: 0.35 * late * span(hot) * (0.3 + 0.7 * lr))
    elif fault.mode == "hydraulic_pump_wear" and pressure:
        shift(pressure, lambda lr: -0.28 * d * level(pressure) * lr)
        shift(hot, lambda lr: 0.5 * d * span(hot) * (0.2 + 0.8 * lr))
    elif fault.mode == "cooling_fouling":
        shift(cooling, lambda lr: 1.1 * d * span(cooling) * (0.2 + 0.8 * lr))
    elif fault.mode == "seal_hose_leak" and pressure:
        # a leak takes the pressure down within minutes to hours: often inside the window
        onset = (float(rng.uniform(-0.6, 0.7)), float(rng.uniform(0.05, 0.6)))
        shift(pressure, lambda lr: -0.6 * d * level(pressure) * (0.5 + 0.5 * lr), onset)
        shift(hot, lambda _lr: 0.15 * d * span(hot), onset)


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
        # a sensor sticks at one moment, often inside the window: from the bucket it
        # stuck in on, it repeats what it read then (a level step and no spread, like a
        # sudden leak at first sight)
        start = int(np.clip(np.ceil(rng.uniform(-0.6, 0.9) * rows.size), 0, rows.size - 1))
        frozen = values["mean"][rows[start]]
        for column in ("mean", "min", "max"):
            values[column][rows[start:]] = frozen
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
    else:  # sensor_dropout: each reading lost with probability 0.05 + 0.95 d
        _thin(values, rows, 1.0 - (0.05 + 0.95 * d), rng, keep)


def _thin(
    values: dict[str, NDArray[np.float64]],
    rows: NDArray[np.int64],
    kept: float,
    rng: np.random.Generator,
    keep: NDArray[np.bool_],
) -> None:
    """Buckets of a sensor that loses readings: fewer readings (none: no bucket), a range
    that shrinks with them (one reading has none) and a mean that wanders within it."""
    if "count" not in values:  # aggregates without counts: whole buckets only
        keep[rows[rng.random(rows.size) > kept]] = False
        return
    n = np.maximum(np.rint(values["count"][rows]), 1).astype(np.int64)
    k = rng.binomial(n, kept)
    keep[rows[k == 0]] = False
    low, high = values["min"][rows], values["max"][rows]
    share = np.where(n > 1, (np.maximum(k, 1) - 1) / np.maximum(n - 1, 1), 1.0)
    half = 0.5 * (high - low)
    center = values["mean"][rows] + rng.uniform(-1.0, 1.0, rows.size) * half * (1.0 - share)
    values["mean"][rows] = center
    values["min"][rows] = center - half * share
    values["max"][rows] = center + half * share
    values["count"][rows] = k

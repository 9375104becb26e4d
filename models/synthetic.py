"""Synthetic bucket aggregates of a fleet, with known faults (tests and ``bench score``).

A small stand-in for the simulator's physics, at the level the models see: per machine
a load process, channels that follow the load (temperatures with a lag), per-machine
offsets, sensor noise, and, when asked, one failure mode at a given degradation ``d``
(0 healthy .. 1 failed), applied by models/injection.py. Rows come out as the scoring job reads them from the database:
one per machine, bucket and channel with the bucket's mean, min, max and count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.features import expected_range
from models.injection import ChannelScale, Injected, inject


@dataclass(frozen=True)
class Channel:
    code: str
    idle: float
    full: float
    noise: float
    lag_buckets: float = 0.0  # first-order lag behind the load (thermal channels)


PUMP = (
    Channel("engine_speed", 750, 1900, 12),
    Channel("engine_load", 8, 92, 1.5),
    Channel("coolant_temp", 80, 92, 0.4, lag_buckets=10),
    Channel("oil_pressure", 1.8, 4.8, 0.06),
    Channel("hydraulic_oil_temp", 45, 68, 0.3, lag_buckets=25),
    Channel("hydraulic_pressure", 40, 320, 4),
    Channel("pump_vibration", 1.2, 3.6, 0.12),
    Channel("fuel_rate", 4, 38, 0.5),
)


def _lagged(x: np.ndarray, lag: float) -> np.ndarray:
    """First-order lag along axis 1 (buckets), per machine."""
    if lag <= 0:
        return x
    alpha = 1.0 / (1.0 + lag)
    out = np.empty_like(x)
    out[:, 0] = x[:, 0]
    for b in range(1, x.shape[1]):
        out[:, b] = out[:, b - 1] + alpha * (x[:, b] - out[:, b - 1])
    return out


def fleet(
    machines: int,
    buckets: int = 60,
    *,
    channels: tuple[Channel, ...] = PUMP,
    faults: dict[int, Injected] | None = None,
    samples_per_bucket: int = 60,
    windows: int = 1,
    seed: int = 0,
    first_id: int = 1,
    noise_seed: int | None = None,
    start: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Long aggregates of ``machines`` machines over ``windows`` windows of ``buckets``
    one-minute buckets. ``faults`` maps an equipment id to its fault (all windows).
    Machines keep their habits and offsets (``seed``) across calls; ``noise_seed``
    draws their load and noise afresh (another day of the same fleet). Window ``w``
    starts ``w * buckets`` minutes after ``start``."""
    rng = np.random.default_rng(seed if noise_seed is None else [seed, noise_seed])
    faults = faults or {}
    n_rows = machines * windows
    ids = np.repeat(np.arange(first_id, first_id + machines), windows)
    window = np.tile(np.arange(windows), machines)
    # a machine's habits and offsets depend on its id only, not on the call
    own = [np.random.default_rng([seed, int(m)]) for m in range(first_id, first_id + machines)]
    mean_load = np.repeat([g.uniform(0.35, 0.75) for g in own], windows)
    load = np.empty((n_rows, buckets))
    load[:, 0] = mean_load
    for b in range(1, buckets):  # mean-reverting work / idle
        load[:, b] = (
            load[:, b - 1] + 0.25 * (mean_load - load[:, b - 1]) + rng.normal(0, 0.08, n_rows)
        )
    load = np.clip(load, 0.0, 1.0)
    offsets = np.repeat(np.array([g.normal(0, 1, len(channels)) for g in own]), windows, axis=0)
    frames = []
    values: dict[str, np.ndarray] = {}
    for j, ch in enumerate(channels):
        level = ch.idle + (ch.full - ch.idle) * _lagged(load, ch.lag_buckets)
        values[ch.code] = level + offsets[:, j : j + 1] * ch.noise * 2
    t_h = np.arange(buckets) / 60.0
    origin = start if start is not None else pd.Timestamp("2026-11-30T00:00:00Z")
    minutes = (window[:, None] * buckets + np.arange(buckets)[None, :]).ravel()
    bucket_times = origin + pd.to_timedelta(minutes, unit="min")
    for ch in channels:
        sd = ch.noise / np.sqrt(samples_per_bucket)
        mean = values[ch.code] + rng.normal(0, 1, (n_rows, buckets)) * sd
        half_range = (
            0.5
            * expected_range(samples_per_bucket)
            * ch.noise
            * rng.uniform(0.9, 1.1, (n_rows, buckets))
        )
        frames.append(
            pd.DataFrame(
                {
                    "equipment_id": np.repeat(ids, buckets),
                    "window": np.repeat(window, buckets),
                    "bucket": bucket_times,
                    "t_h": np.tile(t_h, n_rows),
                    "channel": ch.code,
                    "mean": mean.ravel(),
                    "min": (mean - half_range).ravel(),
                    "max": (mean + half_range).ravel(),
                    "count": np.full(n_rows * buckets, samples_per_bucket, dtype=np.int64),
                    "_load": load.ravel(),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    if faults:
        scales = {
            c.code: ChannelScale(
                abs(c.full - c.idle),
                float(expected_range(samples_per_bucket)) * c.noise,
                lag=c.lag_buckets / (1.0 + c.lag_buckets),
            )
            for c in channels
        }
        each = {(m, w): fault for m, fault in faults.items() for w in range(windows)}
        out = inject(out, each, scales, out["_load"].to_numpy(), rng)
    return out.drop(columns="_load")

"""The faults of one group of machines (one model) as arrays, applied step by step.

device_sim.faults decides which faults happen; this module turns those in effect into
vectorised changes of the readings: machine faults add to readings or to the heat
level of thermal channels (scaled by the load) and take a failed machine down until it
is repaired; sensor faults hold, drift, add noise to or drop one channel; excursions
move a channel to a fixed value. A machine fault's degradation follows its machine's
operating time (``progress``: the operating seconds since its onset and the intervals
in which the machine runs, refreshed with the faults); a sensor fault's, the calendar.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from device_sim.faults import FaultEvent, FaultPlan
from device_sim.fleet import ModelDef
from device_sim.modes import MODES, SHAPES, along, degradation, effect_columns

F64 = NDArray[np.float64]
_SENSOR_KIND = {"sensor_stuck": 0, "sensor_drift": 1, "sensor_noisy": 2, "sensor_dropout": 3}


def _arr(values: Sequence[float]) -> F64:
    return np.asarray(values, np.float64)


def _machine_terms(
    e: FaultEvent, row: int, model: ModelDef, kinds: list[str], shape_clock: tuple[float, float]
) -> list[tuple[float, ...]]:
    """One row per channel a machine fault acts on: where, how much, when."""
    out: list[tuple[float, ...]] = []
    for effect in MODES[e.mode].effects:
        for col in effect_columns(effect, kinds):
            ch = model.channels[col]
            if effect.ref == "full":
                ref = abs(ch.full)
            else:
                ref = max(ch.valid[1] - ch.full, 0.25 * abs(ch.full - ch.idle), 5 * ch.noise)
            out.append(
                (
                    row,
                    col,
                    effect.where == "heat",
                    effect.gain * ref,
                    effect.load_floor,
                    effect.delay,
                    effect.power,
                    e.onset,
                    e.failure,
                    e.repaired,
                    *shape_clock,
                )
            )
    return out


def _sensor_term(e: FaultEvent, row: int, model: ModelDef, shape: float) -> tuple[float, ...]:
    codes = [c.code for c in model.channels]
    ch = model.channels[codes.index(e.channels[0])]
    span = abs(ch.full - ch.idle)
    if e.mode == "sensor_drift":
        amp = e.sign * 1.2 * max(ch.valid[1] - ch.full, 0.5 * span, 10 * ch.noise)
    else:
        amp = 8.0 * max(ch.noise, 0.02 * span, 1e-3)
    col = codes.index(ch.code)
    return (row, col, _SENSOR_KIND[e.mode], amp, e.onset, e.failure, e.repaired, shape)


class GroupFaults:
    """Arrays of the fault terms of one group; ``holds`` keeps stuck values across rebuilds."""

    def __init__(
        self,
        events: Sequence[FaultEvent],
        rows: dict[str, int],
        model: ModelDef,
        holds: dict[str, float],
    ) -> None:
        self.ids = frozenset(e.fault_id for e in events)
        self.holds = holds
        codes = [c.code for c in model.channels]
        kinds = [c.kind for c in model.channels]
        m: list[tuple[float, ...]] = []  # machine effect terms
        self.operating: list[FaultEvent] = []  # faults that degrade with operating time
        down: list[tuple[float, float, float]] = []
        s: list[tuple[float, ...]] = []  # sensor terms
        self.s_ids: list[str] = []
        x: list[tuple[float, ...]] = []  # excursions
        for e in events:
            row = rows[e.serial]
            if e.mode == "excursion":
                end = e.onset + e.duration_s if e.duration_s is not None else np.inf
                x.append((row, codes.index(e.channels[0]), e.onset, e.value, e.ramp_s, end))
                continue
            mode = MODES[e.mode]
            shape = float(SHAPES.index(e.shape))
            if mode.sensor:
                s.append(_sensor_term(e, row, model, shape))
                self.s_ids.append(e.fault_id)
                continue
            down.append((row, e.failure, e.repaired))
            clock = -1.0
            if e.operating:
                clock = float(len(self.operating))
                self.operating.append(e)
            m += _machine_terms(e, row, model, kinds, (shape, clock))
        mt = np.array(m, np.float64).reshape(-1, 12)
        self.m_row, self.m_col = mt[:, 0].astype(np.intp), mt[:, 1].astype(np.intp)
        self.m_heat = mt[:, 2] > 0
        self.m_amp, self.m_floor, self.m_delay, self.m_power = (
            mt[:, 3],
            mt[:, 4],
            mt[:, 5],
            mt[:, 6],
        )
        self.m_times, self.m_shape = mt[:, 7:10], mt[:, 10].astype(np.int8)
        self.m_clock = mt[:, 11].astype(np.intp)  # index into ``operating``; -1: calendar
        self.p_before = np.zeros(len(self.operating))
        self.p_span = np.array([max(e.span_s, 1e-9) for e in self.operating])
        self.p_runs = np.zeros((len(self.operating), 0, 2))
        dt_ = np.array(down, np.float64).reshape(-1, 3)
        self.d_row, self.d_failure, self.d_repaired = (
            dt_[:, 0].astype(np.intp),
            dt_[:, 1],
            dt_[:, 2],
        )
        st = np.array(s, np.float64).reshape(-1, 8)
        self.s_row, self.s_col = st[:, 0].astype(np.intp), st[:, 1].astype(np.intp)
        self.s_kind, self.s_amp = st[:, 2].astype(np.int8), st[:, 3]
        self.s_times, self.s_shape = st[:, 4:7], st[:, 7].astype(np.int8)
        self.s_hold = _arr([holds.get(i, np.nan) for i in self.s_ids])
        xt = np.array(x, np.float64).reshape(-1, 6)
        self.x = [(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5]) for r in xt]

    def progress(self, t0: float, t1: float, plan: FaultPlan) -> None:
        """Set the operating faults' clocks for steps within [t0, t1]."""
        if not self.operating:
            return
        parts = [plan.progress(e, t0, t1) for e in self.operating]
        self.p_before = np.array([before for before, _ in parts])
        width = max(runs.shape[0] for _, runs in parts)
        self.p_runs = np.zeros((len(parts), width, 2))
        for k, (_, runs) in enumerate(parts):
            self.p_runs[k, : runs.shape[0]] = runs

    def shares(self, t: float) -> F64:
        """How far along each machine term's fault is at ``t`` (0 at onset, 1 at failure):
        its share of the operating time (calendar time for calendar faults) between."""
        onset, failure, _ = self.m_times.T
        x = np.clip((t - onset) / np.maximum(failure - onset, 1e-9), 0.0, 1.0)
        if self.operating:
            start, end = self.p_runs[..., 0], self.p_runs[..., 1]
            ran = self.p_before + np.clip(t - start, 0.0, end - start).sum(axis=1)
            share = np.clip(ran / self.p_span, 0.0, 1.0)
            clocked = self.m_clock >= 0
            x = np.where(clocked, share[np.maximum(self.m_clock, 0)], x)
        return np.asarray(x, dtype=np.float64)

    def down(self, t: float, n: int) -> NDArray[np.bool_]:
        """Machines failed and not repaired yet at ``t``."""
        out = np.zeros(n, bool)
        if len(self.d_row):
            out[self.d_row[(self.d_failure <= t) & (t < self.d_repaired)]] = True
        return out

    def machine(self, t: float, load: F64, shape: tuple[int, int]) -> tuple[F64, F64]:
        """Additions to the readings and to the heat levels of thermal channels."""
        out, heat = np.zeros(shape), np.zeros(shape)
        if not len(self.m_row):
            return out, heat
        onset, _, repaired = self.m_times.T
        d = np.where(t >= onset, along(self.shares(t), self.m_shape), 0.0)
        grown = np.clip((d - self.m_delay) / (1.0 - self.m_delay), 0.0, 1.0) ** self.m_power
        live = (t >= onset) & (t < repaired)
        floor = self.m_floor
        size = self.m_amp * grown * live * (floor + (1.0 - floor) * load[self.m_row])
        np.add.at(out, (self.m_row[~self.m_heat], self.m_col[~self.m_heat]), size[~self.m_heat])
        np.add.at(heat, (self.m_row[self.m_heat], self.m_col[self.m_heat]), size[self.m_heat])
        return out, heat

    def sensors(self, t: float, values: F64, rng: np.random.Generator) -> None:
        """Apply the sensor faults to ``values`` in place (NaN: no reading)."""
        if not len(self.s_row):
            return
        onset, failure, repaired = self.s_times.T
        live = (t >= onset) & (t < repaired)
        if not live.any():
            return
        d = degradation(t, onset, failure, self.s_shape)
        rows, cols = self.s_row, self.s_col
        current = values[rows, cols]
        stuck = live & (self.s_kind == 0)
        first = stuck & np.isnan(self.s_hold)
        self.s_hold[first] = current[first]
        for i in np.flatnonzero(first):
            self.holds[self.s_ids[i]] = float(self.s_hold[i])
        changed = np.where(stuck, self.s_hold, current)
        changed = changed + np.where(live & (self.s_kind == 1), self.s_amp * d, 0.0)
        noise = rng.standard_normal(len(rows))
        changed = changed + np.where(live & (self.s_kind == 2), self.s_amp * d * noise, 0.0)
        lost = live & (self.s_kind == 3) & (rng.random(len(rows)) < 0.05 + 0.95 * d)
        values[rows, cols] = np.where(lost, np.nan, changed)

    def excursions(self, t: float, values: F64) -> None:
        for row, col, start, value, ramp, end in self.x:
            since = t - start
            if since < 0 or t > end:
                continue
            progress = 1.0 if ramp <= 0 else min(since / ramp, 1.0)
            healthy = values[row, col]
            values[row, col] = value if progress >= 1.0 else healthy + (value - healthy) * progress

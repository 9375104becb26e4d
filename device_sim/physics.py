"""What the machines' sensors read, step by step: pure, seeded, vectorised over machines.

Per model, the machines are one group of NumPy arrays. Each step:

- the duty cycle (device_sim.duty) says which machines run; a running machine is
  working or idling (a Markov switch) and its load follows a mean-reverting random
  process around its own typical load; mobile machines drive to the day's job site at
  the start of the shift (light load, moving GPS);
- every channel reads between its idle and full-load values according to the load:
  immediately (speed, pressure, current, vibration, fuel) or through a first-order lag
  (temperatures settle with their time constant, and cool towards ambient when the
  machine is off); the channels of a machine are correlated through its load;
- each machine has its own small offset per channel; sensor noise is Gaussian; a
  healthy reading stays within its valid range;
- the operating-hours counter runs while the engine runs; GPS is the site's position;
- the faults in effect (device_sim.effects) change the readings.

Machines that are off (or down after a failure) send nothing. The same fleet, seed,
start and step sequence give the same readings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from device_sim.duty import Duty, unit_hash
from device_sim.effects import GroupFaults
from device_sim.faults import FaultPlan
from device_sim.fleet import Fleet, MachineDef, ModelDef
from device_sim.generate import stable_seed

F64 = NDArray[np.float64]
AMBIENT_C = 20.0
IDLE_LOAD, TRAVEL_LOAD = 0.06, 0.3
TRAVEL_S = 2400.0  # driving to the day's site at the start of a shift
WORK_BOUT_S, IDLE_BOUT_S = 2700.0, 600.0
LOAD_TAU_S, LOAD_SD = 600.0, 0.12
REFRESH_S = 6 * 3600.0  # how far ahead the fault terms are built
_TEMPS = {"coolant_temp", "oil_temp", "discharge_temp"}
_SPECIAL = {"hours", "lat", "lon"}


@dataclass(frozen=True)
class Sample:
    time: datetime
    values: dict[str, float]


@dataclass(frozen=True)
class GroupStep:
    """One step of one model group: who sends, and the readings (NaN: not sent)."""

    model: ModelDef
    serials: Sequence[str]
    rows: NDArray[np.intp]  # machines (rows of ``values``) that send at this step
    values: F64  # (machines, channels)

    def samples(self, at: datetime) -> list[tuple[str, Sample]]:
        codes = [c.code for c in self.model.channels]
        out = []
        for row in self.rows.tolist():
            vals = self.values[row].tolist()
            out.append(
                (
                    self.serials[row],
                    Sample(
                        at, {c: v for c, v in zip(codes, vals, strict=True) if not math.isnan(v)}
                    ),
                )
            )
        return out


class _Group:
    def __init__(self, fleet: Fleet, model: ModelDef, machines: list[MachineDef], t0: float):
        self.model = model
        self.serials = [m.serial for m in machines]
        self.rows = {s: i for i, s in enumerate(self.serials)}
        ch = model.channels
        n, c = len(machines), len(ch)
        self.idle = np.array([x.idle for x in ch])
        self.span = np.array([x.full - x.idle for x in ch])
        self.noise = np.array([x.noise for x in ch])
        self.vmin, self.vmax = np.array([x.valid for x in ch]).T
        self.pmin, self.pmax = np.array([x.physical for x in ch]).T
        kinds = [x.kind for x in ch]
        self.thermal = np.array([x.tau_s > 0 and x.kind not in _SPECIAL for x in ch])
        self.any_thermal = bool(self.thermal.any())
        self._lag_dt: tuple[float, tuple[F64, F64]] | None = None  # _lags' last step
        self.tau = np.where(self.thermal, [max(x.tau_s, 1.0) for x in ch], 1.0)
        self.ambient = np.array(
            [AMBIENT_C if k in _TEMPS else x.idle for k, x in zip(kinds, ch, strict=True)]
        )
        self.special = {k: kinds.index(k) for k in _SPECIAL if k in kinds}
        self.decimals = sorted({x.decimals for x in ch})
        self.cols_by_decimals = {
            d: [i for i, x in enumerate(ch) if x.decimals == d] for d in self.decimals
        }
        keys = np.array([stable_seed(fleet.seed, "machine", s) for s in self.serials], np.uint64)
        self.keys = keys
        self.duty = Duty.build([fleet.schedule_of(m) for m in machines], keys)
        self.mobile = np.array([m.mobile for m in machines])
        self.offset = np.zeros((n, c))
        self.load_mean = np.zeros(n)
        self.hours = np.zeros(n)
        self.sites = np.zeros((n, 4, 2))
        self._sites_day: tuple[int, tuple[F64, F64]] | None = None  # _sites_of's last day
        for i, m in enumerate(machines):
            rng = np.random.default_rng(stable_seed(fleet.seed, "static", m.serial))
            self.offset[i] = rng.normal(0.0, 0.5, c) * self.noise
            self.load_mean[i] = rng.uniform(0.5, 0.75)
            age_days = max((datetime.fromtimestamp(t0, UTC).date() - m.commissioned).days, 0)
            self.hours[i] = age_days * rng.uniform(4.0, 7.0)
            km = rng.uniform(-25, 25, (4, 2))
            km[0] = 0.0
            self.sites[i, :, 0] = m.latitude + km[:, 0] / 111.0
            self.sites[i, :, 1] = m.longitude + km[:, 1] / (
                111.0 * math.cos(math.radians(m.latitude))
            )
        self.rng = np.random.default_rng(stable_seed(fleet.seed, "dynamics", model.code))
        # sensor faults draw from their own stream: they never disturb other channels
        self.sensor_rng = np.random.default_rng(stable_seed(fleet.seed, "sensors", model.code))
        self.working = np.ones(n, bool)
        self.dev = np.zeros(n)
        on, _ = self.duty.on(t0)
        self.heat = np.where(
            on[:, None], self.idle + self.span * self.load_mean[:, None], self.ambient
        )
        self.fault_heat = np.zeros((n, c))
        self.faults = GroupFaults([], self.rows, model, {})

    def _sites_of(self, day: int) -> tuple[F64, F64]:
        """Where each machine works on local ``day`` and worked the day before."""
        if self._sites_day is not None and self._sites_day[0] == day:
            return self._sites_day[1]
        pick = [
            np.minimum((unit_hash(self.keys, d * 8 + 5) * 4).astype(np.intp), 3)
            for d in (day, day - 1)
        ]
        pick = [np.where(self.mobile, p, 0) for p in pick]
        idx = np.arange(len(self.serials))
        sites = (self.sites[idx, pick[0]], self.sites[idx, pick[1]])
        self._sites_day = (day, sites)
        return sites

    def _position(self, t: float, since: F64) -> F64:
        today, before = self._sites_of(self.duty.day(t))
        with np.errstate(invalid="ignore"):
            frac = np.clip(np.nan_to_num(since, nan=TRAVEL_S, posinf=TRAVEL_S) / TRAVEL_S, 0, 1)
        return before + (today - before) * frac[:, None]

    def _lags(self, dt: float) -> tuple[F64, F64]:
        """How far each thermal channel moves toward its target in ``dt``: running, and
        cooling with the engine off."""
        if self._lag_dt is None or self._lag_dt[0] != dt:
            off = np.maximum(3 * self.tau, 1800.0)
            self._lag_dt = (dt, (-np.expm1(-dt / self.tau), -np.expm1(-dt / off)))
        return self._lag_dt[1]

    def step(self, t: float, dt: float) -> GroupStep:
        n, c = self.offset.shape
        running, since = self.duty.on(t)
        on = running & ~self.faults.down(t, n)
        if dt > 0:
            mean = np.where(self.working, WORK_BOUT_S, IDLE_BOUT_S)
            flip = self.rng.random(n) < -np.expm1(-dt / mean)
            self.working = self.working ^ flip
            self.working[self.duty.continuous] = True
            a = math.exp(-dt / LOAD_TAU_S)
            self.dev = a * self.dev + math.sqrt(1 - a * a) * LOAD_SD * self.rng.standard_normal(n)
        with np.errstate(invalid="ignore"):
            travelling = self.mobile & on & (since < TRAVEL_S)
        work = np.minimum(np.maximum(self.load_mean + self.dev, 0.15), 1.0)
        load = np.where(travelling, TRAVEL_LOAD, np.where(self.working, work, IDLE_LOAD))
        load = np.where(on, load, 0.0)
        level = self.idle + self.span * load[:, None]
        out_add, heat_add = self.faults.machine(t, load, (n, c))
        if self.any_thermal:
            k = np.where(on[:, None], *self._lags(dt)) if dt > 0 else np.zeros((n, c))
            target = np.where(on[:, None], level, self.ambient)
            self.heat += (target - self.heat) * k
            self.fault_heat += (np.where(on[:, None], heat_add, 0.0) - self.fault_heat) * k
            level = np.where(self.thermal, self.heat, level)
        noise = self.rng.standard_normal((n, c)) * self.noise
        values = np.minimum(np.maximum(level + self.offset + noise, self.vmin), self.vmax)
        values += np.where(self.thermal, self.fault_heat, 0.0) + out_add
        self.hours += on * (dt / 3600.0)
        if "hours" in self.special:
            values[:, self.special["hours"]] = self.hours
        if "lat" in self.special or "lon" in self.special:
            where = self._position(t, since) + self.rng.normal(0.0, 2e-5, (n, 2))
            for k_, j in (("lat", 0), ("lon", 1)):
                if k_ in self.special:
                    values[:, self.special[k_]] = where[:, j]
        np.minimum(np.maximum(values, self.pmin, out=values), self.pmax, out=values)
        self.faults.sensors(t, values, self.sensor_rng)
        self.faults.excursions(t, values)
        for d, cols in self.cols_by_decimals.items():
            values[:, cols] = np.round(values[:, cols], d)
        return GroupStep(self.model, self.serials, np.flatnonzero(on), values)


class FleetPhysics:
    """Every machine of a fleet, advanced together from ``start``."""

    def __init__(self, fleet: Fleet, start: datetime, plan: FaultPlan | None = None) -> None:
        self.fleet = fleet
        self.start = start
        self.t0 = start.timestamp()
        self.plan = plan or FaultPlan(fleet, start)
        by_model: dict[str, list[MachineDef]] = {}
        for m in fleet.machines:
            by_model.setdefault(m.model, []).append(m)
        self.groups = [_Group(fleet, fleet.models[k], ms, self.t0) for k, ms in by_model.items()]
        self._last: float | None = None
        self._refreshed_until = -math.inf
        self._holds: dict[str, float] = {}

    def _refresh(self, t: float) -> None:
        events = self.plan.overlapping(t, t + REFRESH_S)
        for g in self.groups:
            mine = [e for e in events if e.serial in g.rows]
            if frozenset(e.fault_id for e in mine) != g.faults.ids:
                g.faults = GroupFaults(mine, g.rows, g.model, self._holds)
            g.faults.progress(t, t + REFRESH_S, self.plan)
        self._refreshed_until = t + REFRESH_S / 2

    def step(self, at: datetime) -> list[GroupStep]:
        """The readings at ``at`` (steps must move forward in time)."""
        t = at.timestamp()
        dt = 0.0 if self._last is None else t - self._last
        if dt < 0:
            raise ValueError("physics steps must move forward in time")
        self._last = t
        if t >= self._refreshed_until:
            self._refresh(t)
        return [g.step(t, dt) for g in self.groups]

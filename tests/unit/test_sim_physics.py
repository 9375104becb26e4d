"""The simulator's physics: determinism, duty cycles, lags, correlations, ranges, GPS."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from device_sim.faults import FaultPlan
from device_sim.fleet import load_fleet
from device_sim.modes import MODES, OPERATING_MONTH_H
from device_sim.physics import FleetPhysics
from tests.unit.sim_helpers import START, one_machine, run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _steps(fleet_seed: int, steps: int) -> list[np.ndarray]:
    fleet = load_fleet(EXAMPLES / "fleet-1000.toml")
    fleet = dataclasses.replace(fleet, seed=fleet_seed)
    physics = FleetPhysics(fleet, START)
    out = []
    for i in range(steps):
        for g in physics.step(START + timedelta(seconds=60 * i)):
            out.append(np.where(np.isin(np.arange(len(g.values)), g.rows)[:, None], g.values, -1))
    return out


def test_same_seed_same_readings_and_faults_other_seed_other() -> None:
    a, b = _steps(1000, 40), _steps(1000, 40)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))
    c = _steps(1001, 40)
    assert not all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, c, strict=True))
    fleet = load_fleet(EXAMPLES / "fleet-1000.toml")
    year = (START.timestamp(), START.timestamp() + 365 * 86_400)
    first = FaultPlan(fleet, START).overlapping(*year)
    again = FaultPlan(load_fleet(EXAMPLES / "fleet-1000.toml"), START).overlapping(*year)
    assert first == again
    assert first != FaultPlan(dataclasses.replace(fleet, seed=5), START).overlapping(*year)


def test_a_machines_faults_do_not_depend_on_the_rest_of_the_fleet() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-1000.toml")
    year = (START.timestamp(), START.timestamp() + 365 * 86_400)
    mine = {e for e in FaultPlan(fleet, START).overlapping(*year) if e.serial == "EX-00007"}
    alone = dataclasses.replace(
        fleet, machines=tuple(m for m in fleet.machines if m.serial == "EX-00007")
    )
    assert mine == set(FaultPlan(alone, START).overlapping(*year))
    # a later start sees the same faults: they hang on the calendar, not on the run
    later = START + timedelta(days=100)
    assert {e for e in mine if e.repaired > later.timestamp()} == {
        e
        for e in FaultPlan(alone, later).overlapping(later.timestamp(), year[1])
        if e.serial == "EX-00007"
    }


def test_random_faults_arrive_at_the_configured_rates() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-1000.toml")
    t0, t1 = START.timestamp(), START.timestamp() + 360 * 86_400
    plan = FaultPlan(fleet, START)
    events = [e for e in plan.overlapping(t0, t1) if t0 <= e.onset < t1]
    # sensor faults per 30 days; machine faults per OPERATING_MONTH_H operating hours
    rates = fleet.fault_rates
    per_month = sum(r for m, r in rates.items() if MODES[m].sensor)
    per_operating_month = sum(r for m, r in rates.items() if MODES[m].operating)
    hours = sum(plan.clock(m.serial).seconds(t0, t1) / 3600 for m in fleet.machines)
    sensor = sum(e.sensor for e in events)
    expected_sensor = per_month * 12 * len(fleet.machines)
    expected_machine = per_operating_month * hours / OPERATING_MONTH_H
    assert abs(sensor - expected_sensor) < 5 * expected_sensor**0.5
    assert abs(len(events) - sensor - expected_machine) < 5 * expected_machine**0.5
    # shifts and double shifts run more than 200 hours a month: more machine faults
    assert hours / len(fleet.machines) / 12 > OPERATING_MONTH_H
    assert {e.mode for e in events} == set(fleet.fault_rates)
    # machines are usually healthy: few are degrading at any one time
    mid = t0 + 180 * 86_400
    active = {e.serial for e in events if e.onset <= mid < e.repaired}
    assert len(active) < 0.1 * len(fleet.machines)


def test_shift_machines_sleep_at_night_work_by_day_and_count_hours() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-1000.toml")
    shifts = [m.serial for m in fleet.machines if m.schedule == "shifts"]
    physics = FleetPhysics(fleet, START)
    running: dict[int, set[str]] = {}
    for hour in range(0, 24 * 7):  # one week, local time = UTC + 8
        at = START + timedelta(hours=hour)
        running[hour] = {g.serials[r] for g in physics.step(at) for r in g.rows.tolist()}
    night = [running[h] for h in range(24 * 7) if (h + 8) % 24 in (1, 2, 3, 4)]
    assert all(not (r & set(shifts)) for r in night)
    mornings = [len(running[h] & set(shifts)) for h in range(2, 24 * 5, 24)]  # 10:00, Mon-Fri
    assert all(n > 0.7 * len(shifts) for n in mornings)
    sunday = len(running[6 * 24 + 2] & set(shifts))
    assert sunday < 0.5 * len(shifts)  # most machines rest on Sundays
    hours = {
        g.serials[r]: g.values[r, [c.code for c in g.model.channels].index("operating_hours")]
        for g in physics.step(START + timedelta(hours=24 * 7 + 2))
        for r in g.rows.tolist()
    }
    assert all(h > 0 for h in hours.values())


def test_channels_follow_the_load_temperatures_lag_and_healthy_readings_stay_valid() -> None:
    fleet = one_machine("excavator", schedule="shifts")
    _, values, codes = run(fleet, 14, interval_s=120)
    col = {c: codes.index(c) for c in codes}
    sent = ~np.isnan(values[:, col["engine_speed"]])
    assert 0.2 < sent.mean() < 0.6  # a day shift, five or six days a week
    speed, fuel = values[sent, col["engine_speed"]], values[sent, col["fuel_rate"]]
    assert np.corrcoef(speed, fuel)[0, 1] > 0.9  # both driven by the load
    model = fleet.models["SY-365"]
    for i, ch in enumerate(model.channels):
        v = values[sent, i]
        assert ch.valid[0] <= v.min(), ch.code
        assert v.max() <= ch.valid[1], ch.code
    # a cold start: the coolant warms over minutes, not at once
    starts = np.flatnonzero(sent[1:] & ~sent[:-1]) + 1
    first_shift = starts[np.argmax(np.diff(np.r_[0, starts]) > 300)]  # after a night off
    coolant = values[first_shift : first_shift + 10, col["coolant_temp"]]
    assert coolant[0] < 50 < coolant[-1]
    assert np.all(np.diff(coolant[:4]) > 0)


def test_gps_stays_at_a_site_or_moves_between_sites() -> None:
    pump = one_machine("concrete_pump", schedule="shifts", count=3)
    still = one_machine("air_compressor", schedule="two_shifts")
    for fleet, moves in ((pump, True), (still, False)):
        _, values, codes = run(fleet, 10, interval_s=1800)
        lat = values[:, codes.index("gps_lat")]
        lat = lat[~np.isnan(lat)]
        machine = fleet.machines[0]
        assert np.all(np.abs(lat - machine.latitude) < 0.3)
        spread = np.ptp(lat)
        assert bool(spread > 0.01) is moves, spread  # a site is ~20 km away, GPS noise ~2 m


def test_physics_refuses_to_go_back_in_time() -> None:
    physics = FleetPhysics(one_machine(), START)
    physics.step(START + timedelta(hours=1))
    with pytest.raises(ValueError, match="forward"):
        physics.step(START)


def test_demo_fleet_runs_continuously_within_range_with_its_exact_excursion() -> None:
    fleet = load_fleet(EXAMPLES / "demo-fleet.toml")
    start = datetime(2026, 11, 22, 20, tzinfo=UTC)  # 04:00 in China: still running
    physics = FleetPhysics(fleet, start)
    coolant = []
    for i in range(70):
        for g in physics.step(start + timedelta(seconds=i)):
            assert len(g.rows) == len(g.serials)
            for serial, sample in g.samples(start):
                model = fleet.models[g.model.code]
                for ch in model.channels:
                    v = sample.values[ch.code]
                    if not (serial == "CP-0002" and ch.code == "coolant_temp" and i >= 45):
                        assert ch.valid[0] <= v <= ch.valid[1]
                if serial == "CP-0002":
                    coolant.append(sample.values["coolant_temp"])
    assert max(coolant[:45]) <= 105
    assert coolant[55:] == [112.0] * 15  # ramps over 10 s, then holds exactly
    assert coolant[45] < coolant[50] < coolant[54] < 112  # the ramp

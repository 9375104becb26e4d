"""Machine faults need operation: they begin, progress and fail only while the machine
runs, and the truth's failure time is when the machine actually stops."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from device_sim.duty import Duty
from device_sim.faults import FaultEvent, FaultPlan
from device_sim.fleet import Fleet, parse_fleet
from device_sim.modes import MODES
from device_sim.operating import MachineClock
from device_sim.physics import FleetPhysics
from tests.unit.sim_helpers import START, fault, one_machine, run

DAY = 86_400.0


def _fleet(rates: dict[str, float], schedule: str = "shifts", count: int = 20) -> Fleet:
    data: dict[str, Any] = {
        "seed": 3,
        "fleet": [
            {
                "family": "excavator",
                "count": count,
                "regions": ["Hunan"],
                "schedule": schedule,
                "commissioned": [date(2026, 8, 1), date(2026, 8, 1)],
            }
        ],
        "fault_rates": rates,
    }
    return parse_fleet(data, "<test>")


def _runs(clock: MachineClock, t: float) -> bool:
    """Whether the machine runs at ``t``, the way the physics decides it."""
    scheduled = bool(clock.duty.on(t)[0][clock.index])
    return scheduled and not any(f <= t < r for f, r in clock.down)


def test_the_day_intervals_are_the_instants_the_duty_runs() -> None:
    schedules = ["shifts"] * 40 + ["two_shifts"] * 40 + ["continuous"] * 4
    keys = np.arange(1, len(schedules) + 1, dtype=np.uint64) * np.uint64(7919)
    duty = Duty.build(schedules, keys)
    clocks = [MachineClock(duty, i) for i in range(len(schedules))]
    t0 = START.timestamp()
    runs = [c.scheduled(t0, t0 + 30 * DAY) for c in clocks]
    rng = np.random.default_rng(5)
    for t in t0 + np.sort(rng.uniform(0, 30 * DAY, 3000)):
        on, _ = duty.on(float(t))
        inside = [bool(((r[:, 0] <= t) & (t < r[:, 1])).any()) for r in runs]
        assert on.tolist() == inside
    # a day shift with lunch: two stretches a working day; double shifts: one
    single = np.diff(runs[0], axis=1).sum() / 30 / 3600
    double = np.diff(runs[40], axis=1).sum() / 30 / 3600
    assert 5 < single < 11 < double < 17
    assert np.diff(runs[-1], axis=1).sum() == 30 * DAY  # continuous


def test_the_operating_clock_skips_downtime() -> None:
    fleet = one_machine()  # continuous duty: operating time is calendar time
    clock = FaultPlan(fleet, START).clock("CP-00001")
    t0 = START.timestamp()
    assert clock.seconds(t0, t0 + DAY) == DAY
    assert clock.until(t0, 3 * 3600) == t0 + 3 * 3600
    clock.down.append((t0 + 2 * 3600, t0 + 5 * 3600))
    assert clock.seconds(t0, t0 + DAY) == DAY - 3 * 3600
    assert clock.until(t0, 3 * 3600) == t0 + 6 * 3600  # two hours, down three, one more
    assert clock.until(t0 + 3 * 3600, 0.0) == t0 + 5 * 3600  # running again at the repair
    intervals = clock.intervals(t0, t0 + DAY)
    assert intervals.tolist() == [[t0, t0 + 2 * 3600], [t0 + 5 * 3600, t0 + DAY]]


def test_machine_faults_begin_and_fail_while_the_machine_runs() -> None:
    fleet = _fleet({"seal_hose_leak": 3.0, "bearing_wear": 0.5, "sensor_stuck": 1.0})
    t0 = datetime(2026, 8, 1, tzinfo=UTC).timestamp()
    plan = FaultPlan(fleet, START)
    events = [e for e in plan.overlapping(t0, t0 + 120 * DAY) if e.failure < t0 + 120 * DAY]
    machine = [e for e in events if not e.sensor]
    leaks = [e for e in machine if e.mode == "seal_hose_leak"]
    assert len(leaks) > 100
    assert any(e.sensor for e in events)
    paused = 0
    for e in machine:
        clock = plan.clock(e.serial)
        assert _runs(clock, e.onset), e  # it starts in a running machine
        # the failure is the instant the machine has run the fault's span since its onset
        assert clock.seconds(e.onset, e.failure) == pytest.approx(e.span_s, abs=1e-3)
        assert clock.seconds(e.onset, e.failure - 1.0) < e.span_s
        low, high = MODES[e.mode].duration_h
        assert low * 3600 <= e.span_s <= high * 3600
        assert e.failure - e.onset >= e.span_s - 1e-3
        paused += e.failure - e.onset > e.span_s + 600
        for start, end in clock.down:
            if end != e.repaired:  # its own downtime begins at its failure
                assert not start <= e.onset < end
                assert not start < e.failure < end
    assert paused > 10  # leaks that the night or a lunch break interrupted
    # sensor faults follow the calendar
    assert all(not e.operating and e.span_s == 0 for e in events if e.sensor)


def test_a_leak_pauses_while_the_machine_is_off_and_fails_when_it_runs_again() -> None:
    healthy = one_machine("excavator", schedule="shifts")
    clock = FaultPlan(healthy, START).clock("EX-00001")
    t0 = START.timestamp()
    stretches = clock.scheduled(t0, t0 + 4 * DAY)
    night = int(np.argmax(stretches[1:, 0] - stretches[:-1, 1] > 8 * 3600))
    evening, morning = stretches[night, 1], stretches[night + 1, 0]
    onset_s = evening - 3600 - t0  # an hour before the engine stops for the night
    leak = fault("EX-00001", "seal_hose_leak", onset_s / DAY, (onset_s + 3 * 3600) / DAY)
    fleet = one_machine("excavator", schedule="shifts", faults=[leak])
    (event,) = FaultPlan(fleet, START).overlapping(t0, t0 + 4 * DAY)
    assert event.onset == pytest.approx(evening - 3600)
    assert event.failure == pytest.approx(morning + 2 * 3600)  # three hours of running
    physics = FleetPhysics(fleet, START)
    shares, sent = [], []
    for i in range(int(3 * DAY / 300)):
        t = t0 + 300 * i
        (step,) = physics.step(START + timedelta(seconds=300 * i))
        share = physics.groups[0].faults.shares(t)
        if share.size:
            assert np.all(share == share[0])  # every effect of the leak is as far along
            shares.append(float(share[0]))
        else:  # not in effect: before its onset, or repaired
            shares.append(0.0 if t < event.onset else 1.0)
        sent.append(0 in step.rows)
    shares_a, sent_a = np.array(shares), np.array(sent)
    times = t0 + 300 * np.arange(len(shares))
    assert np.all(np.diff(shares_a) >= 0)
    # it moves only across steps at which the machine ran
    moved = np.flatnonzero(np.diff(shares_a) > 0) + 1
    assert np.all(sent_a[moved] | sent_a[moved - 1])
    off = (times >= evening) & (times < morning)
    assert np.ptp(shares_a[off]) == 0  # not a bit further overnight
    assert 0.3 < shares_a[off][0] < 0.4  # one hour of three
    # running until the failure, silent after it, until the repair
    running = (times >= morning) & (times < event.failure)
    assert sent_a[running].all()
    down = (times >= event.failure) & (times < event.repaired)
    assert down.any()
    assert not sent_a[down].any()


def test_a_failure_stops_the_clock_of_the_machines_other_faults() -> None:
    wear = fault("CP-00001", "bearing_wear", 1, 11)  # ten days of running
    leak = fault("CP-00001", "seal_hose_leak", 3, 3 + 2 / 24)  # fails on day 3
    fleet = one_machine(faults=[wear, leak])
    events = FaultPlan(fleet, START).overlapping(START.timestamp(), START.timestamp() + 30 * DAY)
    bearing = next(e for e in events if e.mode == "bearing_wear")
    hose = next(e for e in events if e.mode == "seal_hose_leak")
    assert hose.failure == START.timestamp() + (3 + 2 / 24) * DAY
    repair = hose.repaired - hose.failure
    assert 0.5 * DAY <= repair <= 2 * DAY
    assert bearing.failure == pytest.approx(START.timestamp() + 11 * DAY + repair)
    _, values, _ = run(fleet, 12, interval_s=1800)
    times = START.timestamp() + 1800 * np.arange(values.shape[0])
    silent = np.isnan(values).all(axis=1)
    assert silent[(times >= hose.failure) & (times < hose.repaired)].all()
    assert not silent[(times >= hose.repaired) & (times < bearing.failure)].any()


def test_a_scheduled_fault_begins_when_the_machine_next_runs() -> None:
    healthy = one_machine("excavator", schedule="shifts")
    clock = FaultPlan(healthy, START).clock("EX-00001")
    t0 = START.timestamp()
    night = t0 + 20 * 3600  # 04:00 in China
    assert not _runs(clock, night)
    entry = fault("EX-00001", "cooling_fouling", 20 / 24, 20 / 24 + 10)  # 240 running hours
    fleet = one_machine("excavator", schedule="shifts", faults=[entry])
    plan = FaultPlan(fleet, START)
    (event,) = plan.overlapping(t0, t0 + 90 * DAY)
    assert event.onset == clock.until(night, 0.0) > night
    assert event.span_s == 10 * DAY
    assert plan.clock("EX-00001").seconds(event.onset, event.failure) == pytest.approx(10 * DAY)
    assert event.failure - event.onset > 25 * DAY  # single shifts: a month of calendar


def test_faults_do_not_depend_on_how_far_ahead_they_are_asked_for() -> None:
    fleet = _fleet({"seal_hose_leak": 2.0, "cooling_fouling": 1.0, "sensor_drift": 1.0}, count=6)
    t0 = datetime(2026, 8, 1, tzinfo=UTC).timestamp()
    whole = FaultPlan(fleet, START).overlapping(t0, t0 + 60 * DAY)
    bit_by_bit = FaultPlan(fleet, START)
    seen: set[FaultEvent] = set()
    for t in np.arange(t0, t0 + 60 * DAY, 3 * 3600):
        seen |= set(bit_by_bit.overlapping(float(t), float(t) + 6 * 3600))
    assert set(whole) == seen | {e for e in whole if e.repaired <= t0}
    assert bit_by_bit.overlapping(t0, t0 + 60 * DAY) == whole

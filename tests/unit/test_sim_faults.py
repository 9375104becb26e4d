"""Each failure mode leaves its expected signature, checked on generated data.

Seeded runs of one machine (continuous duty, a sample every 10 minutes) with one
scheduled fault, compared with its own healthy days or with its healthy twin (the same
machine and seed without the fault).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device_sim.errors import FleetFileError
from device_sim.faults import FaultPlan
from device_sim.fleet import parse_fleet
from device_sim.modes import MODES
from device_sim.truth import COLUMNS, TruthFile, read_csv
from tests.unit.sim_helpers import START, fault, one_machine, run

PUMP = "CP-00001"


def daily(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    days = times.astype(int)
    return np.array([np.nanmean(values[days == d]) for d in range(days.max() + 1)])


def first_day_above(series: np.ndarray, baseline_days: int, z: float) -> int:
    base = series[:baseline_days]
    score = (series - base.mean()) / base.std()
    above = np.flatnonzero(score > z)
    above = above[above >= baseline_days]
    return int(above[0]) if len(above) else 10**6


def test_bearing_wear_raises_vibration_before_temperature() -> None:
    fleet = one_machine(faults=[fault(PUMP, "bearing_wear", 6, 40)])
    times, values, codes = run(fleet, 40)
    vib = daily(times, values[:, codes.index("pump_vibration")])
    temp = daily(times, values[:, codes.index("hydraulic_oil_temp")])
    vib_day = first_day_above(vib, 10, 6.0)  # days 0-9 are healthy: the baseline
    temp_day = first_day_above(temp, 10, 6.0)
    assert 10 < vib_day < temp_day < 40, (vib_day, temp_day)
    assert temp_day - vib_day >= 10  # days of warning from vibration alone
    assert np.nanmax(values[times > 39, codes.index("pump_vibration")]) > 7.1  # past the limit


def test_hydraulic_pump_wear_lowers_pressure_under_load_and_heats_the_oil() -> None:
    fleet = one_machine("excavator", faults=[fault("EX-00001", "hydraulic_pump_wear", 5, 45)])
    times, values, codes = run(fleet, 45)
    load = values[:, codes.index("engine_load")]
    pressure = values[:, codes.index("hydraulic_pressure")]
    oil = values[:, codes.index("hydraulic_oil_temp")]
    early, late = times < 5, times > 40
    heavy = load > 60
    assert np.nanmean(pressure[late & heavy]) < 0.85 * np.nanmean(pressure[early & heavy])
    assert np.nanmean(oil[late]) > np.nanmean(oil[early]) + 4
    # the load itself (the operator's work) is unchanged
    assert abs(np.nanmean(load[late]) - np.nanmean(load[early])) < 8


def test_cooling_fouling_creeps_the_coolant_up_under_the_same_load() -> None:
    fleet = one_machine("truck_crane", faults=[fault("TC-00001", "cooling_fouling", 4, 34)])
    twin = one_machine("truck_crane")
    times, values, codes = run(fleet, 34)
    _, healthy, _ = run(twin, 34)
    c = codes.index("coolant_temp")
    gap = daily(times, values[:, c] - healthy[:, c])
    assert abs(gap[:4]).max() < 0.5
    assert np.all(np.diff(gap[8:]) > -0.5)  # a creep, not a jump
    assert gap[-1] > 8
    for other in ("engine_load", "engine_speed", "slew_vibration", "hydraulic_pressure"):
        i = codes.index(other)
        assert np.array_equal(values[:, i], healthy[:, i], equal_nan=True), other


def test_a_seal_or_hose_leak_drops_the_pressure_within_hours_then_the_machine_stops() -> None:
    leak = fault(PUMP, "seal_hose_leak", 3.0, 3.0 + 3 / 24)  # three hours
    times, values, codes = run(one_machine(faults=[leak]), 5)
    pressure = values[:, codes.index("hydraulic_pressure")]
    before = np.nanmean(pressure[(times > 2) & (times < 3)])
    last_hour = np.nanmean(pressure[(times > 3 + 2 / 24) & (times < 3 + 3 / 24)])
    assert last_hour < 0.6 * before
    first_hour = pressure[(times >= 3) & (times < 3 + 1 / 24)]
    assert np.nanmean(first_hour) < 0.9 * before  # fast from the start
    plan = FaultPlan(one_machine(faults=[leak]), START)
    (event,) = plan.overlapping(START.timestamp(), START.timestamp() + 5 * 86_400)
    down = (times * 86_400 >= event.failure - START.timestamp()) & (
        times * 86_400 < event.repaired - START.timestamp()
    )
    assert down.any()
    assert np.isnan(values[down]).all()  # failed: silent until repaired


@pytest.mark.parametrize("mode", ["sensor_stuck", "sensor_drift", "sensor_noisy", "sensor_dropout"])
def test_sensor_faults_change_one_channel_only(mode: str) -> None:
    entry = fault(PUMP, mode, 3, 9, channel="coolant_temp")
    times, values, codes = run(one_machine(faults=[entry]), 10)
    _, healthy, _ = run(one_machine(), 10)
    c = codes.index("coolant_temp")
    for i, code in enumerate(codes):
        if code != "coolant_temp":
            assert np.array_equal(values[:, i], healthy[:, i], equal_nan=True), code
    after = times > 3
    got, ref = values[after, c], healthy[after, c]
    before = values[~after, c]
    assert np.array_equal(before, healthy[~after, c], equal_nan=True)
    if mode == "sensor_stuck":
        assert len(np.unique(got[~np.isnan(got)])) == 1  # no noise, no load response
        assert np.nanstd(ref) > 0.5
    elif mode == "sensor_drift":
        diff = got - ref
        days = times[after]
        slope = np.polyfit(days[days < 9], diff[days < 9], 1)[0]
        assert abs(slope) > 1.0  # degrees per day, either way
        assert np.corrcoef(days[days < 9], diff[days < 9])[0, 1] ** 2 > 0.95  # steady
    elif mode == "sensor_noisy":
        late = times[after] > 7
        assert np.nanstd(got[late] - ref[late]) > 2.0  # five times the sensor's own noise
        assert abs(np.nanmean(got[late] - ref[late])) < 0.5  # noisier, not shifted
    else:
        late = times[after] > 8
        assert np.isnan(got[late]).mean() > 0.7
        assert not np.isnan(ref).any()


def test_machine_faults_move_related_channels_together() -> None:
    entry = fault(PUMP, "hydraulic_pump_wear", 2, 12)
    times, values, codes = run(one_machine(faults=[entry]), 11)
    _, healthy, _ = run(one_machine(), 11)
    late = times > 9
    changed = {
        code
        for i, code in enumerate(codes)
        if np.nanmean(np.abs(values[late, i] - healthy[late, i])) > 0.5
    }
    assert changed == {"hydraulic_pressure", "hydraulic_oil_temp"}


def test_truth_lists_every_fault_with_its_schema_once(tmp_path: Path) -> None:
    entries = [
        fault(PUMP, "bearing_wear", 1, 30),
        fault(PUMP, "sensor_drift", 2, 10, channel="hydraulic_pressure"),
    ]
    fleet = one_machine(faults=entries)
    events = FaultPlan(fleet, START).overlapping(START.timestamp(), START.timestamp() + 40 * 86400)
    assert [(e.mode, e.sensor, e.source) for e in events] == [
        ("bearing_wear", False, "scheduled"),
        ("sensor_drift", True, "scheduled"),
    ]
    bearing, drift = events
    assert bearing.channels == ("pump_vibration", "hydraulic_oil_temp")
    assert bearing.parts == ("P-BRG-6318",)
    assert bearing.failure - bearing.onset == 29 * 86_400
    assert drift.channels == ("hydraulic_pressure",)
    assert drift.parts == ("P-SENS-PRES",)
    out = TruthFile(tmp_path / "truth.csv", fleet.seed)
    assert out.write(events) == 2
    assert out.write(events) == 0
    assert TruthFile(tmp_path / "truth.csv", fleet.seed).write(events) == 0
    rows = read_csv(tmp_path / "truth.csv")
    assert list(rows[0]) == list(COLUMNS)
    assert [r["is_sensor_fault"] for r in rows] == ["false", "true"]
    assert rows[0]["onset_at"] == "2026-09-08T00:00:00Z"
    assert rows[0]["failure_at"] == "2026-10-07T00:00:00Z"
    assert rows[0]["channels"] == "pump_vibration;hydraulic_oil_temp"


def test_every_mode_is_known_and_bad_fault_entries_are_refused() -> None:
    assert set(MODES) >= {
        "bearing_wear",
        "hydraulic_pump_wear",
        "cooling_fouling",
        "seal_hose_leak",
        "sensor_stuck",
        "sensor_drift",
        "sensor_noisy",
        "sensor_dropout",
    }
    base = {
        "seed": 1,
        "fleet": [{"family": "air_compressor", "count": 1, "regions": ["Jiangsu"]}],
    }
    for bad, message in [
        ({"serial": "AC-00001", "mode": "melting"}, "unknown mode"),
        ({"serial": "AC-99999", "mode": "bearing_wear"}, "unknown machine"),
        ({"serial": "AC-00001", "mode": "bearing_wear", "onset_after_s": 5}, "exactly one"),
        (
            {
                "serial": "AC-00001",
                "mode": "bearing_wear",
                "onset_after_s": 9,
                "failure_after_s": 5,
            },
            "before the onset",
        ),
        (
            {
                "serial": "AC-00001",
                "mode": "sensor_stuck",
                "onset_after_s": 1,
                "failure_after_s": 2,
                "channel": "gps_lat",
            },
            "sensed channel",
        ),
    ]:
        with pytest.raises(FleetFileError, match=message):
            parse_fleet({**base, "faults": [bad]}, "<t>")
    with pytest.raises(FleetFileError, match="unknown mode"):
        parse_fleet({**base, "fault_rates": {"rust": 0.1}}, "<t>")

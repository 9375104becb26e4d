"""alerts.model_rule: persistence, machine or sensor, grades, causes and hysteresis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from alerts.model_rule import (
    MACHINE,
    SENSOR,
    SUDDEN,
    Cause,
    HealthRows,
    ModelAlertPolicy,
    Repair,
    Transition,
    decide,
    replay,
)

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
STEP = 1200.0  # a scored window every 20 minutes
POLICY = ModelAlertPolicy()


def rows(*machines: tuple[int, list[dict[str, Any]]], start: float | None = None) -> HealthRows:
    """Health rows: per machine, one dict per window (defaults: healthy), 20 min apart."""
    columns: dict[str, list[Any]] = {
        k: []
        for k in (
            "equipment_id",
            "time",
            "ratio",
            "mode",
            "mode_probability",
            "sensor_fault",
            "channel",
            "explanation",
            "rul_hours",
        )
    }
    for machine, windows in machines:
        t = T0.timestamp() if start is None else start
        for w in windows:
            t = w.get("time", t)
            anomalous = w.get("ratio", 0.2) >= 1
            columns["equipment_id"].append(machine)
            columns["time"].append(t)
            columns["ratio"].append(w.get("ratio", 0.2))
            columns["mode"].append(w.get("mode", "bearing_wear" if anomalous else None))
            columns["mode_probability"].append(w.get("p", 0.6 if anomalous else np.nan))
            columns["sensor_fault"].append(w.get("sensor", False))
            columns["channel"].append(w.get("channel", "pump_vibration"))
            columns["explanation"].append("pump vibration 80 %")
            columns["rul_hours"].append(w.get("rul", 300.0 if anomalous else np.nan))
            t += STEP
    return HealthRows.from_columns(**columns)


def healthy(n: int) -> list[dict[str, Any]]:
    return [{"ratio": 0.2} for _ in range(n)]


def anomalous(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"ratio": 1.8, **fields} for _ in range(n)]


def opened(transitions: list[Transition]) -> list[Transition]:
    return [t for t in transitions if t.action == "open"]


def decided_window_by_window(
    series: list[dict[str, Any]], policy: ModelAlertPolicy = POLICY
) -> list[tuple[str, Cause, datetime]]:
    """The live job's decisions on one machine's windows, taken at each window in turn
    with the alerts its earlier decisions left open."""
    live: list[tuple[str, Cause, datetime]] = []
    open_now: dict[Cause, datetime] = {}
    for n in range(1, len(series) + 1):
        for t in decide(rows((1, series[:n])), open_now, policy):
            live.append((t.action, t.cause, t.at))
            if t.action == "open":
                open_now[t.cause] = t.at
            else:
                open_now.pop(t.cause)
    return live


def test_a_stable_healthy_machine_raises_nothing() -> None:
    assert replay(rows((1, healthy(200))), POLICY) == []


def test_one_anomalous_window_is_not_persistent() -> None:
    series = healthy(10) + anomalous(1) + healthy(10) + anomalous(3) + healthy(10)
    assert replay(rows((1, series)), POLICY) == []  # 1 and 3 windows: 0 and 40 minutes


def test_an_hour_of_anomaly_opens_one_machine_alert() -> None:
    series = healthy(10) + anomalous(12)
    (alert,) = opened(replay(rows((1, series)), POLICY))
    # windows 10..13 span 60 minutes: the fourth anomalous window opens it
    assert alert.at == T0 + timedelta(seconds=13 * STEP)
    assert alert.cause == Cause(1, MACHINE)
    assert alert.alert is not None
    assert alert.alert.grade == "major"
    assert alert.alert.mode == "bearing_wear"
    assert alert.alert.part_prefixes == ("P-BRG",)
    assert "bearing wear likely" in alert.alert.message
    assert alert.alert.details["anomalous_since"] == (T0 + timedelta(seconds=10 * STEP)).isoformat()


def test_a_gap_counts_as_at_most_twenty_minutes() -> None:
    """An anomaly at the end of one shift and the start of the next is not yet persistent."""
    evening = anomalous(2)
    morning = [{"ratio": 1.8, "time": T0.timestamp() + 14 * 3600}]
    assert replay(rows((1, healthy(5) + evening + morning)), POLICY) == []
    # the night counts as 20 minutes: the second morning window completes the hour
    one_more = [{"ratio": 1.8, "time": T0.timestamp() + 14 * 3600 + STEP}]
    (alert,) = opened(replay(rows((1, healthy(5) + evening + morning + one_more)), POLICY))
    assert alert.at == datetime.fromtimestamp(T0.timestamp() + 14 * 3600 + STEP, UTC)


def test_a_severe_leak_opens_a_critical_alert_at_its_second_window() -> None:
    leak = [{"ratio": 25.0, "mode": "seal_hose_leak", "channel": "hydraulic_pressure"}] * 2
    (alert,) = opened(replay(rows((1, healthy(5) + leak)), POLICY))
    assert alert.at == T0 + timedelta(seconds=6 * STEP)
    assert alert.alert is not None
    assert alert.alert.grade == "critical"
    assert alert.cause == Cause(1, "seal_hose_leak")
    assert alert.alert.part_prefixes == ("P-HOSE", "P-SEAL")


def test_two_severe_windows_ten_minutes_apart_open_a_leak_alert_one_does_not() -> None:
    """At the live cadence (a row every 10 minutes) a leak that fails 30 minutes after
    its onset is caught by its second severe window."""
    every_ten = [{"time": T0.timestamp() + k * 600.0} for k in range(6)]
    leak = {"ratio": 25.0, "mode": "seal_hose_leak", "channel": "hydraulic_pressure"}
    one = [*every_ten[:4], {**every_ten[4], **leak}, every_ten[5]]
    assert opened(replay(rows((1, one)), POLICY)) == []
    two = [*every_ten[:4], {**every_ten[4], **leak}, {**every_ten[5], **leak}]
    (alert,) = opened(replay(rows((1, two)), POLICY))
    assert alert.at == T0 + timedelta(minutes=50)
    assert alert.cause == Cause(1, "seal_hose_leak")


def test_a_short_remaining_life_makes_a_machine_alert_critical() -> None:
    (alert,) = opened(replay(rows((1, healthy(3) + anomalous(4, rul=10.0))), POLICY))
    assert alert.alert is not None
    assert alert.alert.grade == "critical"
    assert "remaining life about 10 h" in alert.alert.message


def test_a_sensor_anomaly_opens_a_minor_sensor_check_for_that_sensor() -> None:
    stuck = anomalous(6, mode="sensor_stuck", sensor=True, channel="coolant_temp")
    (alert,) = opened(replay(rows((4, healthy(3) + stuck)), POLICY))
    assert alert.cause == Cause(4, SENSOR, "coolant_temp")
    assert alert.alert is not None
    assert alert.alert.grade == "minor"
    assert alert.alert.part_prefixes == ("P-SENS-TEMP",)
    assert alert.alert.message.startswith("sensor check: coolant temp sensor looks stuck")


def test_the_majority_of_the_evidence_decides_machine_or_sensor() -> None:
    sensor = {"ratio": 1.8, "mode": "sensor_drift", "sensor": True}
    machine = {"ratio": 1.8}
    # 3 of the 4 windows that make the hour read as a sensor: a sensor check
    (alert,) = opened(replay(rows((1, [*healthy(2), sensor, machine, sensor, sensor])), POLICY))
    assert alert.alert is not None
    assert alert.alert.kind == SENSOR
    # 1 of 4: the machine
    (alert,) = opened(replay(rows((1, [*healthy(2), sensor, machine, machine, machine])), POLICY))
    assert alert.alert is not None
    assert alert.alert.kind == MACHINE


def test_alerts_close_after_six_hours_below_half_the_alarm_level() -> None:
    fault = anomalous(6)
    recovering = [{"ratio": 0.7}] * 30  # under the alarm, over the clear level: stays open
    assert [t.action for t in replay(rows((1, fault + recovering + healthy(18))), POLICY)] == [
        "open"
    ]  # 18 calm windows span 5 h 40 min
    calm = healthy(19)  # 6 hours under 0.5 of the alarm level
    transitions = replay(rows((1, fault + recovering + calm)), POLICY)
    assert [t.action for t in transitions] == ["open", "close"]
    assert transitions[1].at == T0 + timedelta(seconds=(6 + 30 + 18) * STEP)
    # with the first open (as the database gives it), only the close remains
    again = replay(rows((1, fault + recovering + calm)), POLICY, {Cause(1): T0})
    assert [t.action for t in again] == ["close"]


def at_window(k: float) -> float:
    """The time of window ``k`` of ``rows`` (window 0 at T0)."""
    return T0.timestamp() + k * STEP


def test_a_repair_closes_the_machine_alert_and_a_lasting_anomaly_opens_a_new_one() -> None:
    # wear from window 0; a repair after window 9 (the machine carries a second fault)
    series = anomalous(20)
    fix = Repair(1, at_window(9.5))
    transitions = replay(rows((1, series)), POLICY, repairs=[fix])
    assert [(t.action, t.cause) for t in transitions] == [
        ("open", Cause(1)),
        ("close", Cause(1)),
        ("open", Cause(1)),
    ]
    first, closed, again = transitions
    assert closed.at == datetime.fromtimestamp(fix.at, UTC)
    assert closed.repair == fix
    assert first.at == T0 + timedelta(seconds=3 * STEP)  # an hour of anomaly
    # the run starts afresh at the repair: windows 10, 11, 12, 13 make the next hour
    assert again.at == T0 + timedelta(seconds=13 * STEP)
    # without the repair the alert stays open: one alert for both faults
    assert [t.action for t in replay(rows((1, series)), POLICY)] == ["open"]


def test_a_repair_that_cures_the_machine_closes_its_alert_for_good() -> None:
    series = anomalous(8) + healthy(10)
    transitions = replay(rows((1, series)), POLICY, repairs=[Repair(1, at_window(7.5))])
    assert [t.action for t in transitions] == ["open", "close"]


def test_a_repair_closes_only_what_it_fixed() -> None:
    stuck = anomalous(6, mode="sensor_stuck", sensor=True, channel="coolant_temp")
    causes = {Cause(4, SENSOR, "coolant_temp"): T0, Cause(4): T0}
    series = rows((4, healthy(2) + stuck))
    # a new pump vibration sensor: the coolant temperature check stays open, and so
    # does the machine alert
    other = replay(series, POLICY, causes, repairs=[Repair(4, at_window(1), "pump_vibration")])
    assert [t.action for t in other] == []
    sensor = replay(series, POLICY, causes, repairs=[Repair(4, at_window(1), "coolant_temp")])
    assert [(t.action, t.cause) for t in sensor if t.action == "close"] == [
        ("close", Cause(4, SENSOR, "coolant_temp"))
    ]
    # a machine repair leaves the sensor check; an alert opened after it stays open
    machine = replay(series, POLICY, causes, repairs=[Repair(4, at_window(1))])
    assert [(t.action, t.cause) for t in machine] == [("close", Cause(4))]
    later = {Cause(4): T0 + timedelta(hours=2)}
    assert replay(series, POLICY, later, repairs=[Repair(4, at_window(1))]) == []
    # another machine's repair changes nothing here
    assert replay(series, POLICY, causes, repairs=[Repair(5, at_window(1))]) == []


def test_deciding_with_repairs_takes_the_decisions_of_the_replay() -> None:
    series = anomalous(12) + healthy(4) + anomalous(10)
    fixes = [Repair(1, at_window(5.5)), Repair(1, at_window(14.5))]
    expected = replay(rows((1, series)), POLICY, repairs=fixes)
    live: list[Transition] = []
    open_now: dict[Cause, datetime] = {}
    for n in range(1, len(series) + 1):
        now = at_window(n - 1)
        known = [r for r in fixes if r.at <= now]  # the live job sees repairs made by now
        for t in decide(rows((1, series[:n])), open_now, POLICY, known):
            live.append(t)
            if t.action == "open":
                open_now[t.cause] = t.at
            else:
                del open_now[t.cause]
    assert [(t.action, t.cause, t.at) for t in live] == [
        (t.action, t.cause, t.at) for t in expected
    ]
    assert [t.action for t in expected] == ["open", "close", "open", "close", "open"]


def test_a_new_critical_mode_opens_beside_an_open_machine_alert() -> None:
    wear = anomalous(6)
    leak = [{"ratio": 30.0, "mode": "seal_hose_leak"}] * 3
    causes = [t.cause for t in opened(replay(rows((1, wear + leak)), POLICY))]
    assert causes == [Cause(1, MACHINE), Cause(1, "seal_hose_leak")]


def test_no_sensor_check_for_the_anomaly_a_machine_alert_covers() -> None:
    wear = anomalous(6)
    looks_like_sensor = anomalous(20, mode="sensor_drift", sensor=True)
    causes = [t.cause for t in opened(replay(rows((1, wear + looks_like_sensor)), POLICY))]
    assert causes == [Cause(1, MACHINE)]


def test_a_sensor_failing_a_day_into_a_machine_alert_gets_its_own_check() -> None:
    """The machine alert's technician checks the sensors on the visit; a sensor that
    fails a day later, the machine's anomaly still running, is news: its own check."""
    wear = anomalous(80)  # 26.7 h: the machine alert opens after the first hour
    dead = anomalous(20, mode="sensor_dropout", sensor=True, channel="coolant_temp")
    events = opened(replay(rows((1, wear + dead)), POLICY))
    assert [e.cause for e in events] == [Cause(1, MACHINE), Cause(1, SENSOR, "coolant_temp")]
    assert events[1].at - events[0].at > timedelta(seconds=POLICY.sensor_cover_s)
    series = wear + dead
    expected = replay(rows((1, series)), POLICY)
    assert decided_window_by_window(series) == [(t.action, t.cause, t.at) for t in expected]


def test_machines_are_independent() -> None:
    transitions = replay(rows((1, healthy(10)), (2, anomalous(4)), (3, anomalous(2))), POLICY)
    assert [t.cause.equipment_id for t in opened(transitions)] == [2]


def test_deciding_at_each_window_takes_the_decisions_of_the_replay() -> None:
    rng = np.random.default_rng(3)
    series = [
        {"ratio": float(level)}
        for level, length in zip(
            rng.choice([0.2, 0.7, 1.5, 4.0], 40), rng.integers(1, 25, 40), strict=True
        )
        for _ in range(length)
    ]
    expected = replay(rows((1, series)), POLICY)
    assert decided_window_by_window(series) == [(t.action, t.cause, t.at) for t in expected]
    assert len(expected) >= 4  # the series does open and close alerts


@pytest.mark.parametrize(
    "bad",
    [{"clear_ratio": 0.0}, {"clear_ratio": 1.5}, {"severe_ratio": 0.5}, {"persist_s": -1.0}],
)
def test_bad_policies_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        ModelAlertPolicy(**bad)


def test_the_evidence_spans_a_night_off() -> None:
    """A stuck sensor read as such all evening: the morning's first window, read as the
    machine, does not decide alone (the vote covers 6 h of observed time, not of clock)."""
    evening = anomalous(6, mode="sensor_stuck", sensor=True, channel="pump_vibration")
    morning = [{"ratio": 1.8, "time": T0.timestamp() + 20 * 3600}]
    transitions = replay(rows((1, healthy(3) + evening + morning)), POLICY)
    assert [t.cause.key for t in opened(transitions)] == [SENSOR]


def test_a_sensor_already_found_faulty_needs_the_full_hour() -> None:
    """A severe jump on a channel whose sensor check is open does not take the severe
    path: the faulty sensor explains it, until the anomaly has lasted an hour."""
    check = anomalous(6, mode="sensor_stuck", sensor=True, channel="coolant_temp")
    jump = [{"ratio": 25.0, "mode": "seal_hose_leak", "channel": "coolant_temp"}] * 4
    events = opened(replay(rows((2, healthy(3) + check + healthy(3) + jump)), POLICY))
    assert [e.cause for e in events] == [
        Cause(2, SENSOR, "coolant_temp"),
        Cause(2, "seal_hose_leak"),
    ]
    # windows 12..15 are the jump: the fourth (an hour) opens it, not the second
    assert events[1].at == T0 + timedelta(seconds=15 * STEP)
    # the same jump on a healthy sensor's channel opens at its second window
    other = [{**w, "channel": "hydraulic_pressure"} for w in jump]
    events = opened(replay(rows((2, healthy(3) + check + healthy(3) + other)), POLICY))
    assert events[1].cause == Cause(2, "seal_hose_leak")
    assert events[1].at == T0 + timedelta(seconds=13 * STEP)


def sensor_then_leak(sensor_channel: str) -> list[dict[str, Any]]:
    """Six hours read as a failed sensor, then an hour and more read as a leak."""
    dead = anomalous(18, mode="sensor_dropout", sensor=True, channel=sensor_channel)
    return healthy(3) + dead + anomalous(6, mode="seal_hose_leak", channel=sensor_channel)


def test_a_leak_beside_a_sensor_found_faulty_opens_its_alert_once_the_hour_reads_so() -> None:
    """A run read as a dead vibration sensor (its check open) turns into a leak: the six
    hours of evidence still read as the sensor, but the sensor already found faulty
    explains those windows, so once the last hour reads as the machine its alert opens."""
    events = opened(replay(rows((5, sensor_then_leak("pump_vibration"))), POLICY))
    assert [e.cause for e in events] == [
        Cause(5, SENSOR, "pump_vibration"),
        Cause(5, "seal_hose_leak"),
    ]
    # leak windows 21..26: the hour 20..23 holds one sensor window of four (22: two)
    assert events[1].at == T0 + timedelta(seconds=23 * STEP)
    assert events[1].alert is not None
    assert events[1].alert.kind == MACHINE
    assert events[1].alert.grade == "critical"
    series = sensor_then_leak("pump_vibration")
    expected = replay(rows((1, series)), POLICY)
    assert decided_window_by_window(series) == [(t.action, t.cause, t.at) for t in expected]


def test_a_leak_read_from_the_faulty_sensors_own_measurand_stays_that_sensors() -> None:
    """A pressure sensor drifting reads as a leak (a pressure falling) once it drifts far:
    with that sensor's check open, the leak is the sensor's, not the machine's."""
    events = opened(replay(rows((5, sensor_then_leak("hydraulic_pressure"))), POLICY))
    assert [e.cause for e in events] == [Cause(5, SENSOR, "hydraulic_pressure")]


def test_a_critical_mode_is_voted_by_the_last_hour_of_the_severe_run() -> None:
    """A long severe run that turns into a leak names the leak once the last hour says so,
    however long the run voted for another mode before. (The step itself, led by another
    channel, opened a sudden-deterioration alert while the vote still named the bearing.)"""
    wear = [{"ratio": 4.0, "mode": "bearing_wear"}] * 12
    leak = [{"ratio": 25.0, "mode": "seal_hose_leak", "channel": "hydraulic_pressure"}] * 4
    causes = [e.cause for e in opened(replay(rows((3, healthy(3) + wear + leak)), POLICY))]
    assert causes == [Cause(3, MACHINE), Cause(3, SUDDEN), Cause(3, "seal_hose_leak")]


def test_a_sudden_step_elsewhere_opens_a_critical_alert_beside_the_open_one() -> None:
    """A bearing wearing for hours, then a hose bursts: the pressure leads, the health
    falls tenfold, and the classifier (one fault at a time) still names the bearing."""
    wear = anomalous(9)
    burst = [{"ratio": 20.0, "channel": "hydraulic_pressure"}] * 3
    transitions = opened(replay(rows((1, wear + burst)), POLICY))
    assert [t.cause for t in transitions] == [Cause(1, MACHINE), Cause(1, SUDDEN)]
    sudden = transitions[1].alert
    assert sudden is not None
    assert (sudden.grade, sudden.mode, sudden.kind) == ("critical", "bearing_wear", MACHINE)
    assert sudden.details["sudden"] is True
    assert "sudden deterioration" in sudden.message
    assert transitions[1].at == T0 + timedelta(seconds=10 * STEP)  # its second window


def test_no_sudden_alert_for_a_creeping_fault_the_same_channel_or_without_an_alert() -> None:
    creeping = [
        {"ratio": r, "channel": "hydraulic_pressure"} for r in (2.2, 2.6, 3.0, 3.4, 3.8, 4.2)
    ]
    same_channel = [{"ratio": 20.0}] * 3
    fresh = [{"ratio": 20.0, "mode": "bearing_wear", "channel": "hydraulic_pressure"}] * 3
    for series, first in (
        (anomalous(9) + creeping, [Cause(1, MACHINE)]),
        (anomalous(9) + same_channel, [Cause(1, MACHINE)]),
        (healthy(9) + fresh, [Cause(1, MACHINE)]),  # nothing open: the alert itself
    ):
        assert [t.cause for t in opened(replay(rows((1, series)), POLICY))] == first
    leak = [{"ratio": 20.0, "mode": "seal_hose_leak", "channel": "hydraulic_pressure"}] * 3
    causes = [t.cause for t in opened(replay(rows((1, anomalous(9) + leak)), POLICY))]
    assert causes == [Cause(1, MACHINE), Cause(1, "seal_hose_leak")]  # it names itself


def test_deciding_with_sudden_steps_takes_the_decisions_of_the_replay() -> None:
    rng = np.random.default_rng(8)
    series = [
        {"ratio": float(level), "channel": str(channel)}
        for level, channel, length in zip(
            rng.choice([0.2, 1.5, 2.0, 9.0, 30.0], 40),
            rng.choice(["pump_vibration", "hydraulic_pressure"], 40),
            rng.integers(1, 12, 40),
            strict=True,
        )
        for _ in range(length)
    ]
    expected = replay(rows((1, series)), POLICY)
    assert decided_window_by_window(series) == [(t.action, t.cause, t.at) for t in expected]
    assert Cause(1, SUDDEN) in {t.cause for t in expected}  # the series does step


STALE = ModelAlertPolicy()  # as shipped: a day, ten times the alarm
OFF = ModelAlertPolicy(stale_alert_s=float("inf"))


def worn_for(hours: float, ratio: float = 4.0) -> list[dict[str, Any]]:
    """A bearing wearing for ``hours``, its vibration leading, read as bearing wear."""
    n = int(hours * 3600 / STEP)
    return [{"ratio": ratio, "mode": "bearing_wear", "channel": "pump_vibration"}] * n


def collapse(*ratios: float, channel: str = "hydraulic_pressure") -> list[dict[str, Any]]:
    """Windows led by ``channel``, still read as the older mode."""
    return [{"ratio": r, "mode": "bearing_wear", "channel": channel} for r in ratios]


def test_another_part_failing_badly_beside_a_days_old_alert_opens_a_sudden_one() -> None:
    """A bearing worn for two days (its alert open), then a hose bursts: the pressure
    takes the lead and rises over an hour past ten times the alarm, no step in it, and
    the classifier still names the bearing. Beside an alert that old, another part of
    the machine failing that badly is news it does not carry."""
    rising = collapse(4.5, 5.5, 6.5, 7.5, 8.5, 10.5, 12.0, 13.0)  # no 2x step in an hour
    series = healthy(3) + worn_for(48) + rising
    events = opened(replay(rows((1, series)), STALE))
    assert [e.cause for e in events] == [Cause(1, MACHINE), Cause(1, SUDDEN)]
    sudden = events[1].alert
    assert sudden is not None
    assert (sudden.grade, sudden.mode) == ("critical", "bearing_wear")
    assert sudden.message.startswith(
        "model: pressure failing badly on top of a machine alert open a day or more"
    )
    assert (sudden.details["sudden"], sudden.details["part"]) == (True, "pressure")
    assert events[1].at == T0 + timedelta(seconds=(3 + 144 + 6) * STEP)  # 10.5, then 12
    expected = replay(rows((1, series)), STALE)
    assert decided_window_by_window(series, STALE) == [(t.action, t.cause, t.at) for t in expected]


def test_another_part_needs_an_old_alert_ten_times_the_alarm_and_the_setting() -> None:
    assert (STALE.stale_alert_s, STALE.stale_step_ratio, STALE.stale_part_s) == (86400, 10, 86400)
    rising = collapse(4.5, 5.5, 6.5, 7.5, 8.5, 10.5, 12.0, 13.0)  # no 2x step in an hour
    for series, policy in (
        (healthy(3) + worn_for(12) + rising, STALE),  # the alert is 12 h old
        (healthy(3) + worn_for(48) + collapse(4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 9.5), STALE),  # < 10x
        # the part that led all along: the bearing itself, worse
        (healthy(3) + worn_for(48) + collapse(12.0, 14.0, channel="pump_vibration"), STALE),
        (healthy(3) + worn_for(48) + rising, OFF),  # switched off
    ):
        causes = [e.cause for e in opened(replay(rows((1, series)), policy))]
        assert causes == [Cause(1, MACHINE)]


def test_stale_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="stale_step_ratio"):
        ModelAlertPolicy(stale_step_ratio=2.0)
    with pytest.raises(ValueError, match="stale_alert_s"):
        ModelAlertPolicy(stale_alert_s=-1.0)


LEAK = "seal_hose_leak"


def wearing(n: int) -> list[dict[str, Any]]:
    """A worn pump's severe windows, read as pump wear."""
    return [{"ratio": 20.0, "mode": "hydraulic_pump_wear", "channel": "discharge_pressure"}] * n


def leaking(n: int) -> list[dict[str, Any]]:
    """Severe windows of the same channel, voted a leak."""
    return [{"ratio": 20.0, "mode": LEAK, "channel": "discharge_pressure"}] * n


def test_a_leak_alert_the_machine_outlived_gives_way_to_a_new_leak_episode() -> None:
    """A worn pump's worst hour voted a leak; the machine ran on for days (a burst hose
    stops it within hours); then its hose does burst: a new leak alert, not silence."""
    days = 3 * 24  # windows a day at 20 minutes
    series = wearing(6) + leaking(4) + wearing(5 * days) + leaking(4)
    transitions = replay(rows((1, series)), POLICY)
    assert [(t.action, t.cause) for t in transitions] == [
        ("open", Cause(1, MACHINE)),
        ("open", Cause(1, LEAK)),
        ("close", Cause(1, LEAK)),
        ("open", Cause(1, LEAK)),
    ]
    first, closed, renewed = transitions[1:]
    assert closed.superseded
    assert closed.repair is None
    # the third leak window: the last hour's windows then vote the leak
    assert closed.at == renewed.at == T0 + timedelta(seconds=(len(series) - 2) * STEP)
    assert renewed.alert is not None
    assert renewed.alert.grade == "critical"
    assert renewed.alert.details["supersedes"] == first.at.isoformat()
    assert renewed.at - first.at > timedelta(seconds=POLICY.renew_critical_s)
    assert not any(t.superseded for t in transitions if t is not closed)


def test_a_leak_alert_is_not_renewed_early_nor_by_a_leak_read_throughout() -> None:
    days = 3 * 24
    # two days on (under renew_critical_s), another burst voted a leak: still the same alert
    early = wearing(6) + leaking(4) + wearing(2 * days) + leaking(4)
    # a drifting pressure sensor read as a leak for five days: one reading, one alert
    throughout = wearing(6) + leaking(5 * days + 4)
    for series in (early, throughout):
        causes = [(t.action, t.cause) for t in replay(rows((1, series)), POLICY)]
        assert causes == [("open", Cause(1, MACHINE)), ("open", Cause(1, LEAK))]
    # the pump wear must have been read for the hour that ended an hour before the burst
    short_gap = wearing(6) + leaking(4) + wearing(5 * days) + leaking(2) + wearing(3) + leaking(4)
    renewed = [t for t in replay(rows((1, short_gap)), POLICY) if t.superseded]
    assert len(renewed) == 1  # the first of the two late bursts; the second is in its wake


def test_deciding_with_renewals_takes_the_decisions_of_the_replay() -> None:
    policy = ModelAlertPolicy(renew_critical_s=6 * 3600.0)
    series = wearing(6) + leaking(4) + wearing(24) + leaking(4) + wearing(20) + leaking(3)
    expected = replay(rows((1, series)), policy)
    assert sum(t.superseded for t in expected) == 2
    assert decided_window_by_window(series, policy) == [(t.action, t.cause, t.at) for t in expected]

"""models.sim_metrics against counts worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.sim_metrics import (
    AlertRecord,
    Fault,
    evaluate,
    lead_summary,
    machine_months,
    rate_interval,
    recall_interval,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=30)


def day(d: float) -> datetime:
    return START + timedelta(days=d)


FAULTS = [
    # machine 1: bearing wear, fails on day 10: caught on day 4 (lead 144 h)
    Fault(1, "bearing_wear", False, day(-5), day(10), day(12), ("pump_vibration",), "f1"),
    # machine 2: leak that fails on day 20 with no alert: missed
    Fault(2, "seal_hose_leak", False, day(19.9), day(20), day(21), ("hydraulic_pressure",), "f2"),
    # machine 3: fouling due on day 25, caught on day 24 (lead 24 h)
    Fault(3, "cooling_fouling", False, day(5), day(25), day(27), ("coolant_temp",), "f3"),
    # machine 4: fouling failing after the period: not due (censored)
    Fault(4, "cooling_fouling", False, day(20), day(45), None, ("coolant_temp",), "f4"),
    # machine 5: a stuck sensor, seen as a sensor fault
    Fault(5, "sensor_stuck", True, day(3), day(3), day(8), ("coolant_temp",), "s1"),
    # machine 6: a drifting sensor, taken for the machine
    Fault(6, "sensor_drift", True, day(10), day(15), day(18), ("hydraulic_pressure",), "s2"),
    # machine 7: a noisy sensor nobody noticed
    Fault(7, "sensor_noisy", True, day(1), day(2), day(4), ("engine_speed",), "s3"),
    # machine 8: a fault over before the period: not counted anywhere
    Fault(8, "bearing_wear", False, day(-40), day(-3), day(-1), ("pump_vibration",), "f5"),
]

ALERTS = [
    AlertRecord(1, day(4), "machine", "bearing_wear"),  # true, first on f1
    AlertRecord(1, day(8), "machine", "hydraulic_pump_wear"),  # true (f1 still active)
    AlertRecord(3, day(24), "machine", "cooling_fouling"),  # true: f3 caught
    AlertRecord(4, day(22), "machine", "cooling_fouling"),  # true: f4 active (not due)
    AlertRecord(5, day(4), "sensor", "sensor_stuck", "coolant_temp"),  # sensor fault found
    AlertRecord(6, day(12), "machine", "bearing_wear"),  # false: during a sensor fault only
    AlertRecord(9, day(15), "machine", "bearing_wear"),  # false: a healthy machine
    AlertRecord(1, day(11), "machine", "bearing_wear"),  # true: f1 down, not yet repaired
    AlertRecord(2, day(2), "machine", "bearing_wear"),  # false: before f2's onset
    AlertRecord(9, day(16), "sensor", "sensor_drift", "fuel_rate"),  # a false sensor check
]


def test_counts_against_the_truth() -> None:
    months = machine_months(10, START, END)
    assert months == pytest.approx(10.0)
    r = evaluate(FAULTS, ALERTS, START, END, months=months)
    # due: f1, f2, f3 (f4 fails after the end, f5 before the start)
    assert r["machine_faults_due"] == 3
    assert r["caught"] == 2
    assert r["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert r["caught_named"] == 2  # f1 by a bearing alert, f3 by a fouling alert
    # 8 machine alerts: 5 true (f1 x3, f3, f4), 3 false (machine 6, 9 and 2)
    assert r["machine_alerts"] == 8
    assert r["true_alerts"] == 5
    assert r["false_alarms"] == 3
    assert r["precision"] == pytest.approx(5 / 8, abs=1e-4)
    assert r["false_alarms_per_100_machine_months"] == pytest.approx(30.0)
    # lead times: f1 caught on day 4, fails day 10 (144 h); f3 day 24 -> 25 (24 h)
    assert r["lead_time_median_h"] == pytest.approx(84.0)
    assert r["lead_time_p10_h"] == pytest.approx(36.0)  # 24 + 0.1 * (144 - 24)
    assert r["per_mode"]["bearing_wear"]["lead_time_median_h"] == pytest.approx(144.0)
    assert r["per_mode"]["seal_hose_leak"]["recall"] == 0.0
    sensors = r["sensor_faults"]
    assert sensors == {
        "in_period": 3,
        "classified_as_sensor": 1,
        "right_channel": 1,
        "mistaken_for_machine": 1,
        "missed": 1,
        "machine_alarms_during_sensor_faults": 1,
    }
    assert r["sensor_checks"] == 2
    assert r["false_sensor_checks"] == 1


def test_recall_over_the_observable_faults() -> None:
    r = evaluate(FAULTS, ALERTS, START, END, months=10.0, observable={"f1", "f3"})
    assert r["observable"] == 2
    assert r["recall_observable"] == 1.0
    assert r["per_mode"]["seal_hose_leak"]["observable"] == 0
    assert r["per_mode"]["seal_hose_leak"]["recall_observable"] is None


def test_an_alert_after_the_failure_does_not_catch_it() -> None:
    late = [AlertRecord(2, day(20.5), "machine", "seal_hose_leak")]
    r = evaluate(FAULTS, late, START, END, months=10.0)
    assert r["caught"] == 0
    assert r["true_alerts"] == 1  # the machine is down, awaiting repair: not a false alarm


def test_lead_summary_without_detections() -> None:
    assert lead_summary([]) == {"lead_time_median_h": None, "lead_time_p10_h": None}


def test_recall_by_when_the_fault_began() -> None:
    r = evaluate(FAULTS, ALERTS, START, END, months=10.0, history_start=day(-3))
    # f1 began on day -5, before the history; f2 and f3 during the test
    assert r["by_onset"] == {
        "before_history": {**r["by_onset"]["before_history"], "due": 1, "caught": 1},
        "in_test": {**r["by_onset"]["in_test"], "due": 2, "caught": 1, "recall": 0.5},
    }
    r = evaluate(FAULTS, ALERTS, START, END, months=10.0, history_start=day(-10))
    assert set(r["by_onset"]) == {"in_training", "in_test"}
    outcome = {f["fault_id"]: f for f in r["faults"]}
    assert list(outcome) == ["f1", "f2", "f3"]  # by failure time
    assert outcome["f1"]["onset_period"] == "in_training"
    assert outcome["f1"]["lead_h"] == pytest.approx(144.0)
    assert outcome["f2"]["first_alert"] is None


def test_recall_interval_is_wilsons() -> None:
    # by hand: p = 0.9, n = 80, z = 1.96: centre (p + z^2/2n) / (1 + z^2/n) = 0.88167,
    # half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n) = 0.06678
    assert recall_interval(72, 80) == pytest.approx([0.8149, 0.9485], abs=1e-4)
    assert recall_interval(0, 0) is None
    low, high = recall_interval(10, 10) or [0.0, 0.0]
    assert high == pytest.approx(1.0)
    assert low == pytest.approx(0.7225, abs=1e-4)


def test_false_alarm_interval_is_garwoods() -> None:
    # two events: chi2(0.025; 4)/2 = 0.2422 and chi2(0.975; 6)/2 = 7.2247, over 184 months
    assert rate_interval(2, 184.0) == pytest.approx([0.13, 3.93])
    # none: the upper bound is -ln(0.025) = 3.689 events
    assert rate_interval(0, 184.0) == pytest.approx([0.0, 2.0])
    assert rate_interval(1, 0.0) is None


def test_the_report_carries_the_intervals() -> None:
    report = evaluate([], [], START, END, months=184.0)
    assert report["recall_ci95"] is None
    assert report["false_alarms_per_100_machine_months_ci95"] == pytest.approx([0.0, 2.0])


def test_a_fault_caught_by_an_alert_of_another_mode_is_caught_not_named() -> None:
    faults = [
        # machine 1: fouling due on day 20; its only alert names a leak (day 15)
        Fault(1, "cooling_fouling", False, day(2), day(20), day(22), ("coolant_temp",), "a"),
        # machine 2: leak due on day 10; a pump-wear alert, then a leak alert
        Fault(2, "seal_hose_leak", False, day(9.8), day(10), day(11), ("hydraulic_pressure",), "b"),
        # machine 3: bearing due on day 12, named at once
        Fault(3, "bearing_wear", False, day(1), day(12), day(13), ("pump_vibration",), "c"),
        # machine 4: bearing due on day 14, missed
        Fault(4, "bearing_wear", False, day(1), day(14), day(15), ("pump_vibration",), "d"),
    ]
    alerts = [
        AlertRecord(1, day(15), "machine", "seal_hose_leak"),
        AlertRecord(2, day(9.85), "machine", "hydraulic_pump_wear"),
        AlertRecord(2, day(9.9), "machine", "seal_hose_leak"),
        AlertRecord(3, day(3), "machine", "bearing_wear"),
        AlertRecord(4, day(13), "sensor", "bearing_wear", "pump_vibration"),  # not a machine alert
    ]
    r = evaluate(faults, alerts, START, END, months=10.0)
    assert (r["caught"], r["caught_named"]) == (3, 2)
    assert r["recall_named"] == pytest.approx(0.5)
    assert r["per_mode"]["cooling_fouling"]["named"] == 0
    assert r["per_mode"]["cooling_fouling"]["caught"] == 1
    assert r["per_mode"]["seal_hose_leak"]["named"] == 1  # named by its second alert
    assert r["per_mode"]["bearing_wear"]["recall_named"] == pytest.approx(0.5)
    assert [f["named"] for f in r["faults"]] == [True, True, False, False]  # by failure

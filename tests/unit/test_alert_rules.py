"""alerts.rules.evaluate_thresholds: one candidate per machine+channel, its earliest violation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.rules import THRESHOLD_RULE, AlertCandidate, ChannelLimit, evaluate_thresholds
from ingest.protocol import Reading

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TEMP = ChannelLimit(11, "coolant_temp", "°C", 0.0, 100.0, "major")
PRESSURE = ChannelLimit(12, "oil_pressure", "bar", 1.5, None, "critical")
VIBRATION = ChannelLimit(13, "vibration", "mm/s", None, 7.1, "minor")
LIMITS = {lim.channel_id: lim for lim in (TEMP, PRESSURE, VIBRATION)}


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_above_maximum() -> None:
    (alert,) = evaluate_thresholds([Reading(at(0), 7, 11, 120.0)], LIMITS)
    assert alert == AlertCandidate(
        equipment_id=7,
        channel_id=11,
        rule=THRESHOLD_RULE,
        grade="major",
        reading_time=T0,
        value=120.0,
        direction="above",
        limit=100.0,
        message="coolant_temp 120 °C is above the valid maximum 100 °C",
    )
    assert THRESHOLD_RULE == "threshold"


def test_below_minimum() -> None:
    (alert,) = evaluate_thresholds([Reading(at(0), 7, 11, -2.5)], LIMITS)
    assert (alert.direction, alert.limit, alert.value) == ("below", 0.0, -2.5)
    assert alert.message == "coolant_temp -2.5 °C is below the valid minimum 0 °C"


@pytest.mark.parametrize("value", [0.0, 50.0, 100.0])
def test_in_range_and_on_the_bounds_yields_nothing(value: float) -> None:
    assert evaluate_thresholds([Reading(at(0), 7, 11, value)], LIMITS) == []


def test_no_readings_yields_nothing() -> None:
    assert evaluate_thresholds([], LIMITS) == []


def test_channels_without_limits_are_ignored() -> None:
    readings = [Reading(at(0), 7, 99, 1e9), Reading(at(1), 7, 99, -1e9)]
    assert evaluate_thresholds(readings, LIMITS) == []
    assert evaluate_thresholds([Reading(at(0), 7, 11, 500.0)], {}) == []


def test_none_maximum_means_no_upper_bound() -> None:
    assert evaluate_thresholds([Reading(at(0), 7, 12, 1e12)], LIMITS) == []
    (alert,) = evaluate_thresholds([Reading(at(0), 7, 12, 1.2)], LIMITS)
    assert (alert.direction, alert.limit, alert.grade) == ("below", 1.5, "critical")


def test_none_minimum_means_no_lower_bound() -> None:
    assert evaluate_thresholds([Reading(at(0), 7, 13, -1e12)], LIMITS) == []
    (alert,) = evaluate_thresholds([Reading(at(0), 7, 13, 9.0)], LIMITS)
    assert (alert.direction, alert.limit, alert.grade) == ("above", 7.1, "minor")
    assert alert.message == "vibration 9 mm/s is above the valid maximum 7.1 mm/s"


def test_both_bounds_none_never_violates() -> None:
    free = ChannelLimit(20, "free", "", None, None, "minor")
    assert free.violation(-1e300) is None
    assert free.violation(1e300) is None
    assert evaluate_thresholds([Reading(at(0), 1, 20, 1e300)], {20: free}) == []


def test_violation_direction() -> None:
    assert TEMP.violation(100.0001) == "above"
    assert TEMP.violation(-0.0001) == "below"
    assert TEMP.violation(100.0) is None
    assert TEMP.violation(0.0) is None


def test_earliest_violation_wins_whatever_the_input_order() -> None:
    readings = [
        Reading(at(30), 7, 11, 130.0),
        Reading(at(5), 7, 11, 50.0),  # in range: earlier but not a violation
        Reading(at(10), 7, 11, 125.0),
        Reading(at(40), 7, 11, -5.0),
    ]
    (alert,) = evaluate_thresholds(readings, LIMITS)
    assert (alert.reading_time, alert.value, alert.direction) == (at(10), 125.0, "above")
    (again,) = evaluate_thresholds(list(reversed(readings)), LIMITS)
    assert again == alert


def test_earliest_violation_may_be_below_while_later_ones_are_above() -> None:
    readings = [Reading(at(20), 7, 11, 140.0), Reading(at(15), 7, 11, -3.0)]
    (alert,) = evaluate_thresholds(readings, LIMITS)
    assert (alert.reading_time, alert.direction, alert.limit) == (at(15), "below", 0.0)


def test_same_time_keeps_the_first_seen() -> None:
    readings = [Reading(at(0), 7, 11, 110.0), Reading(at(0), 7, 11, 120.0)]
    (alert,) = evaluate_thresholds(readings, LIMITS)
    assert alert.value == 110.0


def test_one_candidate_per_machine_and_channel_sorted() -> None:
    readings = [
        Reading(at(9), 8, 11, 101.0),
        Reading(at(3), 7, 13, 8.0),
        Reading(at(3), 7, 11, 105.0),
        Reading(at(1), 8, 11, 102.0),
        Reading(at(2), 7, 11, 50.0),
        Reading(at(7), 7, 11, 103.0),
        Reading(at(3), 6, 13, 7.5),
    ]
    alerts = evaluate_thresholds(readings, LIMITS)
    keys = [(a.reading_time, a.equipment_id, a.channel_id, a.value) for a in alerts]
    assert keys == [
        (at(1), 8, 11, 102.0),
        (at(3), 6, 13, 7.5),
        (at(3), 7, 11, 105.0),
        (at(3), 7, 13, 8.0),
    ]


def test_accepts_a_generator() -> None:
    alerts = evaluate_thresholds((Reading(at(i), 7, 11, 100.0 + i) for i in range(3)), LIMITS)
    assert [(a.reading_time, a.value) for a in alerts] == [(at(1), 101.0)]

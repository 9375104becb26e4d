"""ingest.retention: the policy's rules and the cutoffs held back by dirty rollups (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.retention import HEALTH, HOUR, MINUTE, RAW, RetentionPolicy, TablePlan, plan

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
D = timedelta(days=1)


def by_table(plans: list[TablePlan]) -> dict[str, TablePlan]:
    assert [p.table for p in plans] == [RAW, MINUTE, HOUR, HEALTH]
    return {p.table: p for p in plans}


def test_the_default_policy_keeps_raw_30_days_minutes_a_year_and_hours_forever() -> None:
    policy = RetentionPolicy()
    assert (policy.raw_days, policy.minute_days, policy.hourly_days) == (30, 365, None)
    assert policy.health_days == 90


@pytest.mark.parametrize("days", [0, -3])
def test_health_is_kept_at_least_a_day(days: int) -> None:
    with pytest.raises(ValueError, match="health_days must be at least 1 day"):
        RetentionPolicy(health_days=days)


@pytest.mark.parametrize(
    ("raw", "minute", "hourly"),
    [
        (0, 365, None),  # not a positive number of days
        (30, -1, None),
        (30, 7, None),  # minutes would go before the raw data they are made of
        (30, 365, 100),  # hours before minutes
        (None, 365, None),  # raw kept forever but minutes dropped
        (30, None, 400),  # minutes kept forever but hours dropped
    ],
)
def test_a_rollup_must_outlive_its_source(
    raw: int | None, minute: int | None, hourly: int | None
) -> None:
    with pytest.raises(ValueError, match="days"):
        RetentionPolicy(raw_days=raw, minute_days=minute, hourly_days=hourly)


def test_equal_ages_and_keeping_everything_are_allowed() -> None:
    RetentionPolicy(raw_days=30, minute_days=30, hourly_days=30)
    RetentionPolicy(raw_days=None, minute_days=None, hourly_days=None)


def test_without_dirty_buckets_the_policy_applies() -> None:
    plans = by_table(plan(RetentionPolicy(), NOW, None, None))
    assert plans[RAW] == TablePlan(RAW, NOW - 30 * D, NOW - 30 * D)
    assert plans[MINUTE] == TablePlan(MINUTE, NOW - 365 * D, NOW - 365 * D)
    assert plans[HOUR] == TablePlan(HOUR, None, None)  # kept: nothing to drop
    assert plans[HEALTH] == TablePlan(HEALTH, NOW - 90 * D, NOW - 90 * D)
    assert not any(p.held_back for p in plans.values())


def test_recent_dirty_buckets_hold_nothing_back() -> None:
    plans = by_table(plan(RetentionPolicy(), NOW, NOW - timedelta(minutes=3), NOW - 2 * D))
    assert not any(p.held_back for p in plans.values())


def test_an_old_dirty_minute_holds_back_raw_and_the_minutes_of_its_hour() -> None:
    policy = RetentionPolicy(raw_days=30, minute_days=45, hourly_days=400)
    minute = NOW - 50 * D + timedelta(minutes=47)
    plans = by_table(plan(policy, NOW, minute, None))
    assert plans[RAW].cutoff == minute
    assert plans[RAW].held_back
    assert plans[MINUTE].cutoff == NOW - 50 * D  # the start of the minute's hour
    assert plans[MINUTE].held_back
    assert plans[HOUR] == TablePlan(HOUR, NOW - 400 * D, NOW - 400 * D)  # feeds nothing
    assert plans[HEALTH] == TablePlan(HEALTH, NOW - 90 * D, NOW - 90 * D)  # nor does health


def test_an_old_dirty_hour_holds_back_only_the_minutes() -> None:
    policy = RetentionPolicy(raw_days=30, minute_days=45)
    hour = NOW - 60 * D
    plans = by_table(plan(policy, NOW, None, hour))
    assert not plans[RAW].held_back
    assert plans[MINUTE].cutoff == hour


def test_the_hour_of_a_dirty_minute_is_a_utc_hour() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    minute = datetime(2026, 1, 10, 10, 47, tzinfo=india)  # 05:17 UTC
    plans = by_table(plan(RetentionPolicy(raw_days=30, minute_days=45), NOW, minute, None))
    assert plans[MINUTE].cutoff == datetime(2026, 1, 10, 5, 0, tzinfo=UTC)


def test_a_table_kept_forever_has_no_cutoff_whatever_is_dirty() -> None:
    keep = RetentionPolicy(raw_days=None, minute_days=None, hourly_days=None, health_days=None)
    plans = plan(keep, NOW, NOW - 100 * D, NOW - 100 * D)
    assert all(p.cutoff is None and p.policy_cutoff is None for p in plans)

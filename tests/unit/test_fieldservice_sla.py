"""fieldservice.sla: response promises and warranty status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from fieldservice.sla import SlaPolicy, under_warranty

CREATED = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("grade", "package", "due"),
    [
        ("critical", "standard", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("major", "standard", datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),
        ("minor", "standard", datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
        # gold: 0.75 x 2 h = 1 h 30; 0.75 x 4 h = 3 h; 0.75 x 72 h = 54 h
        ("critical", "gold", datetime(2026, 11, 22, 9, 30, tzinfo=UTC)),
        ("major", "gold", datetime(2026, 11, 22, 11, 0, tzinfo=UTC)),
        ("minor", "gold", datetime(2026, 11, 24, 14, 0, tzinfo=UTC)),
    ],
)
def test_due_per_grade_and_package(grade: str, package: str, due: datetime) -> None:
    assert SlaPolicy().due(CREATED, grade, package) == due


@pytest.mark.parametrize("package", ["silver", "basic", "", "Gold"])
def test_only_gold_gets_the_factor(package: str) -> None:
    assert SlaPolicy().due(CREATED, "critical", package) == CREATED + timedelta(hours=2)


def test_custom_factor_and_promises() -> None:
    policy = SlaPolicy(on_site={"critical": timedelta(hours=1)}, gold_factor=0.5)
    assert policy.due(CREATED, "critical", "gold") == CREATED + timedelta(minutes=30)
    assert policy.due(CREATED, "critical", "standard") == CREATED + timedelta(hours=1)
    with pytest.raises(ValueError, match="no SLA for grade 'major'"):
        policy.due(CREATED, "major", "standard")


@pytest.mark.parametrize("grade", ["urgent", "", "CRITICAL"])
def test_unknown_grade_raises(grade: str) -> None:
    with pytest.raises(ValueError, match="no SLA for grade"):
        SlaPolicy().due(CREATED, grade, "gold")


def test_policies_do_not_share_their_table() -> None:
    first, second = SlaPolicy(), SlaPolicy()
    first.on_site["critical"] = timedelta(hours=9)
    assert second.due(CREATED, "critical", "standard") == CREATED + timedelta(hours=2)


def test_due_keeps_the_time_zone() -> None:
    assert SlaPolicy().due(CREATED, "major", "standard").tzinfo is UTC


@pytest.mark.parametrize(
    ("at", "covered"),
    [
        (datetime(2026, 12, 30, 12, 0, tzinfo=UTC), True),
        (datetime(2026, 12, 31, 0, 0, tzinfo=UTC), True),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), True),
        (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), False),
        (datetime(2028, 6, 1, 0, 0, tzinfo=UTC), False),
    ],
)
def test_under_warranty_end_date_inclusive(at: datetime, covered: bool) -> None:
    assert under_warranty(date(2026, 12, 31), at) is covered

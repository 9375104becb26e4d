"""Alerts in the database: channel limits in, alerts out (one open per machine/channel/rule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.rules import AlertCandidate, ChannelLimit


@dataclass(frozen=True)
class Alert:
    id: int
    equipment_id: int
    channel_id: int | None
    rule: str
    grade: str
    status: str
    message: str
    details: dict[str, Any]
    reading_time: datetime
    opened_at: datetime
    cause: str | None = None  # beyond machine, channel and rule (model alerts)
    closed_at: datetime | None = None

    def as_event(self) -> dict[str, Any]:
        event = {
            "id": self.id,
            "equipment_id": self.equipment_id,
            "channel_id": self.channel_id,
            "rule": self.rule,
            "grade": self.grade,
            "status": self.status,
            "message": self.message,
            "details": self.details,
            "reading_time": self.reading_time.isoformat(),
            "opened_at": self.opened_at.isoformat(),
        }
        if self.cause is not None:
            event["cause"] = self.cause
        if self.closed_at is not None:
            event["closed_at"] = self.closed_at.isoformat()
        return event


def load_limits(conn: psycopg.Connection[Any]) -> dict[int, ChannelLimit]:
    rows = conn.execute(
        "SELECT id, code, unit, valid_min, valid_max, alert_grade FROM channels"
    ).fetchall()
    return {int(r[0]): ChannelLimit(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows}


def open_alert(conn: psycopg.Connection[Any], candidate: AlertCandidate) -> Alert | None:
    """Open an alert for ``candidate``; None when one is already open for the same cause."""
    details = {"value": candidate.value, "limit": candidate.limit, "direction": candidate.direction}
    row = conn.execute(
        """INSERT INTO alerts (equipment_id, channel_id, rule, grade, message, details, reading_time)
           VALUES (%s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (equipment_id, coalesce(channel_id, 0), rule, coalesce(cause, ''))
               WHERE status <> 'closed'
           DO NOTHING
           RETURNING id, status, opened_at""",
        (
            candidate.equipment_id,
            candidate.channel_id,
            candidate.rule,
            candidate.grade,
            candidate.message,
            Jsonb(details),
            candidate.reading_time,
        ),
    ).fetchone()
    if row is None:
        return None
    return Alert(
        id=int(row[0]),
        equipment_id=candidate.equipment_id,
        channel_id=candidate.channel_id,
        rule=candidate.rule,
        grade=candidate.grade,
        status=row[1],
        message=candidate.message,
        details=details,
        reading_time=candidate.reading_time,
        opened_at=row[2],
    )

"""Machines, their readings and their health."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api import queries
from api.deps import Conn
from api.errors import BadQuery
from api.schemas import Equipment, HealthHistory, HealthPoint, Point, Readings, Series

router = APIRouter(prefix="/equipment", tags=["equipment"])

_BUCKET = re.compile(
    r"^(\d+)\s*(s|sec|second|seconds|m|min|minute|minutes|h|hour|hours|d|day|days)$"
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_RAW_POINTS = 50_000
MAX_BUCKETS = 10_000
MAX_HEALTH_POINTS = 10_000


def parse_bucket(text: str) -> timedelta:
    """'30s', '1m', '5 minutes', '1h', '1d' -> timedelta."""
    match = _BUCKET.match(text.strip().lower())
    if not match or int(match[1]) <= 0:
        raise BadQuery(f"bucket {text!r} must look like 30s, 1m, 5 minutes, 1h or 1d")
    return timedelta(seconds=int(match[1]) * _UNIT_S[match[2][0]])


@router.get("", response_model=list[Equipment])
def list_equipment(conn: Conn) -> list[dict[str, object]]:
    return queries.list_equipment(conn)


@router.get("/{equipment_id}", response_model=Equipment)
def get_equipment(equipment_id: int, conn: Conn) -> dict[str, object]:
    row = queries.get_equipment(conn, equipment_id)
    if row is None:
        raise HTTPException(404, f"no machine with id {equipment_id}")
    return row


@router.get("/{equipment_id}/readings", response_model=Readings)
def get_readings(
    equipment_id: int,
    conn: Conn,
    start: Annotated[datetime | None, Query(description="inclusive; default: end - 1 hour")] = None,
    end: Annotated[datetime | None, Query(description="exclusive; default: now")] = None,
    bucket: Annotated[
        str | None, Query(description="aggregate per bucket: 30s, 1m, 1h, 1d")
    ] = None,
) -> Readings:
    if queries.get_equipment(conn, equipment_id) is None:
        raise HTTPException(404, f"no machine with id {equipment_id}")
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(hours=1)
    if start >= end:
        raise HTTPException(422, "start must be before end")
    channels = queries.channels_of(conn, equipment_id)
    points: dict[int, list[Point]] = {c["id"]: [] for c in channels}
    if bucket is None:
        for row in queries.raw_readings(conn, equipment_id, start, end, MAX_RAW_POINTS):
            points.setdefault(row["channel_id"], []).append(Point(t=row["t"], value=row["value"]))
    else:
        try:
            width = parse_bucket(bucket)
        except BadQuery as exc:
            raise HTTPException(422, str(exc)) from exc
        if (end - start) / width > MAX_BUCKETS:
            raise HTTPException(422, f"more than {MAX_BUCKETS} buckets: use a wider bucket")
        for row in queries.bucketed_readings(conn, equipment_id, start, end, width):
            points.setdefault(row["channel_id"], []).append(
                Point(
                    t=row["t"], avg=row["avg"], min=row["min"], max=row["max"], count=row["count"]
                )
            )
    return Readings(
        equipment_id=equipment_id,
        start=start,
        end=end,
        bucket=bucket,
        series=[
            Series(
                channel=c["code"],
                unit=c["unit"],
                valid_min=c["valid_min"],
                valid_max=c["valid_max"],
                points=points[c["id"]],
            )
            for c in channels
        ],
    )


@router.get("/{equipment_id}/health", response_model=HealthHistory)
def get_health(
    equipment_id: int,
    conn: Conn,
    start: Annotated[
        datetime | None, Query(description="inclusive; default: end - 24 hours")
    ] = None,
    end: Annotated[datetime | None, Query(description="exclusive; default: now")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_HEALTH_POINTS, description="the latest scored windows at most")
    ] = 1000,
) -> HealthHistory:
    """The machine's scored windows (health score, contributions, likely failure mode,
    remaining useful life), oldest first."""
    machine = queries.get_equipment(conn, equipment_id)
    if machine is None:
        raise HTTPException(404, f"no machine with id {equipment_id}")
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(hours=24)
    if start >= end:
        raise HTTPException(422, "start must be before end")
    rows = queries.machine_health(conn, equipment_id, start, end, limit)
    return HealthHistory(
        equipment_id=equipment_id,
        serial_number=str(machine["serial_number"]),
        start=start,
        end=end,
        points=[HealthPoint(**row) for row in rows],
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)

"""Alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api import queries
from api.deps import Conn
from api.schemas import Alert

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=list[Alert])
def list_alerts(
    conn: Conn,
    status: Literal["open", "acknowledged", "closed"] | None = None,
    equipment_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    return queries.list_alerts(conn, status, equipment_id, limit)

"""Work orders."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api import queries
from api.deps import Conn
from api.schemas import WorkOrder

router = APIRouter(prefix="/work-orders", tags=["work orders"])

Status = Literal["new", "assigned", "accepted", "on_site", "resolved", "closed", "cancelled"]


@router.get("", response_model=list[WorkOrder])
def list_work_orders(
    conn: Conn,
    status: Status | None = None,
    station: Annotated[str | None, Query(description="station code")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    return queries.list_work_orders(conn, status, station, limit)

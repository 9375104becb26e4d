"""The service network and webhook deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api import queries
from api.deps import Conn
from api.schemas import Station, WebhookDelivery

router = APIRouter(tags=["service network"])


@router.get("/stations", response_model=list[Station])
def list_stations(conn: Conn) -> list[dict[str, object]]:
    return queries.list_stations(conn)


@router.get("/webhook-deliveries", response_model=list[WebhookDelivery], tags=["webhooks"])
def list_deliveries(
    conn: Conn,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    return queries.list_deliveries(conn, status, limit)

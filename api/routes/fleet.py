"""The fleet's health: every scored machine's latest health, the least healthy first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import queries
from api.deps import Conn
from api.schemas import MachineHealth

router = APIRouter(prefix="/fleet", tags=["health"])


@router.get("/health", response_model=list[MachineHealth])
def fleet_health(
    conn: Conn,
    family: Annotated[str | None, Query(description="equipment family code")] = None,
    below: Annotated[
        float | None, Query(ge=0, le=100, description="only machines scoring under this")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, object]]:
    """The latest scored window of each machine (machines never scored are left out),
    ordered by health score, lowest first: where a planner looks first."""
    return queries.fleet_health(conn, family, below, limit)

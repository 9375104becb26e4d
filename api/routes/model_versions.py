"""The health models' registry: every trained version and which one scores."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import queries
from api.deps import Conn
from api.schemas import ModelVersion

router = APIRouter(prefix="/models", tags=["health"])


@router.get("", response_model=list[ModelVersion])
def list_model_versions(
    conn: Conn,
    family: Annotated[str | None, Query(description="equipment family code")] = None,
) -> list[dict[str, object]]:
    """Each family's versions, newest first, with what they were trained on and how they
    did on held-out data; ``prognos models activate`` switches the active one."""
    return queries.model_versions(conn, family)

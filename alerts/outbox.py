"""The outbox: events that leave the system, written in the caller's transaction."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def emit(
    conn: psycopg.Connection[Any],
    event_type: str,
    aggregate_type: str,
    aggregate_id: str | int,
    payload: dict[str, Any],
) -> int:
    """Record an event; it is delivered only if the caller's transaction commits."""
    row = conn.execute(
        "INSERT INTO outbox (event_type, aggregate_type, aggregate_id, payload) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (event_type, aggregate_type, str(aggregate_id), Jsonb(payload)),
    ).fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING returns a row
    return int(row[0])

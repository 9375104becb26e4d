"""Model alerts in the database: the open ones in, new ones and closures out (psycopg 3).

The rule itself is pure (alerts/model_rule.py). Here: which model alerts are open (with
the window that opened each), opening one (``ON CONFLICT DO NOTHING`` on the one-open-
per-cause index, so a second job run or a second process opens nothing new), closing
them, and the part numbers that match a failure mode's prefixes for the machine's family.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.model_rule import MODEL_RULE, SENSOR, Cause, ModelAlert, Repair
from alerts.store import Alert


def open_causes(conn: psycopg.Connection[Any]) -> dict[Cause, tuple[int, datetime]]:
    """Every model alert not closed: cause -> (alert id, time of the window that opened it)."""
    rows = conn.execute(
        """SELECT a.id, a.equipment_id, coalesce(a.cause, 'machine'), c.code, a.reading_time
           FROM alerts a LEFT JOIN channels c ON c.id = a.channel_id
           WHERE a.rule = %s AND a.status <> 'closed'""",
        (MODEL_RULE,),
    ).fetchall()
    return {
        Cause(int(machine), str(cause), code if cause == SENSOR else None): (int(i), at)
        for i, machine, cause, code, at in rows
    }


def repairs(
    conn: psycopg.Connection[Any], machines: Iterable[int], since: datetime
) -> list[Repair]:
    """The machines' work orders resolved since ``since`` (status ``resolved`` or
    ``closed``): each a repair of the machine, or of the sensor its sensor check named."""
    rows = conn.execute(
        """SELECT w.equipment_id, w.resolved_at, a.cause, c.code
           FROM work_orders w
           LEFT JOIN alerts a ON a.id = w.alert_id
           LEFT JOIN channels c ON c.id = a.channel_id
           WHERE w.equipment_id = ANY(%s) AND w.status IN ('resolved', 'closed')
             AND w.resolved_at >= %s
           ORDER BY w.equipment_id, w.resolved_at""",
        (list(machines), since),
    ).fetchall()
    return [
        Repair(int(machine), at.timestamp(), code if cause == SENSOR and code else None)
        for machine, at, cause, code in rows
    ]


def channel_ids(
    conn: psycopg.Connection[Any], machines: Iterable[int]
) -> dict[tuple[int, str], int]:
    """(equipment id, channel code) -> channel id, for the machines' models."""
    rows = conn.execute(
        """SELECT e.id, c.code, c.id FROM equipment e JOIN channels c ON c.model_id = e.model_id
           WHERE e.id = ANY(%s)""",
        (list(machines),),
    ).fetchall()
    return {(int(e), str(code)): int(cid) for e, code, cid in rows}


def likely_parts(
    conn: psycopg.Connection[Any], equipment_id: int, prefixes: Sequence[str]
) -> list[str]:
    """Part numbers starting with one of ``prefixes`` that serve the machine's family."""
    if not prefixes:
        return []
    rows = conn.execute(
        """SELECT p.part_number FROM parts p, equipment e JOIN equipment_models m
               ON m.id = e.model_id
           WHERE e.id = %s AND m.family = ANY(p.families)
             AND p.part_number LIKE ANY(%s)
           ORDER BY p.part_number""",
        (equipment_id, [f"{prefix}%" for prefix in prefixes]),
    ).fetchall()
    return [str(r[0]) for r in rows]


def insert(
    conn: psycopg.Connection[Any],
    alert: ModelAlert,
    *,
    channel_id: int | None,
    details: dict[str, Any],
    message: str,
) -> Alert | None:
    """Open ``alert``; None when one is open already for the same cause."""
    row = conn.execute(
        """INSERT INTO alerts (equipment_id, channel_id, rule, cause, grade, message, details,
                               reading_time)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (equipment_id, coalesce(channel_id, 0), rule, coalesce(cause, ''))
               WHERE status <> 'closed'
           DO NOTHING
           RETURNING id, status, opened_at""",
        (
            alert.equipment_id,
            channel_id,
            MODEL_RULE,
            alert.cause.key,
            alert.grade,
            message,
            Jsonb(details),
            alert.at,
        ),
    ).fetchone()
    if row is None:
        return None
    return Alert(
        id=int(row[0]),
        equipment_id=alert.equipment_id,
        channel_id=channel_id,
        rule=MODEL_RULE,
        grade=alert.grade,
        status=row[1],
        message=message,
        details=details,
        reading_time=alert.at,
        opened_at=row[2],
        cause=alert.cause.key,
    )


def close(conn: psycopg.Connection[Any], alert_id: int, details: dict[str, Any]) -> Alert | None:
    """Close an open alert, recording why in its details; None if it was closed already."""
    row = conn.execute(
        """UPDATE alerts SET status = 'closed', closed_at = now(), details = details || %s
           WHERE id = %s AND status <> 'closed'
           RETURNING id, equipment_id, channel_id, rule, grade, status, message, details,
                     reading_time, opened_at, cause, closed_at""",
        (Jsonb(details), alert_id),
    ).fetchone()
    if row is None:
        return None
    return Alert(
        id=int(row[0]),
        equipment_id=int(row[1]),
        channel_id=row[2],
        rule=row[3],
        grade=row[4],
        status=row[5],
        message=row[6],
        details=row[7],
        reading_time=row[8],
        opened_at=row[9],
        cause=row[10],
        closed_at=row[11],
    )

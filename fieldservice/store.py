"""The service network and work orders in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from fieldservice.domain import EquipmentContext, Station, Technician, WorkOrder
from fieldservice.errors import UnknownEquipment


def load_stations(conn: psycopg.Connection[Any]) -> list[Station]:
    rows = conn.execute(
        "SELECT id, code, name, tier, latitude, longitude, skills, rating, active "
        "FROM service_stations"
    ).fetchall()
    return [
        Station(r[0], r[1], r[2], r[3], r[4], r[5], frozenset(r[6]), float(r[7]), r[8])
        for r in rows
    ]


def load_technicians(conn: psycopg.Connection[Any], station_id: int) -> list[Technician]:
    rows = conn.execute(
        "SELECT id, code, station_id, name, level, certifications, active "
        "FROM technicians WHERE station_id = %s",
        (station_id,),
    ).fetchall()
    return [Technician(r[0], r[1], r[2], r[3], r[4], frozenset(r[5]), r[6]) for r in rows]


def equipment_context(conn: psycopg.Connection[Any], equipment_id: int) -> EquipmentContext:
    row = conn.execute(
        """SELECT e.id, e.serial_number, m.code, m.family, c.name, e.latitude, e.longitude,
                  e.warranty_end, e.service_package
           FROM equipment e JOIN equipment_models m ON m.id = e.model_id
           JOIN customers c ON c.id = e.customer_id
           WHERE e.id = %s""",
        (equipment_id,),
    ).fetchone()
    if row is None:
        raise UnknownEquipment(f"no machine with id {equipment_id}")
    return EquipmentContext(*row)


def insert_work_order(
    conn: psycopg.Connection[Any],
    *,
    equipment_id: int,
    alert_id: int | None,
    source: str,
    grade: str,
    fault_description: str,
    under_warranty: bool,
    station_id: int | None,
    technician_id: int | None,
    distance_km: float | None,
    routing: dict[str, Any],
    sla_due_at: datetime,
    created_at: datetime,
) -> WorkOrder:
    status = "assigned" if station_id is not None else "new"
    row = conn.execute(
        """INSERT INTO work_orders (equipment_id, alert_id, source, grade, status,
               fault_description, under_warranty, station_id, technician_id, distance_km,
               routing, sla_due_at, created_at, assigned_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                   CASE WHEN %s::integer IS NULL THEN NULL ELSE %s::timestamptz END)
           RETURNING id, number""",
        (
            equipment_id,
            alert_id,
            source,
            grade,
            status,
            fault_description,
            under_warranty,
            station_id,
            technician_id,
            distance_km,
            Jsonb(routing),
            sla_due_at,
            created_at,
            station_id,
            created_at,
        ),
    ).fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING returns a row
    return WorkOrder(
        id=int(row[0]),
        number=row[1],
        equipment_id=equipment_id,
        alert_id=alert_id,
        source=source,
        grade=grade,
        status=status,
        fault_description=fault_description,
        under_warranty=under_warranty,
        station_id=station_id,
        technician_id=technician_id,
        distance_km=distance_km,
        sla_due_at=sla_due_at,
        created_at=created_at,
        routing=routing,
    )

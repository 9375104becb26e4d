"""Open a work order for a fault and route it: station, technician, SLA, warranty."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg

from fieldservice.domain import WorkOrder
from fieldservice.routing import choose_station, choose_technician, rank_stations
from fieldservice.sla import SlaPolicy, under_warranty
from fieldservice.store import equipment_context, insert_work_order, load_stations, load_technicians

log = logging.getLogger(__name__)


def open_work_order(
    conn: psycopg.Connection[Any],
    *,
    equipment_id: int,
    grade: str,
    fault_description: str,
    source: str,
    now: datetime,
    alert_id: int | None = None,
    sla: SlaPolicy | None = None,
) -> WorkOrder:
    """Create the work order in the caller's transaction, assigned when a station qualifies.

    With no qualified station the order stays ``new`` (unassigned) for a dispatcher, and
    the routing record says why every candidate was excluded.
    """
    policy = sla or SlaPolicy()
    machine = equipment_context(conn, equipment_id)
    stations = load_stations(conn)
    decision = choose_station(
        stations,
        family=machine.family,
        grade=grade,
        latitude=machine.latitude,
        longitude=machine.longitude,
    )
    station_id = technician_id = None
    distance = None
    routing: dict[str, Any] = {
        "rule": "no qualified station",
        "family": machine.family,
        "grade": grade,
        "candidates": [
            {"station": s.code, "distance_km": round(d, 2), "excluded_because": why}
            for d, s, why in rank_stations(
                stations,
                family=machine.family,
                grade=grade,
                latitude=machine.latitude,
                longitude=machine.longitude,
            )[:10]
        ],
    }
    if decision is not None:
        station_id = decision.station.id
        distance = decision.distance_km
        routing = decision.explain()
        technician = choose_technician(
            load_technicians(conn, station_id), family=machine.family, grade=grade
        )
        technician_id = technician.id if technician else None
        routing["technician"] = technician.code if technician else None
    else:
        log.warning(
            "no qualified station for %s (%s, %s fault): work order left unassigned",
            machine.serial_number,
            machine.family,
            grade,
        )
    return insert_work_order(
        conn,
        equipment_id=equipment_id,
        alert_id=alert_id,
        source=source,
        grade=grade,
        fault_description=fault_description,
        under_warranty=under_warranty(machine.warranty_end, now),
        station_id=station_id,
        technician_id=technician_id,
        distance_km=distance,
        routing=routing,
        sla_due_at=policy.due(now, grade, machine.service_package),
        created_at=now,
    )

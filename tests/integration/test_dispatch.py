"""Alert pipeline and dispatch against the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from device_sim.fleet import load_fleet
from fieldservice.dispatch import open_work_order
from fieldservice.errors import UnknownEquipment
from ingest.catalog import Catalog, load_catalog
from ingest.protocol import Reading
from prognos.pipeline import AlertPipeline
from prognos.seed import seed

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"


@pytest.fixture
def catalog(conn: psycopg.Connection[Any]) -> Catalog:
    seed(conn, load_fleet(DEMO_FLEET))
    return load_catalog(conn)


def reading(catalog: Catalog, serial: str, channel: str, value: float, at: datetime) -> Reading:
    machine = catalog.get(serial)
    assert machine is not None
    return Reading(at, machine.id, machine.channels[channel].id, value)


def count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
    assert row is not None
    return int(row[0])


def test_the_pipeline_is_idempotent_per_cause(
    pool: ConnectionPool, conn: psycopg.Connection[Any], catalog: Catalog
) -> None:
    now = datetime.now(UTC)
    batch = [
        reading(catalog, "CP-0001", "coolant_temp", 80.0, now - timedelta(seconds=3)),
        reading(catalog, "CP-0001", "coolant_temp", 109.0, now - timedelta(seconds=2)),
        reading(catalog, "CP-0001", "coolant_temp", 110.0, now - timedelta(seconds=1)),
        reading(catalog, "TC-0001", "oil_pressure", 1.1, now - timedelta(seconds=1)),  # critical
        reading(catalog, "EX-0001", "fuel_rate", 20.0, now),  # in range
    ]
    pipeline = AlertPipeline(pool)
    pipeline(batch)
    pipeline(batch)  # a redelivered batch
    pipeline(batch[1:2])  # the fault persists
    assert count(conn, "alerts") == 2
    assert count(conn, "work_orders") == 2
    assert count(conn, "outbox") == 4
    assert pipeline.opened == 2
    rows = conn.execute(
        """SELECT e.serial_number, a.grade, a.reading_time, s.code, s.tier, w.sla_due_at - w.created_at
           FROM alerts a JOIN equipment e ON e.id = a.equipment_id
           JOIN work_orders w ON w.alert_id = a.id JOIN service_stations s ON s.id = w.station_id
           ORDER BY e.serial_number"""
    ).fetchall()
    cp, tc = rows
    assert cp[:3] == ("CP-0001", "major", batch[1].time)  # the earliest violation
    assert cp[5] == timedelta(hours=3)  # gold: 0.75 x the 4 h major promise
    assert tc[1] == "critical"
    assert tc[4] == 1  # a critical fault goes to a tier-1 station
    assert tc[3] == "ST-WH1"  # the tier-1 station in Wuhan, a few km from TC-0001
    assert tc[5] == timedelta(hours=2)


def test_with_no_qualified_station_the_order_waits_unassigned_with_reasons(
    conn: psycopg.Connection[Any], catalog: Catalog
) -> None:
    conn.execute("UPDATE service_stations SET active = false WHERE tier = 1")
    machine = catalog.get("TC-0002")
    assert machine is not None
    with conn.transaction():
        order = open_work_order(
            conn,
            equipment_id=machine.id,
            grade="critical",
            fault_description="oil pressure lost",
            source="phone",
            now=datetime.now(UTC),
        )
    assert order.status == "new"
    assert order.station_id is None
    assert order.technician_id is None
    reasons = {c["station"]: c["excluded_because"] for c in order.routing["candidates"]}
    assert reasons["ST-WH1"] == "inactive"
    assert reasons["ST-HF2"] == "tier 2 does not take critical faults"
    assert reasons["ST-NJ2"] == "tier 2 does not take critical faults"
    stored = conn.execute(
        "SELECT status, station_id, routing->>'rule' FROM work_orders WHERE id = %s", (order.id,)
    ).fetchone()
    assert stored == ("new", None, "no qualified station")


def test_an_unknown_machine_is_an_error(conn: psycopg.Connection[Any], catalog: Catalog) -> None:
    assert catalog.get("CP-0001") is not None
    with pytest.raises(UnknownEquipment), conn.transaction():
        open_work_order(
            conn,
            equipment_id=999_999,
            grade="minor",
            fault_description="?",
            source="app",
            now=datetime.now(UTC),
        )

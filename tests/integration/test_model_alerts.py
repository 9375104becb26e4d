"""Model alerts against the real PostgreSQL + TimescaleDB: health rows in, alerts, routed
work orders and outbox events out, as the threshold rule does; sensor checks; closing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from device_sim.fleet import load_fleet
from models.scoring import RunReport
from prognos.model_alerts import ModelAlertJob
from prognos.seed import seed

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
STEP = timedelta(minutes=20)
ALARM = 2.0  # the registered model's alarm threshold


@pytest.fixture
def machines(conn: psycopg.Connection[Any]) -> dict[str, int]:
    seed(conn, load_fleet(DEMO_FLEET))
    # a registered concrete_pump model version: health rows point at it (its artefact is
    # not loaded here, only its alarm threshold)
    conn.execute(
        "INSERT INTO model_versions (family, version, active, artefact, sha256, metadata) "
        "VALUES ('concrete_pump', 1, true, '\\x00', 'x', %s)",
        (Jsonb({"metrics": {"alarm_threshold": ALARM}}),),
    )
    rows = conn.execute("SELECT serial_number, id FROM equipment").fetchall()
    return {serial: int(i) for serial, i in rows}


def write_health(
    conn: psycopg.Connection[Any],
    machine: int,
    ratios: list[float],
    *,
    end: datetime,
    mode: str = "bearing_wear",
    sensor: bool = False,
    top: str = "pump_vibration",
) -> None:
    """Health rows every 20 minutes up to ``end``: the statistic at ``ratio`` x the alarm."""
    start = end - STEP * (len(ratios) - 1)
    for k, ratio in enumerate(ratios):
        anomalous = ratio >= 1
        conn.execute(
            "INSERT INTO health (time, equipment_id, score, statistic, anomalous, contributions,"
            " explanation, mode, mode_probability, sensor_fault, sensor_probability, rul_hours,"
            " family, model_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " 'concrete_pump', 1)",
            (
                start + STEP * k,
                machine,
                100 / (1 + ratio**2),
                ratio * ALARM,
                anomalous,
                Jsonb({top: 0.8, "coolant_temp": 0.2}),
                f"{top.replace('_', ' ')} 80 %",
                mode if anomalous else None,
                0.7 if anomalous else None,
                sensor and anomalous,
                (0.9 if sensor else 0.1) if anomalous else None,
                400.0 if anomalous else None,
            ),
        )


def rows(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query.encode()).fetchall()


def open_an_alert(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machine: int, at: datetime
) -> ModelAlertJob:
    """Health with an hour and more of anomaly up to ``at``, and the job run on it (the
    machine's alert opens)."""
    write_health(conn, machine, [0.2] * 3 + [2.5] * 4, end=at)
    job = ModelAlertJob(pool)
    job.run(at, [machine])
    return job


def test_a_persistent_anomaly_opens_an_alert_and_a_routed_work_order_once(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machines: dict[str, int]
) -> None:
    cp = machines["CP-0001"]
    write_health(conn, cp, [0.2] * 6 + [1.8] * 2, end=NOW)  # 20 minutes of anomaly
    job = ModelAlertJob(pool)
    job(RunReport(at=NOW, anomalous_machines=[cp]))
    assert rows(conn, "SELECT count(*) FROM alerts") == [(0,)]  # not persistent yet

    later = NOW + 2 * STEP
    write_health(conn, cp, [1.8, 1.9], end=later)  # now an hour of anomaly
    job(RunReport(at=later, anomalous_machines=[cp]))
    job(RunReport(at=later, anomalous_machines=[cp]))  # a second run opens nothing new
    (alert,) = rows(
        conn,
        "SELECT equipment_id, rule, cause, grade, status, channel_id, message, details,"
        " reading_time FROM alerts",
    )
    assert alert[:6] == (cp, "model", "machine", "major", "open", None)
    assert alert[6].startswith("model: bearing wear likely, bearing")
    assert "P-BRG-6318" in alert[6]  # the part a technician brings
    assert alert[7]["parts"] == ["P-BRG-6318"]
    assert alert[7]["mode"] == "bearing_wear"
    assert alert[7]["explanation"] == "pump vibration 80 %"
    assert alert[8] == later
    (order,) = rows(conn, "SELECT grade, status, station_id, fault_description FROM work_orders")
    assert order[0] == "major"
    assert order[1] == "assigned"
    assert order[2] is not None
    assert order[3] == alert[6]
    events = [r[0] for r in rows(conn, "SELECT event_type FROM outbox ORDER BY id")]
    assert events == ["alert.opened", "work_order.created"]
    assert job.opened == 1


def test_a_sensor_fault_opens_a_minor_sensor_check_for_that_sensor(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machines: dict[str, int]
) -> None:
    cp = machines["CP-0002"]
    write_health(
        conn,
        cp,
        [0.2] * 3 + [6.0] * 5,
        end=NOW,
        mode="sensor_stuck",
        sensor=True,
        top="coolant_temp",
    )
    ModelAlertJob(pool).run(NOW, [cp])
    (alert,) = rows(
        conn,
        "SELECT a.cause, a.grade, c.code, a.message FROM alerts a"
        " JOIN channels c ON c.id = a.channel_id",
    )
    assert alert[:3] == ("sensor", "minor", "coolant_temp")
    assert alert[3].startswith("sensor check: coolant temp sensor looks stuck")
    (grade,) = rows(conn, "SELECT grade FROM work_orders")
    assert grade == ("minor",)  # remote diagnosis first, or a booked visit: no repair call-out


def test_an_alert_closes_after_six_hours_of_health(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machines: dict[str, int]
) -> None:
    cp = machines["CP-0001"]
    job = open_an_alert(conn, pool, cp, NOW)
    repaired = NOW + timedelta(days=2)
    write_health(conn, cp, [0.3] * 18, end=repaired)  # 5 h 40 min of health: still open
    job.run(repaired, [])
    assert rows(conn, "SELECT status FROM alerts") == [("open",)]
    write_health(conn, cp, [0.3], end=repaired + STEP)
    job.run(repaired + STEP, [])
    (status, closed_at, details) = rows(conn, "SELECT status, closed_at, details FROM alerts")[0]
    assert status == "closed"
    assert closed_at is not None
    assert "6 h" in details["closed_because"]
    events = [r[0] for r in rows(conn, "SELECT event_type FROM outbox ORDER BY id")]
    assert events == ["alert.opened", "work_order.created", "alert.closed"]
    # the machine degrades again: a new alert may open
    write_health(conn, cp, [2.0] * 4, end=repaired + 5 * STEP)
    job.run(repaired + 5 * STEP, [cp])
    assert rows(conn, "SELECT status FROM alerts ORDER BY id") == [("closed",), ("open",)]
    assert job.opened == 2
    assert job.closed == 1


def test_a_resolved_work_order_closes_its_alert_and_a_lasting_anomaly_opens_another(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machines: dict[str, int]
) -> None:
    cp = machines["CP-0001"]
    job = open_an_alert(conn, pool, cp, NOW)
    (order,) = rows(conn, "SELECT id FROM work_orders")
    # the technician's repair, as the field-service system records it
    fixed = NOW + STEP
    conn.execute(
        "UPDATE work_orders SET status = 'resolved', resolved_at = %s WHERE id = %s",
        (fixed, order[0]),
    )
    write_health(conn, cp, [2.5], end=NOW + 2 * STEP)  # still anomalous after the repair
    job.run(NOW + 2 * STEP, [cp])
    (status, details) = rows(conn, "SELECT status, details FROM alerts")[0]
    assert status == "closed"
    assert details["closed_because"] == "repaired: a work order of the machine was resolved"
    assert details["cleared_at"] == fixed.isoformat()
    assert job.opened == 1  # not yet an hour of anomaly since the repair
    write_health(conn, cp, [2.5] * 3, end=NOW + 5 * STEP)
    job.run(NOW + 5 * STEP, [cp])
    assert rows(conn, "SELECT status FROM alerts ORDER BY id") == [("closed",), ("open",)]
    assert rows(conn, "SELECT count(*) FROM work_orders") == [(2,)]
    events = [r[0] for r in rows(conn, "SELECT event_type FROM outbox ORDER BY id")]
    assert events == [
        "alert.opened",
        "work_order.created",
        "alert.closed",
        "alert.opened",
        "work_order.created",
    ]


def test_a_repair_made_while_the_job_was_not_running_still_closes_the_alert(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machines: dict[str, int]
) -> None:
    cp = machines["CP-0001"]
    opened = NOW - timedelta(days=3)
    job = open_an_alert(conn, pool, cp, opened)
    conn.execute(
        "UPDATE work_orders SET status = 'closed', resolved_at = %s, closed_at = %s",
        (opened + timedelta(days=1), opened + timedelta(days=1)),
    )
    # two days later (beyond the 24 h of health the rule reads) the machine runs again
    write_health(conn, cp, [0.3], end=NOW)
    job.run(NOW, [])
    (status, details) = rows(conn, "SELECT status, details FROM alerts")[0]
    assert status == "closed"
    assert details["closed_because"].startswith("repaired")


def test_a_leak_beside_an_open_wear_alert_is_an_alert_of_its_own(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machines: dict[str, int]
) -> None:
    cp = machines["CP-0001"]
    write_health(conn, cp, [1.8] * 4, end=NOW)
    job = ModelAlertJob(pool)
    job.run(NOW, [cp])
    leak = NOW + 2 * STEP
    write_health(conn, cp, [30.0, 30.0], end=leak, mode="seal_hose_leak", top="hydraulic_pressure")
    job.run(leak, [cp])
    found = rows(conn, "SELECT cause, grade FROM alerts ORDER BY id")
    assert found == [("machine", "major"), ("seal_hose_leak", "critical")]
    (sla,) = rows(
        conn,
        "SELECT w.sla_due_at - w.created_at FROM work_orders w JOIN alerts a ON a.id = w.alert_id"
        " WHERE a.cause = 'seal_hose_leak'",
    )
    assert sla[0] <= timedelta(hours=2)  # critical: a technician on site within 2 h


def test_the_scheduled_scoring_job_runs_the_model_alerts(pool: ConnectionPool) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from prognos import health_jobs
    from prognos.settings import Settings

    scheduler = BackgroundScheduler(timezone="UTC")
    job = health_jobs.schedule(scheduler, pool, Settings())
    assert job is not None
    assert [type(listener) for listener in job.listeners] == [ModelAlertJob]
    assert scheduler.get_job("health_scoring") is not None
    off = health_jobs.schedule(
        BackgroundScheduler(timezone="UTC"), pool, Settings(models={"alerts_enabled": False})
    )
    assert off is not None
    assert off.listeners == []


def test_a_sudden_step_elsewhere_opens_a_critical_alert_and_work_order_beside_the_open_one(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machines: dict[str, int]
) -> None:
    """A bearing alert is open; hours later the pressure collapses (the classifier still
    names the bearing): a critical alert of its own cause opens with its own work order."""
    cp = machines["CP-0001"]
    job = open_an_alert(conn, pool, cp, NOW)
    write_health(conn, cp, [2.5] * 6, end=NOW + 6 * STEP)
    write_health(conn, cp, [20.0] * 2, end=NOW + 8 * STEP, top="hydraulic_pressure")
    job.run(NOW + 8 * STEP, [cp])
    job.run(NOW + 8 * STEP, [cp])  # once
    alerts = rows(conn, "SELECT cause, grade, status, message FROM alerts ORDER BY id")
    assert [a[:3] for a in alerts] == [("machine", "major", "open"), ("sudden", "critical", "open")]
    assert alerts[1][3].startswith("model: sudden deterioration on top of an open machine alert")
    orders = rows(conn, "SELECT grade FROM work_orders ORDER BY id")
    assert orders == [("major",), ("critical",)]


def test_a_new_leak_on_a_machine_that_outlived_its_leak_alert_opens_a_new_one(
    conn: psycopg.Connection[Any], pool: ConnectionPool, machines: dict[str, int]
) -> None:
    """A worn pump's worst hour read as a leak; the machine ran on for five days (a burst
    hose stops it within hours); then a hose does burst: the stale leak alert is closed
    as superseded and the new leak gets its own alert and its own critical work order."""
    cp = machines["CP-0001"]
    pump = {"mode": "hydraulic_pump_wear", "top": "hydraulic_pressure"}
    leak = {"mode": "seal_hose_leak", "top": "hydraulic_pressure"}
    misread = NOW - timedelta(days=5)
    write_health(conn, cp, [20.0] * 4, end=misread - 3 * STEP, **pump)
    job = ModelAlertJob(pool)
    job.run(misread - 3 * STEP, [cp])
    write_health(conn, cp, [20.0] * 3, end=misread, **leak)
    job.run(misread, [cp])
    assert rows(conn, "SELECT cause, status FROM alerts ORDER BY id") == [
        ("machine", "open"),
        ("seal_hose_leak", "open"),
    ]
    write_health(conn, cp, [20.0] * 9, end=NOW - 3 * STEP, **pump)
    job.run(NOW - 3 * STEP, [cp])
    assert job.opened == 2  # the pump reads as wear again: the open alerts cover it
    write_health(conn, cp, [20.0] * 3, end=NOW, **leak)
    job.run(NOW, [cp])
    job.run(NOW, [cp])  # once
    found = rows(conn, "SELECT cause, status, details->>'closed_because' FROM alerts ORDER BY id")
    assert [f[:2] for f in found] == [
        ("machine", "open"),
        ("seal_hose_leak", "closed"),
        ("seal_hose_leak", "open"),
    ]
    assert found[2][2] is None
    (supersedes,) = rows(
        conn,
        "SELECT details->>'supersedes' FROM alerts WHERE status = 'open'"
        " AND cause = 'seal_hose_leak'",
    )
    assert supersedes[0] == misread.isoformat()
    assert found[1][2].startswith("superseded: the machine ran on for over 96 h")
    grades = rows(conn, "SELECT grade FROM work_orders ORDER BY id")
    assert grades == [("major",), ("critical",), ("critical",)]
    events = [r[0] for r in rows(conn, "SELECT event_type FROM outbox ORDER BY id")]
    assert events[-3:] == ["alert.closed", "alert.opened", "work_order.created"]
    assert (job.opened, job.closed) == (3, 1)

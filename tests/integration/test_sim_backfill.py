"""Backfill through the ingest writer, the fault truth table, and seeding a generated
fleet's service network, against the real database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from device_sim.backfill import backfill_db, window
from device_sim.errors import BackfillError
from device_sim.faults import FaultPlan
from device_sim.fleet import Fleet, load_fleet, parse_fleet
from device_sim.physics import FleetPhysics
from device_sim.truth import write_db
from prognos import cli
from prognos.seed import seed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
END = datetime(2026, 11, 20, tzinfo=UTC)  # a Friday: two working days before it


def small_fleet() -> Fleet:
    data: dict[str, Any] = {
        "seed": 11,
        "simulation": {"schedule": "shifts"},
        "fault_rates": {"defaults": True, "scale": 20},  # plenty of faults in two days
        "fleet": [
            {"family": family, "count": 3, "regions": ["Hubei"]}
            for family in ("concrete_pump", "truck_crane", "excavator", "air_compressor")
        ],
        "network": {"tier2": 1, "tier3": 1},
    }
    return parse_fleet(data, "<test>")


def one(conn: psycopg.Connection[Any], query: str, *params: object) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    assert row is not None
    return row[0]


def test_backfill_writes_exactly_what_the_physics_produces(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    fleet = small_fleet()
    with pytest.raises(BackfillError, match="prognos seed"):
        backfill_db(fleet, database_url, days=1, interval_s=600, end=END)
    seed(conn, fleet)
    progress: list[float] = []
    result = backfill_db(
        fleet,
        database_url,
        days=2,
        interval_s=600,
        end=END,
        batch_rows=5000,
        progress=lambda f, _r, _s: progress.append(f),
    )
    assert progress[-1] == 1.0
    # what the same physics says, computed again here
    start, steps = window(2, 600, END)
    physics = FleetPhysics(fleet, start)
    expected: dict[tuple[str, str, datetime], float] = {}
    for i in range(steps + 1):
        at = start + timedelta(seconds=600 * i)
        for g in physics.step(at):
            for serial, sample in g.samples(at):
                for code, value in sample.values.items():
                    expected[(serial, code, at)] = value
    assert result.rows == len(expected) > 5_000
    got = conn.execute(
        """SELECT e.serial_number, c.code, r.time, r.value FROM readings r
           JOIN equipment e ON e.id = r.equipment_id JOIN channels c ON c.id = r.channel_id"""
    ).fetchall()
    assert {(s, c, t): v for s, c, t, v in got} == expected
    assert one(conn, "SELECT max(time) FROM readings") <= END
    # a machine at night sends nothing; the shift pattern shows in the hours stored
    hours = {
        int(h)
        for (h,) in conn.execute(
            "SELECT DISTINCT extract(hour FROM time AT TIME ZONE 'Asia/Shanghai') FROM readings "
            "JOIN channels c ON c.id = channel_id WHERE c.code = 'engine_speed'"
        ).fetchall()
    }
    assert {1, 2, 3} & hours == set()
    assert {9, 10, 11} <= hours
    # running it again stores nothing twice
    again = backfill_db(fleet, database_url, days=2, interval_s=600, end=END)
    assert again.rows == 0
    assert one(conn, "SELECT count(*) FROM readings") == len(expected)
    # and its truth goes to the table, once, linked to the machines
    assert result.faults
    assert write_db(conn, result.faults, fleet.seed) == len(result.faults)
    write_db(conn, result.faults, fleet.seed)
    assert one(conn, "SELECT count(*) FROM sim_fault_truth") == len(result.faults)
    assert one(conn, "SELECT count(*) FROM sim_fault_truth WHERE equipment_id IS NULL") == 0
    plan = FaultPlan(fleet, start).overlapping(start.timestamp(), END.timestamp())
    assert {e.fault_id for e in plan} == {
        r[0] for r in conn.execute("SELECT fault_id FROM sim_fault_truth").fetchall()
    }
    sensors = one(conn, "SELECT count(*) FROM sim_fault_truth WHERE is_sensor_fault")
    assert sensors == sum(e.sensor for e in result.faults)


def test_seeding_a_generated_fleet_and_network_is_idempotent(
    conn: psycopg.Connection[Any],
) -> None:
    fleet = load_fleet(EXAMPLES / "fleet-1000.toml")
    tables = ["equipment", "customers", "service_stations", "technicians", "parts", "stock"]

    def counts() -> dict[str, int]:
        return {t: one(conn, f"SELECT count(*) FROM {t}") for t in tables}

    seed(conn, fleet)
    first = counts()
    assert first == {
        "equipment": 1000,
        "customers": len(fleet.customers),
        "service_stations": len(fleet.stations),
        "technicians": len(fleet.technicians),
        "parts": len(fleet.parts),
        "stock": len(fleet.stock),
    }
    seed(conn, fleet)
    assert counts() == first
    assert one(conn, "SELECT count(*) FROM service_stations WHERE tier = 1") == 7
    assert one(conn, "SELECT min(reorder_point - safety_stock) FROM stock") > 0


@pytest.fixture
def demo_seeded(cli_env: Path) -> Path:
    """The demo fleet seeded through ``prognos seed``; its fleet file."""
    fleet_file = EXAMPLES / "demo-fleet.toml"
    assert cli.main(["seed", "--fleet", str(fleet_file)]) == 0
    return fleet_file


def test_prognos_sim_backfill_command(
    conn: psycopg.Connection[Any], tmp_path: Path, demo_seeded: Path
) -> None:
    fleet = dataclasses.replace(load_fleet(EXAMPLES / "demo-fleet.toml"))
    fleet_file = demo_seeded
    truth = tmp_path / "truth.csv"
    args = ["sim", "--fleet", str(fleet_file), "--backfill", "0.25", "--interval", "300"]
    assert cli.main([*args, "--truth", str(truth)]) == 0
    steps = int(0.25 * 86400 // 300) + 1
    channels = sum(len(fleet.model_of(m).channels) for m in fleet.machines)
    assert one(conn, "SELECT count(*) FROM readings") == steps * channels
    assert truth.read_text().startswith("fault_id,serial_number")
    assert one(conn, "SELECT count(*) FROM sim_fault_truth WHERE mode = 'excursion'") == 1
    assert np.isclose(
        one(
            conn,
            "SELECT max(value) FROM readings r JOIN channels c ON c.id = r.channel_id "
            "JOIN equipment e ON e.id = r.equipment_id "
            "WHERE e.serial_number = 'CP-0002' AND c.code = 'coolant_temp'",
        ),
        112.0,
    )


def test_prognos_train_learns_from_a_backfill_without_a_running_platform(
    conn: psycopg.Connection[Any],
    tmp_path: Path,
    demo_seeded: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The backfill writes raw readings and queues their minutes; no rollup job runs, so
    # `prognos train` (which reads the minute rollups) brings them up to date itself.
    fleet_file = demo_seeded
    args = ["sim", "--fleet", str(fleet_file), "--backfill", "1", "--interval", "60"]
    assert cli.main([*args, "--truth", str(tmp_path / "truth.csv")]) == 0
    assert one(conn, "SELECT count(*) FROM readings_1m") == 0
    capsys.readouterr()
    assert cli.main(["train", "--days", "1"]) == 0
    out, err = capsys.readouterr()
    assert "brought the rollups up to date: 1,44" in err  # a day of minutes
    # one reading a minute: the models learn everything but a sensor's noise, and say so
    assert "1 reading a bucket in the history: the model cannot learn a sensor's noise" in err
    assert one(conn, "SELECT count(*) FROM rollup_dirty") == 0
    trained = sorted(line.split(":")[0] for line in out.splitlines() if "active" in line)
    assert trained == ["air_compressor", "concrete_pump", "excavator", "truck_crane"]


def test_a_backfill_ends_where_stored_readings_begin(
    conn: psycopg.Connection[Any],
    tmp_path: Path,
    demo_seeded: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A demo ran first (the last hour of readings); a backfill of the day before must not
    # interleave a second simulated history with it.
    fleet_file = demo_seeded
    truth = ["--truth", str(tmp_path / "truth.csv")]
    recent = ["sim", "--fleet", str(fleet_file), "--backfill", str(1 / 24), "--interval", "60"]
    assert cli.main([*recent, *truth]) == 0
    first, last, live = conn.execute(
        "SELECT min(time), max(time), count(*) FROM readings"
    ).fetchone()
    capsys.readouterr()
    day = ["sim", "--fleet", str(fleet_file), "--backfill", "1", "--interval", "300", *truth]
    assert cli.main(day) == 0
    assert (
        "ends where the readings already stored for these machines begin" in capsys.readouterr().out
    )
    assert one(conn, f"SELECT count(*) FROM readings WHERE time >= '{first.isoformat()}'") == live
    older = one(conn, f"SELECT max(time) FROM readings WHERE time < '{first.isoformat()}'")
    assert first - timedelta(seconds=300) <= older < first
    assert one(conn, "SELECT max(time) FROM readings") == last

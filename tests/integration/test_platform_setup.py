"""Migrations, the TimescaleDB edition, seeding and the local services, for real."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest

from device_sim.fleet import load_fleet
from prognos import migrations, timescale
from prognos.errors import MigrationError
from prognos.localservices import LocalServices
from prognos.seed import seed

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"


def test_migrate_is_idempotent_and_recorded(conn: psycopg.Connection[Any]) -> None:
    assert migrations.migrate(conn) == []  # the fixture applied everything already
    recorded = conn.execute(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    ).fetchall()
    assert [(v, n, c) for v, n, c in recorded] == [
        (m.version, m.name, m.checksum) for m in migrations.available()
    ]
    hypertables = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables"
    ).fetchall()
    assert ("readings",) in hypertables


def test_an_edited_migration_is_refused(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = migrations.available()
    edited = [
        dataclasses.replace(original[0], sql=original[0].sql + "\n-- edited\n"),
        *original[1:],
    ]
    monkeypatch.setattr(migrations, "available", lambda: edited)
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        migrations.migrate(conn)


def test_the_timescaledb_edition_is_detected(conn: psycopg.Connection[Any]) -> None:
    edition = timescale.detect(conn)
    license_name = conn.execute("SHOW timescaledb.license").fetchone()
    assert license_name is not None
    assert edition.license == license_name[0]
    assert edition.compression == (license_name[0] == "timescale")
    assert edition.version.count(".") == 2


def test_seeding_twice_changes_nothing(conn: psycopg.Connection[Any]) -> None:
    fleet = load_fleet(DEMO_FLEET)
    tables = [
        "equipment_models",
        "channels",
        "customers",
        "equipment",
        "service_stations",
        "technicians",
        "parts",
        "stock_locations",
        "stock",
    ]

    def counts() -> dict[str, int]:
        return {t: conn.execute(f"SELECT count(*) FROM {t}".encode()).fetchone()[0] for t in tables}  # type: ignore[index]

    seed(conn, fleet)
    first = counts()
    assert first["equipment"] == len(fleet.machines) == 8
    assert first["channels"] == sum(len(m.channels) for m in fleet.models.values())
    assert first["stock_locations"] == len(fleet.stations) + len(fleet.depots)
    seed(conn, fleet)
    assert counts() == first


def test_local_services_restart_keeps_data_and_start_is_idempotent() -> None:
    home = Path(tempfile.mkdtemp(prefix="prognos-restart-"))
    home.chmod(0o755)
    services = LocalServices(home, durable=False)
    try:
        first = services.start()
        assert services.start() == first  # already running: same URLs, nothing restarted
        with psycopg.connect(first.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        services.stop()
        assert services.running_endpoints() == {}
        again = services.start()
        with psycopg.connect(again.database_url) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
            assert conn.execute("SHOW shared_preload_libraries").fetchone() == ("timescaledb",)
    finally:
        services.stop()
        shutil.rmtree(home, ignore_errors=True)

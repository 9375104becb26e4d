"""The demo's health models (prognos/demo_models.py) against the real database: the first
demo writes a day of history sampled as the live telemetry is (a reading a second) and
trains one model per family on it; the scoring job then scores the demo's live hour (a reading a second) with those
models; a second demo trains nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from device_sim.backfill import backfill_db
from device_sim.fleet import load_fleet
from models import registry
from models.scoring import ScoringJob
from prognos import demo_models, health_jobs
from prognos.settings import Settings

FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"
FAMILIES = ["air_compressor", "concrete_pump", "excavator", "truck_crane"]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_demo_trains_its_models_once_and_they_score_the_live_telemetry(
    conn: psycopg.Connection[Any], pool: ConnectionPool, database_url: str, cli_env: Path
) -> None:
    fleet = load_fleet(FLEET)
    said: list[str] = []
    # a fixed instant: the simulated fleet's shifts, loads and temperatures depend on the
    # time of day, and the ranking below must not depend on when the test runs
    now = NOW
    demo_models.prepare(database_url, fleet, Settings(), say=said.append, end=now)
    registry_before = registry.active_versions(conn)
    assert sorted(registry_before) == FAMILIES
    assert "a reading every 1 s, as live" in said[0]
    for family in FAMILIES:
        (version,) = registry.versions(conn, family)
        assert version.metadata["metrics"]["readings_per_bucket"] == 60.0  # as live
        assert version.metadata["metrics"]["unlearned_features"] == []
        # trained on exactly the day of history, whenever the test runs
        assert version.metadata["requested_range"][1] == NOW.isoformat()
    # the history is the fleet's healthy past: CP-0002's scripted excursion (its coolant
    # out of its valid range 45 s in) is the live demo's, not learnt as its normal
    hottest = conn.execute(
        "SELECT max(r.value), max(c.valid_max) FROM readings r"
        " JOIN equipment e ON e.id = r.equipment_id JOIN channels c ON c.id = r.channel_id"
        " WHERE e.serial_number = 'CP-0002' AND c.code = 'coolant_temp' AND r.time <= %s",
        (now,),
    ).fetchone()
    assert hottest is not None
    assert hottest[0] < hottest[1]
    # the demo then runs: an hour of live telemetry after the history, a reading a second
    live = backfill_db(
        fleet, database_url, days=1 / 24, interval_s=1.0, end=now + timedelta(hours=1)
    )
    assert live.start >= now - timedelta(seconds=5)
    with psycopg.connect(database_url, autocommit=True) as own:
        health_jobs.catch_up_rollups(own, said.append)
    report = ScoringJob(pool, health_jobs.scoring_settings(Settings())).run_once(
        now + timedelta(hours=1)
    )
    assert report.skipped == {}
    assert report.scored == len(fleet.machines)
    # CP-0002's scripted coolant excursion (45 s into the demo) makes it the least
    # healthy; the others are mostly healthy (two machines per family: loose models, and
    # the restarted simulation's temperatures settle through the hour)
    ranked = conn.execute(
        "SELECT e.serial_number, h.score FROM health h JOIN equipment e ON e.id = h.equipment_id"
        " ORDER BY h.score"
    ).fetchall()
    assert ranked[0][0] == "CP-0002"
    assert ranked[0][1] < 50
    assert float(np.median([score for _, score in ranked[1:]])) > 50
    # a second demo finds every family's model active: no history, no training
    readings = conn.execute("SELECT count(*) FROM readings").fetchone()
    assert demo_models.prepare(database_url, fleet, Settings(), say=said.append) == []
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == readings
    assert registry.active_versions(conn) == registry_before

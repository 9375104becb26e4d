"""A live simulation, one MQTT identity per machine, through the real ingest into the
database; and the platform starting its own simulator."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from device_sim.devices import DeviceConfig
from device_sim.fleet import load_fleet
from device_sim.runner import SimConfig
from device_sim.session import Simulation
from device_sim.truth import TruthDb
from prognos.endpoints import Resolved
from prognos.runner import Platform
from prognos.settings import ApiSettings, IngestSettings, MqttAddress, Settings, SimSettings
from tests.waiting import wait_for

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"


def settings(
    database_url: str, mqtt: MqttAddress, prefix: str, home: Path, speed: float
) -> Settings:
    return Settings(
        home=home,
        database_url=database_url,
        mqtt_url=f"mqtt://{mqtt.host}:{mqtt.port}",
        topic_prefix=prefix,
        ingest=IngestSettings(
            client_id=f"ingest-{uuid.uuid4().hex[:8]}",
            share_group=f"g{uuid.uuid4().hex[:8]}",
            batch_size=500,
            batch_age_ms=100,
        ),
        api=ApiSettings(port=0),
        sim=SimSettings(speed=speed, interval_s=1.0, samples_per_message=5),
    )


@pytest.fixture
def ingest(
    database_url: str, mqtt: MqttAddress, topic_prefix: str, tmp_path: Path
) -> Iterator[Platform]:
    s = settings(database_url, mqtt, topic_prefix, tmp_path, 1.0)
    p = Platform(
        s,
        Resolved(database_url, mqtt, s.mqtt_url or ""),
        seed_fleet=load_fleet(DEMO_FLEET),
        with_api=False,
    )
    p.start()
    yield p
    p.stop()


def count(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return int(row[0])


def test_every_sample_of_an_accelerated_run_is_stored_once(
    ingest: Platform,
    conn: psycopg.Connection[Any],
    database_url: str,
    mqtt: MqttAddress,
    topic_prefix: str,
) -> None:
    fleet = load_fleet(DEMO_FLEET)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    sim = Simulation.create(
        fleet,
        mqtt.host,
        mqtt.port,
        SimConfig(interval_s=2.0, samples_per_message=5, speed=200.0, duration_s=1200),
        DeviceConfig(prefix=topic_prefix, client_id_prefix=f"live-{uuid.uuid4().hex[:6]}-"),
        start=start,
        truth=[TruthDb(database_url, fleet.seed)],
    )
    sim.start_thread(10)
    sim.wait()
    sim.stop()
    assert sim.runner.samples == len(fleet.machines) * (1200 // 2 + 1)
    per_machine = {m.serial: len(fleet.model_of(m).channels) for m in fleet.machines}
    readings = sum(per_machine.values()) * (1200 // 2 + 1)
    wait_for(lambda: count(conn, "SELECT count(*) FROM readings") >= readings, 30, "all readings")
    time.sleep(0.3)
    assert count(conn, "SELECT count(*) FROM readings") == readings
    assert count(conn, "SELECT count(*) FROM dead_letters") == 0
    assert count(conn, "SELECT count(*) FROM alerts") == 1  # the demo's coolant excursion
    assert count(conn, "SELECT count(*) FROM sim_fault_truth WHERE mode = 'excursion'") == 1
    assert sim.devices.stats()["connected"] == 0  # stopped: every machine disconnected


def test_the_platform_runs_its_simulator_with_one_identity_per_machine(
    database_url: str,
    mqtt: MqttAddress,
    topic_prefix: str,
    tmp_path: Path,
    conn: psycopg.Connection[Any],
) -> None:
    s = settings(database_url, mqtt, topic_prefix, tmp_path, 5.0)
    fleet = load_fleet(DEMO_FLEET)
    platform = Platform(
        s,
        Resolved(database_url, mqtt, s.mqtt_url or ""),
        fleet=fleet,
        seed_fleet=fleet,
        with_api=False,
    )
    platform.start()
    try:
        wait_for(
            lambda: count(conn, "SELECT count(DISTINCT equipment_id) FROM readings") == 8,
            30,
            "readings of all eight machines",
        )
        assert count(conn, "SELECT count(*) FROM sim_fault_truth") == 1
    finally:
        platform.stop()

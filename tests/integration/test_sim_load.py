"""Load mode: a fleet's machines from few processes at a target rate, stored by ingest.

``prognos sim --load`` publishes synthetic readings of the demo fleet's machines (each
with its own model's channels, values inside the valid ranges) and reports the rate it
achieved; an ingest worker stores every one of them, and none is quarantined.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from device_sim.fleet import load_fleet
from device_sim.load import FleetLoadPlan
from ingest.worker import IngestWorker, WorkerConfig
from prognos.cli import main
from prognos.seed import seed
from prognos.settings import MqttAddress
from tests.waiting import wait_for

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"


@pytest.fixture
def worker(
    conn: psycopg.Connection[Any], database_url: str, mqtt: MqttAddress, topic_prefix: str
) -> Iterator[IngestWorker]:
    seed(conn, load_fleet(DEMO_FLEET))
    w = IngestWorker(
        WorkerConfig(
            database_url=database_url,
            mqtt_host=mqtt.host,
            mqtt_port=mqtt.port,
            topic_prefix=topic_prefix,
            client_id=f"ingest-{uuid.uuid4().hex[:8]}",
            share_group=f"g{uuid.uuid4().hex[:8]}",
            batch_age_s=0.05,
        )
    )
    w.start()
    assert w.wait_connected(10)
    time.sleep(0.2)
    yield w
    w.stop()


def test_the_plan_covers_every_machine_with_its_own_channels_within_range() -> None:
    fleet = load_fleet(DEMO_FLEET)
    plan = FleetLoadPlan.for_fleet(fleet, readings_per_s=1000, duration_s=3, samples_per_message=2)
    assert plan.serials == tuple(m.serial for m in fleet.machines)
    assert plan.readings >= 3000
    for k, machine in enumerate(fleet.machines):
        codes = [c.code for c in fleet.model_of(machine).channels]
        assert [c[0] for c in plan.channels[k]] == codes
        assert plan.readings_of(k) == 2 * len(codes)


def test_load_mode_reaches_its_rate_and_every_reading_is_stored(
    conn: psycopg.Connection[Any],
    worker: IngestWorker,
    mqtt: MqttAddress,
    database_url: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PROGNOS_HOME", str(tmp_path))
    monkeypatch.setenv("PROGNOS_DATABASE_URL", database_url)
    monkeypatch.setenv("PROGNOS_MQTT_URL", f"mqtt://{mqtt.host}:{mqtt.port}")
    monkeypatch.setenv("PROGNOS_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("PROGNOS_SIM__SAMPLES_PER_MESSAGE", "2")
    code = main(
        ["sim", "--fleet", str(DEMO_FLEET), "--load", "2000", "--duration", "3", "--processes", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "achieved" in out
    expected = FleetLoadPlan.for_fleet(
        load_fleet(DEMO_FLEET), readings_per_s=2000, duration_s=3, samples_per_message=2
    ).readings

    def stored() -> int:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])  # type: ignore[index]

    try:
        wait_for(lambda: stored() == expected, 20, f"{expected} readings stored")
    except AssertionError:
        print(
            stored(),
            conn.execute(
                "SELECT reason, count(*), min(detail) FROM dead_letters GROUP BY 1"
            ).fetchall(),
            worker.stats.snapshot(),
            out,
        )
        raise
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
    achieved = float(out.split("achieved ")[1].split(" readings/s")[0].replace(",", ""))
    assert achieved > 1500  # a loaded 2-core machine still keeps close to 2,000 a second

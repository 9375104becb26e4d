"""Ingest against the real broker and database: quarantine, duplicates, persistent sessions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from device_sim.fleet import load_fleet
from device_sim.publisher import Publisher
from ingest.worker import IngestWorker, WorkerConfig
from prognos.seed import seed
from prognos.settings import MqttAddress
from tests.waiting import wait_for

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"


def count(conn: psycopg.Connection[Any], table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()[0])  # type: ignore[index]


@pytest.fixture
def seeded(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    seed(conn, load_fleet(DEMO_FLEET))
    return conn


@pytest.fixture
def make_worker(
    database_url: str, mqtt: MqttAddress, topic_prefix: str
) -> Iterator[Callable[..., IngestWorker]]:
    workers: list[IngestWorker] = []
    group = f"g{uuid.uuid4().hex[:8]}"

    def make(client_id: str | None = None) -> IngestWorker:
        worker = IngestWorker(
            WorkerConfig(
                database_url=database_url,
                mqtt_host=mqtt.host,
                mqtt_port=mqtt.port,
                topic_prefix=topic_prefix,
                client_id=client_id or f"ingest-{uuid.uuid4().hex[:8]}",
                share_group=group,
                batch_size=200,
                batch_age_s=0.05,
            )
        )
        worker.start()
        assert worker.wait_connected(10), "ingest worker did not connect"
        time.sleep(0.2)  # let the SUBACK arrive before anything is published
        workers.append(worker)
        return worker

    yield make
    for w in workers:
        w.stop()


@pytest.fixture
def publisher(mqtt: MqttAddress, topic_prefix: str) -> Iterator[Publisher]:
    p = Publisher(
        mqtt.host, mqtt.port, client_id=f"pub-{uuid.uuid4().hex[:8]}", prefix=topic_prefix
    )
    p.start()
    yield p
    p.stop()


def message(device: str, t: datetime, values: dict[str, Any], **extra: Any) -> bytes:
    body = {"v": 1, "device": device, "samples": [{"t": t.isoformat(), "values": values}], **extra}
    return json.dumps(body).encode()


def test_bad_input_is_quarantined_and_good_data_flows(
    seeded: psycopg.Connection[Any],
    make_worker: Callable[..., IngestWorker],
    publisher: Publisher,
    topic_prefix: str,
) -> None:
    worker = make_worker()
    now = datetime.now(UTC).replace(microsecond=0)
    topic = f"{topic_prefix}/CP-0001/telemetry"
    good = [
        message("CP-0001", now - timedelta(seconds=i), {"coolant_temp": 80.0 + i})
        for i in range(20)
    ]
    bad: dict[str, tuple[str, bytes]] = {
        "malformed_json": (topic, b"{not json"),
        "bad_schema": (topic, json.dumps({"v": 1, "samples": "many"}).encode()),
        "unsupported_version": (topic, json.dumps({"v": 7, "samples": []}).encode()),
        "unknown_equipment": (
            f"{topic_prefix}/XX-9999/telemetry",
            message("XX-9999", now, {"coolant_temp": 1.0}),
        ),
        "topic_mismatch": (topic, message("CP-0002", now, {"coolant_temp": 80.0})),
        "unknown_channel": (
            topic,
            message("CP-0001", now - timedelta(minutes=1), {"warp_core": 1.0}),
        ),
        "not_finite": (
            topic,
            b'{"v":1,"samples":[{"t":"%s","values":{"coolant_temp":NaN}}]}'
            % now.isoformat().encode(),
        ),
        "out_of_physical_range": (
            topic,
            message("CP-0001", now - timedelta(minutes=2), {"coolant_temp": 900.0}),
        ),
        "timestamp_future": (
            topic,
            message("CP-0001", now + timedelta(days=1), {"coolant_temp": 80.0}),
        ),
        "timestamp_past": (
            topic,
            message("CP-0001", now - timedelta(days=400), {"coolant_temp": 80.0}),
        ),
        "oversized": (topic, b" " * (256 * 1024 + 1)),
    }
    for i, payload in enumerate(good):
        publisher.publish_raw(topic, payload)
        if i < len(bad):
            bad_topic, bad_payload = list(bad.values())[i]
            publisher.publish_raw(bad_topic, bad_payload)

    wait_for(
        lambda: count(seeded, "dead_letters") == len(bad) and count(seeded, "readings") == 20,
        15,
        "every good reading stored and every bad message quarantined",
    )
    letters = seeded.execute("SELECT reason, topic, payload, detail FROM dead_letters").fetchall()
    assert sorted(r[0] for r in letters) == sorted(bad)
    by_reason = {r[0]: r for r in letters}
    for reason, (bad_topic, bad_payload) in bad.items():
        assert by_reason[reason][1] == bad_topic
        assert bytes(by_reason[reason][2]) == bad_payload  # the raw bytes, as received
        assert by_reason[reason][3]  # a human-readable detail
    values = sorted(r[0] for r in seeded.execute("SELECT value FROM readings").fetchall())
    assert values == [80.0 + i for i in range(20)]
    assert dict(worker.stats.quarantined) == dict.fromkeys(bad, 1)


def test_a_redelivered_message_is_stored_once(
    seeded: psycopg.Connection[Any],
    make_worker: Callable[..., IngestWorker],
    publisher: Publisher,
    topic_prefix: str,
) -> None:
    worker = make_worker()
    now = datetime.now(UTC).replace(microsecond=0)
    payload = message("CP-0001", now, {"coolant_temp": 81.5, "engine_speed": 1500})
    for _ in range(3):  # a publisher retry sends the same readings again, without DUP
        publisher.publish_raw(f"{topic_prefix}/CP-0001/telemetry", payload)
    wait_for(lambda: worker.stats.received == 3, 10, "three messages received")
    wait_for(lambda: worker.stats.duplicates == 4, 10, "the copies counted as duplicates")
    assert count(seeded, "readings") == 2
    assert worker.stats.stored == 2


def test_messages_published_while_the_worker_is_down_arrive_after_restart(
    seeded: psycopg.Connection[Any],
    make_worker: Callable[..., IngestWorker],
    publisher: Publisher,
    topic_prefix: str,
) -> None:
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"
    first = make_worker(client_id)
    first.stop()  # the session stays on the broker (clean_start=False, session expiry)
    now = datetime.now(UTC).replace(microsecond=0)
    infos = [
        publisher.publish_raw(
            f"{topic_prefix}/EX-0001/telemetry",
            message("EX-0001", now - timedelta(seconds=i), {"fuel_rate": float(i)}),
        )
        for i in range(50)
    ]
    for info in infos:
        info.wait_for_publish(5)
    second = make_worker(client_id)
    wait_for(lambda: count(seeded, "readings") == 50, 15, "the 50 queued readings")
    assert second.stats.stored == 50
    assert sorted(r[0] for r in seeded.execute("SELECT value FROM readings").fetchall()) == [
        float(i) for i in range(50)
    ]


def test_the_writer_stores_each_reading_once_across_overlapping_batches(
    seeded: psycopg.Connection[Any], database_url: str
) -> None:
    from ingest.batch import Reading
    from ingest.catalog import load_catalog
    from ingest.writer import BatchWriter

    machine = load_catalog(seeded).get("CP-0001")
    assert machine is not None
    ch = machine.channels["engine_speed"].id
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    first = [Reading(t0 + timedelta(seconds=i), machine.id, ch, float(i)) for i in range(100)]
    overlap = [Reading(t0 + timedelta(seconds=i), machine.id, ch, float(i)) for i in range(50, 150)]
    writer = BatchWriter(database_url)
    try:
        a = writer.write(first)
        b = writer.write(first)  # a redelivery
        c = writer.write(overlap)
    finally:
        writer.close()
    assert (a.inserted, a.slow_path) == (100, False)
    assert (b.inserted, b.duplicates, b.slow_path) == (0, 100, True)
    assert (c.inserted, c.duplicates, c.slow_path) == (50, 50, True)
    stored = seeded.execute("SELECT value FROM readings ORDER BY time").fetchall()
    assert [r[0] for r in stored] == [float(i) for i in range(150)]

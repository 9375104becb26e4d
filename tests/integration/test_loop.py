"""The whole loop over the real broker, database and an HTTP webhook receiver.

device_sim publishes a fleet over MQTT (QoS 1) -> ingest stores the readings in the
hypertable -> the threshold rule opens one alert for the out-of-range coolant reading
-> a work order is routed to the nearest qualified station -> both events go through
the outbox -> the webhook dispatcher posts them, signed, to a receiver -> the API shows
it all. Every hop is asserted.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from alerts.receiver import WebhookReceiver
from alerts.webhooks import verify
from device_sim.fleet import FaultDef, Fleet, load_fleet
from device_sim.physics import Sample
from device_sim.publisher import Publisher
from device_sim.runner import FleetRunner, SimConfig
from prognos.endpoints import Resolved
from prognos.runner import Platform
from prognos.settings import (
    ApiSettings,
    IngestSettings,
    MqttAddress,
    Settings,
    WebhookSettings,
)
from tests.waiting import wait_for

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"
SECRET = "integration-test-secret"


@pytest.fixture
def fleet() -> Fleet:
    """The demo fleet, with its coolant fault moved to 10 simulated seconds in."""
    demo = load_fleet(DEMO_FLEET)
    fault = FaultDef(serial="CP-0002", channel="coolant_temp", after_s=10, value=112.0)
    return dataclasses.replace(demo, faults=(fault,))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(secret=SECRET).start()
    yield r
    r.stop()


@pytest.fixture
def platform(
    database_url: str,
    mqtt: MqttAddress,
    topic_prefix: str,
    fleet: Fleet,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> Iterator[Platform]:
    settings = Settings(
        home=tmp_path,
        database_url=database_url,
        mqtt_url=f"mqtt://{mqtt.host}:{mqtt.port}",
        topic_prefix=topic_prefix,
        ingest=IngestSettings(
            client_id=f"ingest-{uuid.uuid4().hex[:8]}",
            share_group=f"g{uuid.uuid4().hex[:8]}",
            batch_size=500,
            batch_age_ms=100,
        ),
        webhooks=WebhookSettings(poll_interval_s=0.2),
        api=ApiSettings(port=0),
    )
    endpoints = Resolved(database_url, mqtt, settings.mqtt_url or "")
    p = Platform(
        settings, endpoints, seed_fleet=fleet, webhook_urls=[receiver.url], webhook_secret=SECRET
    )
    p.start()
    yield p
    p.stop()


def publish_fleet(
    fleet: Fleet, mqtt: MqttAddress, prefix: str, duration_s: float, start: datetime
) -> list[tuple[str, Sample]]:
    """Run the simulator to the end; returns every sample it published."""
    sent: list[tuple[str, Sample]] = []
    publisher = Publisher(
        mqtt.host, mqtt.port, client_id=f"sim-{uuid.uuid4().hex[:8]}", prefix=prefix
    )
    publisher.start()
    runner = FleetRunner(
        fleet,
        publisher,
        SimConfig(interval_s=1.0, samples_per_message=4, speed=20.0, duration_s=duration_s),
        start=start,
        on_publish=lambda serial, samples: sent.extend((serial, s) for s in samples),
    )
    runner.run()
    publisher.stop()
    return sent


def rows(conn: psycopg.Connection[Any], query: str, *params: object) -> list[tuple[Any, ...]]:
    return conn.execute(query.encode(), params).fetchall()


def test_reading_to_webhook_and_api(
    platform: Platform,
    conn: psycopg.Connection[Any],
    fleet: Fleet,
    mqtt: MqttAddress,
    topic_prefix: str,
    receiver: WebhookReceiver,
) -> None:
    assert platform.worker is not None
    assert platform.worker.wait_connected(10)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    sent = publish_fleet(fleet, mqtt, topic_prefix, duration_s=40, start=start)

    # --- hop 1: every published reading is in the hypertable, exactly once
    expected = {
        (serial, code, sample.time, value)
        for serial, sample in sent
        for code, value in sample.values.items()
    }
    assert len(expected) == sum(len(fleet.models[m.model].channels) * 41 for m in fleet.machines)

    def stored() -> int:
        return int(rows(conn, "SELECT count(*) FROM readings")[0][0])

    wait_for(lambda: stored() >= len(expected), 30, f"{len(expected)} readings stored")
    got = rows(
        conn,
        """SELECT e.serial_number, c.code, r.time, r.value FROM readings r
                        JOIN equipment e ON e.id = r.equipment_id
                        JOIN channels c ON c.id = r.channel_id""",
    )
    assert len(got) == len(expected)
    assert set(got) == expected
    assert rows(conn, "SELECT count(*) FROM dead_letters")[0][0] == 0
    assert (
        rows(
            conn,
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'readings'",
        )[0][0]
        >= 1
    )

    # --- hop 2: one alert, for the coolant excursion of CP-0002
    wait_for(lambda: rows(conn, "SELECT count(*) FROM work_orders")[0][0] == 1, 15, "a work order")
    alerts = rows(
        conn,
        """SELECT e.serial_number, c.code, a.rule, a.grade, a.status, a.details,
                                  a.reading_time, a.id
                           FROM alerts a JOIN equipment e ON e.id = a.equipment_id
                           JOIN channels c ON c.id = a.channel_id""",
    )
    assert len(alerts) == 1
    serial, channel, rule, grade, status, details, reading_time, alert_id = alerts[0]
    assert (serial, channel, rule, grade, status) == (
        "CP-0002",
        "coolant_temp",
        "threshold",
        "major",
        "open",
    )
    assert details["direction"] == "above"
    assert details["limit"] == 105.0
    assert details["value"] == 112.0
    assert reading_time == start + timedelta(seconds=10)  # the first out-of-range sample

    # --- hop 3: the work order went to the nearest *qualified* station
    orders = rows(
        conn,
        """SELECT w.alert_id, s.code, t.code, w.status, w.grade, w.under_warranty,
                                  w.sla_due_at - w.created_at, w.routing, w.distance_km
                           FROM work_orders w LEFT JOIN service_stations s ON s.id = w.station_id
                           LEFT JOIN technicians t ON t.id = w.technician_id""",
    )
    wo_alert, station, technician, wo_status, wo_grade, warranty, sla, routing, distance = orders[0]
    assert wo_alert == alert_id
    # Yueyang (tier 3) is nearer but may not take a major fault; Changsha (tier 1) is next.
    assert routing["candidates"][0]["station"] == "ST-YY3"
    assert routing["candidates"][0]["excluded_because"] == "tier 3 does not take major faults"
    assert station == "ST-CS1"
    assert 120 < distance < 140
    assert technician == "T-CS1-02"  # the least senior concrete-pump technician for a major fault
    assert (wo_status, wo_grade) == ("assigned", "major")
    assert warranty == (date.today() <= date(2026, 12, 31))
    assert sla == timedelta(hours=4)  # silver package: the standard major-fault promise

    # --- hop 4: both events went through the outbox and were delivered, signed
    events = rows(conn, "SELECT event_type, aggregate_id FROM outbox ORDER BY id")
    assert [e[0] for e in events] == ["alert.opened", "work_order.created"]
    wait_for(lambda: len(receiver.received) >= 2, 15, "two webhook deliveries")
    time.sleep(0.5)  # a duplicate delivery would arrive now
    assert sorted(r.event["type"] for r in receiver.received) == [
        "alert.opened",
        "work_order.created",
    ]
    for r in receiver.received:
        assert r.signature_ok
        assert verify(SECRET, r.headers["Prognos-Signature"], r.body)
        assert not verify(SECRET + "x", r.headers["Prognos-Signature"], r.body)
    assert receiver.events("alert.opened")[0]["data"]["id"] == alert_id
    wo_event = receiver.events("work_order.created")[0]["data"]
    assert wo_event["alert_id"] == alert_id
    assert wo_event["status"] == "assigned"
    wait_for(
        lambda: (
            rows(conn, "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")[0][0]
            == 2
        ),
        10,
        "deliveries marked delivered",
    )

    # --- hop 5: the API shows it all
    with httpx.Client(base_url=platform.api_url, timeout=10) as api:
        assert api.get("/health").json()["status"] == "ok"
        machines = {m["serial_number"]: m for m in api.get("/equipment").json()}
        assert len(machines) == 8
        cp2 = machines["CP-0002"]["id"]
        window = {"start": start.isoformat(), "end": (start + timedelta(minutes=5)).isoformat()}
        raw = api.get(f"/equipment/{cp2}/readings", params=window).json()
        coolant = next(s for s in raw["series"] if s["channel"] == "coolant_temp")
        assert len(coolant["points"]) == 41
        assert max(p["value"] for p in coolant["points"]) == 112.0
        bucketed = api.get(f"/equipment/{cp2}/readings", params={**window, "bucket": "10s"}).json()
        coolant_b = next(s for s in bucketed["series"] if s["channel"] == "coolant_temp")
        assert sum(p["count"] for p in coolant_b["points"]) == 41
        assert len(coolant_b["points"]) == 5  # 0-9, 10-19, 20-29, 30-39, 40 s
        assert coolant_b["points"][-1]["max"] == 112.0
        assert (
            api.get(f"/equipment/{cp2}/readings", params={**window, "bucket": "soon"}).status_code
            == 422
        )
        api_alerts = api.get("/alerts", params={"status": "open"}).json()
        assert [(a["serial_number"], a["channel"]) for a in api_alerts] == [
            ("CP-0002", "coolant_temp")
        ]
        api_orders = api.get("/work-orders").json()
        assert [(w["station_code"], w["alert_id"]) for w in api_orders] == [("ST-CS1", alert_id)]
        deliveries = api.get("/webhook-deliveries", params={"status": "delivered"}).json()
        assert len(deliveries) == 2
        spec = api.get("/openapi.json").json()
        for path in ("/equipment/{equipment_id}/readings", "/alerts", "/work-orders"):
            assert path in spec["paths"]
        assert "Prognos" in api.get("/docs").text
        assert "Open alerts" in api.get("/").text

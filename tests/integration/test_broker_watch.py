"""Drops are detected, not assumed away: a broker whose queue limit is exceeded is caught.

A Mosquitto with a small ``max_queued_messages`` queues QoS 1 messages for an offline
durable subscriber until the limit, then drops the rest while the publisher still gets
its PUBACKs. The broker watch reads ``$SYS/broker/publish/messages/dropped``, logs an
error and reports the drops.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device_sim import mqtt_wire
from device_sim.load import LoadPublisher
from ingest.broker_watch import BrokerWatch, parse_counter
from prognos.localservices import LocalMosquitto
from tests.waiting import wait_for


@pytest.fixture
def small_queue_broker() -> Iterator[LocalMosquitto]:
    home = Path(tempfile.mkdtemp(prefix="prognos-drops-"))
    home.chmod(0o755)
    broker = LocalMosquitto(home, secure=False, max_queued_messages=10, sys_interval_s=1)
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(home, ignore_errors=True)


def test_counter_payloads_parse() -> None:
    assert parse_counter(b"42") == 42.0
    assert parse_counter(b"12.5 ") == 12.5
    assert parse_counter(b"mosquitto version 2.0.21") is None
    assert parse_counter(b"\xff") is None


def test_drops_by_the_broker_are_seen_and_logged(
    small_queue_broker: LocalMosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    port = small_queue_broker.port
    # A durable subscriber that goes away: the broker queues for it, up to the limit.
    sub = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id="lagging", protocol=mqtt.MQTTv5
    )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 600
    sub.connect("127.0.0.1", port, clean_start=False, properties=props)
    sub.loop_start()
    sub.subscribe("drops/+/telemetry", qos=1)
    time.sleep(0.3)
    sub.disconnect()
    sub.loop_stop()

    watch = BrokerWatch("127.0.0.1", port, client_id="watch")
    watch.start()
    try:
        wait_for(lambda: "dropped_messages" in watch.snapshot(), 10, "the first $SYS counters")
        assert watch.snapshot()["dropped_since_start"] == 0
        with caplog.at_level(logging.ERROR, logger="ingest.broker_watch"):
            publisher = LoadPublisher("127.0.0.1", port, client_id="pub")
            publisher.connect()
            for i in range(100):
                publisher.publish(mqtt_wire.topic_bytes("drops/M-1/telemetry"), b"%d" % i)
            assert publisher.flush(10)
            publisher.close()
            assert publisher.counters.acked == 100  # the publisher is told nothing
            wait_for(lambda: watch.drops_seen >= 90, 15, "the broker's drops seen")
        assert watch.snapshot()["dropped_since_start"] == 90
        assert any("the broker dropped" in r.getMessage() for r in caplog.records)
    finally:
        watch.stop()

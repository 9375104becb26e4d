"""Store and forward against the real broker: it is stopped and restarted (same port).

While the broker is down the machines keep measuring; what they measure waits in their
bounded buffers and goes out, with its original timestamps, when they reconnect.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device_sim.devices import DeviceConfig, DeviceFleet
from device_sim.fleet import load_fleet
from device_sim.physics import Sample
from device_sim.runner import FleetRunner, SimConfig
from device_sim.wire import iso_time
from prognos.localservices import LocalMosquitto, LocalServices
from prognos.settings import MqttAddress
from tests.waiting import wait_for

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"


def restart_on_same_port(broker: LocalMosquitto) -> None:
    """Start the stopped broker again; it comes back on its port."""
    port = broker.port
    broker.start()
    assert broker.port == port


@pytest.fixture
def broker(local_services: LocalServices) -> Iterator[LocalMosquitto]:
    """The session's broker; running again after the test whatever happened in it."""
    b = local_services.mosquitto
    port = b.port
    yield b
    if not b.is_running():
        restart_on_same_port(b)
    assert b.port == port


class Subscriber:
    """Every telemetry message, across broker restarts (persistent session, QoS 1)."""

    def __init__(self, address: MqttAddress, prefix: str) -> None:
        self.samples: list[tuple[str, str, dict[str, float]]] = []
        self.redelivered = 0  # copies the broker sent again (DUP set) after its restart
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"sf-sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/+/telemetry", qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        self.client.connect(address.host, address.port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self._lock:
            self.samples += [(body["device"], s["t"], s["values"]) for s in body["samples"]]
            self.redelivered += len(body["samples"]) if msg.dup else 0

    def keys(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter((d, t) for d, t, _ in self.samples)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_readings_made_while_the_broker_is_down_arrive_once_with_their_times(
    broker: LocalMosquitto, mqtt: MqttAddress, topic_prefix: str
) -> None:
    fleet = dataclasses.replace(load_fleet(DEMO_FLEET), faults=())
    tag = f"sf-{uuid.uuid4().hex[:6]}-"
    devices = DeviceFleet(
        mqtt.host,
        mqtt.port,
        [m.serial for m in fleet.machines],
        DeviceConfig(
            prefix=topic_prefix, client_id_prefix=tag, backoff_base_s=0.2, backoff_cap_s=1.0
        ),
        credentials={"CP-0001": ("cp-0001-login", "secret-1")},
    )
    subscriber = Subscriber(mqtt, topic_prefix)
    outage = threading.Event()
    made: list[tuple[str, Sample, bool]] = []

    def record(serial: str, samples: list[Sample]) -> None:
        made.extend((serial, s, outage.is_set()) for s in samples)

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    runner = FleetRunner(
        fleet,
        devices,
        SimConfig(1.0, 2, speed=25.0, duration_s=300),
        start=start,
        on_publish=record,
    )
    try:
        time.sleep(0.3)
        devices.start(10)
        assert devices.connected == len(fleet.machines)
        thread = threading.Thread(target=runner.run)
        thread.start()
        time.sleep(2.0)
        broker.stop()
        outage.set()
        time.sleep(2.5)
        outage.clear()
        restart_on_same_port(broker)
        thread.join(60)
        assert devices.drain(30)
        stats = devices.stats()
        expected = {(serial, iso_time(s.time)): s.values for serial, s, _ in made}
        wait_for(lambda: set(subscriber.keys()) >= set(expected), 30, "every reading")
        time.sleep(0.5)  # a duplicate would arrive now
    finally:
        subscriber.close()
        devices.stop()

    fleet_batch_max = DeviceConfig().max_batch
    during = {(serial, iso_time(s.time)) for serial, s, down in made if down}
    assert len(during) >= 40 * len(fleet.machines)  # the machines went on measuring
    assert stats["reconnects"] >= len(fleet.machines)  # every machine lost the broker
    assert stats["dropped"] == 0
    received = subscriber.keys()
    assert set(received) == set(expected)  # every reading, at its original time
    assert all(received[k] == 1 for k in during)  # those buffered arrive once
    twice = sum(n - 1 for n in received.values())
    # QoS 1 on both legs: a copy repeats only if its PUBACK was lost in the stop, either
    # the machine's (paho resends it) or the subscriber's (the broker redelivers, DUP set)
    resent_samples = stats["resent"] * fleet_batch_max
    assert twice <= resent_samples + subscriber.redelivered
    values = {(d, t): v for d, t, v in subscriber.samples}
    assert all(values[k] == v for k, v in expected.items())
    log = broker.logfile.read_text()
    assert f"as {tag}CP-0001 (p5, c1, k30, u'cp-0001-login')" in log  # its own login
    assert f"as {tag}CP-0002 (p5, c1, k30)." in log  # anonymous: no shared login set
    assert all(f"as {tag}{m.serial} " in log for m in fleet.machines)  # one identity each


def test_a_full_buffer_drops_the_oldest_and_counts_them(
    broker: LocalMosquitto, mqtt: MqttAddress, topic_prefix: str
) -> None:
    serials = ["CP-0001", "CP-0002"]
    devices = DeviceFleet(
        mqtt.host,
        mqtt.port,
        serials,
        DeviceConfig(
            prefix=topic_prefix,
            client_id_prefix=f"sf-{uuid.uuid4().hex[:6]}-",
            buffer_samples=20,
            backoff_base_s=0.2,
            backoff_cap_s=0.5,
        ),
    )
    subscriber = Subscriber(mqtt, topic_prefix)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    try:
        time.sleep(0.3)
        devices.start(10)
        broker.stop()
        devices.pump_for(0.5)
        assert devices.connected == 0
        for serial in serials:
            devices.submit(
                serial,
                [Sample(t0 + timedelta(seconds=i), {"coolant_temp": float(i)}) for i in range(50)],
            )
        devices.pump_for(0.5)
        assert devices.dropped == 2 * 30
        assert devices.backlog == 2 * 20
        restart_on_same_port(broker)
        assert devices.drain(20)
        wait_for(lambda: len(subscriber.keys()) >= 40, 20, "the buffered readings")
    finally:
        subscriber.close()
        devices.stop()
    newest = {(s, iso_time(t0 + timedelta(seconds=i))) for s in serials for i in range(30, 50)}
    assert set(subscriber.keys()) == newest

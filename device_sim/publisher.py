"""Publishing samples as protocol v1 messages over MQTT (QoS 1)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device_sim.errors import SimError
from device_sim.physics import Sample

log = logging.getLogger(__name__)


def encode(serial: str, seq: int, samples: Sequence[Sample]) -> bytes:
    """A protocol v1 payload for ``samples`` of machine ``serial``."""
    body = {
        "v": 1,
        "device": serial,
        "seq": seq,
        "samples": [
            {
                "t": s.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "values": s.values,
            }
            for s in samples
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def topic_for(prefix: str, serial: str) -> str:
    return f"{prefix.rstrip('/')}/{serial}/telemetry"


class Publisher:
    """One MQTT connection that publishes for the machines of a simulator process.

    paho keeps QoS 1 messages that are not acknowledged yet and resends them after a
    reconnect (it reconnects by itself, with backoff), so a broker restart loses nothing
    that was handed to ``publish``. paho holds at most 65,535 unacknowledged messages
    (one per packet id) and refuses more; ``publish`` therefore waits while
    ``max_outstanding`` are unacknowledged, and raises if paho refuses a message anyway.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        prefix: str = "prognos/v1",
        username: str | None = None,
        password: str | None = None,
        max_outstanding: int = 20_000,
    ) -> None:
        self.prefix = prefix
        self.max_outstanding = max_outstanding
        self.acked = 0
        self._connected = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_queued_messages_set(0)
        # No in-flight limit inside paho: with one, paho scans every outstanding message
        # on each PUBACK (quadratic at high rates). ``publish`` bounds what is
        # outstanding instead, within the Receive Maximum the broker announces.
        self.client.max_inflight_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self._connected.clear()
        self.host, self.port = host, port
        self.published = 0

    def start(self, timeout_s: float = 15.0) -> None:
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise SimError(
                f"cannot reach the MQTT broker at {self.host}:{self.port}: {exc}"
            ) from exc
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            raise SimError(
                f"the MQTT broker at {self.host}:{self.port} did not accept the connection"
            )

    def _on_connect(
        self, _client: object, _userdata: object, _flags: object, reason: Any, props: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("the broker refused the connection: %s", reason)
            return
        receive_maximum = getattr(props, "ReceiveMaximum", None)  # absent: 65,535
        if receive_maximum is not None and receive_maximum < self.max_outstanding:
            self.max_outstanding = int(receive_maximum)
        self._connected.set()

    def _on_publish(self, *_args: object) -> None:
        self.acked += 1  # a PUBACK arrived (called on paho's network thread)

    @property
    def outstanding(self) -> int:
        return self.published - self.acked

    def publish(self, serial: str, seq: int, samples: Sequence[Sample]) -> mqtt.MQTTMessageInfo:
        return self.publish_raw(topic_for(self.prefix, serial), encode(serial, seq, samples))

    def publish_raw(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        while self.outstanding >= self.max_outstanding:
            time.sleep(0.001)
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise SimError(f"the MQTT client refused a message: {mqtt.error_string(info.rc)}")
        self.published += 1
        return info

    def wait_acknowledged(self, timeout_s: float) -> bool:
        """Wait until every published message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.outstanding > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Wait (bounded) for outstanding publishes to be acknowledged, then disconnect."""
        self.wait_acknowledged(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

"""Watching the broker's own counters (``$SYS``), so drops are detected, not assumed away.

Mosquitto publishes its counters under ``$SYS/broker/...`` every ``sys_interval``
seconds. The one that matters most here is ``$SYS/broker/publish/messages/dropped``:
a broker whose queue limits (``max_queued_messages``, ``max_queued_bytes``) are
exceeded drops QoS 1 messages silently while the publishers still get their PUBACKs.
``BrokerWatch`` keeps the latest value of each counter it reads, logs an error each
time the dropped count grows, and hands the values to the metrics (ingest/metrics.py)
and the health endpoint. A broker that publishes no ``$SYS`` tree (or refuses the
subscription) leaves the values empty; the health endpoint then says so.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

# $SYS topic -> the name the platform reports it under.
WATCHED = {
    "$SYS/broker/publish/messages/dropped": "dropped_messages",
    "$SYS/broker/store/messages/count": "stored_messages",
    "$SYS/broker/store/messages/bytes": "stored_bytes",
    "$SYS/broker/clients/connected": "clients_connected",
    "$SYS/broker/messages/received": "messages_received",
    "$SYS/broker/messages/sent": "messages_sent",
    "$SYS/broker/version": "version",
}


def parse_counter(payload: bytes) -> float | None:
    """A $SYS counter's value (Mosquitto sends decimal text), or None if it is not one."""
    try:
        return float(payload.decode().strip().split()[0])
    except (UnicodeDecodeError, ValueError, IndexError):
        return None


class BrokerWatch:
    """A separate, read-only MQTT connection subscribed to the broker's ``$SYS`` counters."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.values: dict[str, float] = {}
        self.version: str | None = None
        self.updated_at: float | None = None  # time.time() of the last $SYS message
        self.drops_seen = 0.0  # dropped messages counted since this watch started
        self._baseline: float | None = None
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        if username:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self.host, self.port = host, port

    def start(self) -> None:
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("the broker refused its $SYS watch: %s", reason)
            return
        client.subscribe([(topic, 0) for topic in WATCHED])

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        name = WATCHED.get(msg.topic)
        if name is None:
            return
        with self._lock:
            self.updated_at = time.time()
            if name == "version":
                self.version = msg.payload.decode(errors="replace").strip()
                return
            value = parse_counter(bytes(msg.payload))
            if value is None:
                return
            if name == "dropped_messages":
                self._check_drops(value)
            self.values[name] = value

    def _check_drops(self, value: float) -> None:
        if self._baseline is None:
            self._baseline = value
            if value:
                log.error(
                    "the broker has dropped %d messages since it started (before this watch)",
                    int(value),
                    extra={"broker_dropped_total": int(value)},
                )
            return
        previous = self.values.get("dropped_messages", self._baseline)
        if value > previous:
            self.drops_seen += value - previous
            log.error(
                "the broker dropped %d messages (queue limits exceeded?): readings are lost "
                "before ingest sees them; raise max_queued_messages / max_queued_bytes",
                int(value - previous),
                extra={"broker_dropped_total": int(value)},
            )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                **{k: int(v) for k, v in self.values.items()},
                "version": self.version,
                "dropped_since_start": int(self.drops_seen),
                "seconds_since_update": (
                    round(time.time() - self.updated_at, 1) if self.updated_at else None
                ),
            }

"""Many machines, each its own MQTT client, on one thread: the fleet's device side.

Every machine connects with its own client id (``client_id_prefix + serial``) and,
when ``credentials`` has an entry for its serial, its own username and password;
otherwise with the shared ones, or anonymously. MQTT 5, QoS 1, the topic and payload
of docs/protocol.md.

One thread drives all the clients through paho's external-loop API (``socket()``,
``loop_read()``, ``loop_write()``, ``loop_misc()``) and a ``selectors`` selector, so a
thousand machines need a thousand sockets, not a thousand threads. The caller owns
that thread: ``submit`` samples, then ``pump`` (or ``drain``) to move them.

Store and forward: a machine's samples wait in its bounded buffer (device_sim.buffer)
until it is connected; while the broker is away they accumulate (oldest dropped first
when full, counted) and go out on reconnect with their original timestamps, several per
message. Messages handed to paho and not acknowledged yet are resent by paho after a
reconnect (QoS 1: a message whose PUBACK was lost may arrive twice; the database stores
it once). Reconnects use jittered exponential backoff per machine.
"""

from __future__ import annotations

import logging
import resource
import selectors
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device_sim.buffer import Backoff, SampleBuffer
from device_sim.errors import BrokerUnavailableError, SimError
from device_sim.generate import stable_seed
from device_sim.physics import Sample
from device_sim.wire import encode_message, encode_sample

log = logging.getLogger(__name__)
CONNACK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class DeviceConfig:
    prefix: str = "prognos/v1"
    username: str | None = None  # shared credentials for machines without their own
    password: str | None = None
    client_id_prefix: str = ""
    buffer_samples: int = 3600  # per machine
    max_inflight: int = 16  # unacknowledged messages per machine
    max_batch: int = 50  # samples per message when catching up
    keepalive_s: int = 30
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    connect_timeout_s: float = 2.0


@dataclass(eq=False)
class _Link:
    serial: str
    topic: str
    client: mqtt.Client
    buffer: SampleBuffer
    backoff: Backoff
    seq: int = 0
    inflight: int = 0
    connected: bool = False
    ever_connected: bool = False
    next_attempt: float = 0.0
    sock: Any = None
    events: int = 0
    refusals: int = 0
    connecting_since: float = 0.0


def check_open_files(sockets: int) -> None:
    """Raise the soft open-file limit if ``sockets`` (plus headroom) would not fit."""
    need = sockets + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SimError(
            f"{sockets} machines need {need} open files but the hard limit is {hard}: "
            "raise it (ulimit -Hn) or simulate fewer machines per process"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


class DeviceFleet:
    """One MQTT client per machine, driven by whoever calls ``pump``."""

    def __init__(
        self,
        host: str,
        port: int,
        serials: Sequence[str],
        config: DeviceConfig | None = None,
        *,
        credentials: Mapping[str, tuple[str, str]] | None = None,
        seed: int = 0,
    ) -> None:
        self.host, self.port = host, port
        self.config = cfg = config or DeviceConfig()
        check_open_files(len(serials))
        self.selector = selectors.DefaultSelector()
        self.links: dict[str, _Link] = {}
        self._ready: set[_Link] = set()  # links with samples to send
        self._idle: set[_Link] = set()  # links without a socket: to connect when due
        self._buffered = 0  # samples in all buffers
        self.published = self.acked = self.reconnects = self.resent = 0
        self._last_misc = 0.0
        self._closing = False
        credentials = credentials or {}
        for serial in serials:
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=f"{cfg.client_id_prefix}{serial}",
                protocol=mqtt.MQTTv5,
            )
            user, password = credentials.get(serial, (cfg.username, cfg.password))
            if user:
                client.username_pw_set(user, password)
            client.max_inflight_messages_set(0)  # this class bounds what is in flight
            client.max_queued_messages_set(0)
            client.connect_timeout = cfg.connect_timeout_s
            link = _Link(
                serial,
                f"{cfg.prefix.rstrip('/')}/{serial}/telemetry",
                client,
                SampleBuffer(cfg.buffer_samples),
                Backoff(cfg.backoff_base_s, cfg.backoff_cap_s, seed=stable_seed(seed, serial)),
            )
            client.user_data_set(link)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_publish = self._on_publish
            client.on_socket_open = self._on_socket_open
            client.on_socket_close = self._on_socket_close
            client.connect_async(host, port, keepalive=cfg.keepalive_s)
            self.links[serial] = link
            self._idle.add(link)

    # ------------------------------------------------------------ paho callbacks
    def _on_connect(
        self, _c: mqtt.Client, link: _Link, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            link.refusals += 1
            if link.refusals == 1 or link.refusals % 100 == 0:
                log.warning("broker refused %s: %s", link.serial, reason)
            return
        if link.ever_connected:
            self.reconnects += 1
            self.resent += link.inflight  # paho sends these again now
        link.connected = link.ever_connected = True
        link.backoff.reset()
        self._ready.add(link)

    def _on_disconnect(
        self, _c: mqtt.Client, link: _Link, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if link.connected and not self._closing:
            log.info("%s lost the broker (%s); buffering", link.serial, reason)
        link.connected = False
        link.next_attempt = time.monotonic() + link.backoff.next_delay()

    def _on_publish(self, _c: mqtt.Client, link: _Link, _mid: int, _rc: Any, _p: Any) -> None:
        link.inflight -= 1
        self.acked += 1
        if len(link.buffer):
            self._ready.add(link)

    def _on_socket_open(self, _c: mqtt.Client, link: _Link, sock: Any) -> None:
        link.sock = sock
        link.events = selectors.EVENT_READ
        self.selector.register(sock, link.events, link)

    def _on_socket_close(self, _c: mqtt.Client, link: _Link, sock: Any) -> None:
        if link.sock is sock:
            self.selector.unregister(sock)
            link.sock = None
            if not self._closing:
                self._idle.add(link)

    # ------------------------------------------------------------ the caller's side
    def submit(self, serial: str, samples: Iterable[Sample]) -> None:
        """Queue ``samples`` of one machine; they leave on the next ``pump``."""
        link = self.links[serial]
        before = len(link.buffer)
        link.buffer.extend(encode_sample(s) for s in samples)
        self._buffered += len(link.buffer) - before
        if link.connected:
            self._ready.add(link)

    def _publish(self, link: _Link, limit: int | None = None) -> None:
        cfg = self.config
        while link.connected and len(link.buffer) and link.inflight < cfg.max_inflight:
            samples = link.buffer.take(limit or cfg.max_batch)
            self._buffered -= len(samples)
            link.seq += 1
            info = link.client.publish(
                link.topic, encode_message(link.serial, link.seq, samples), qos=1
            )
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                raise SimError(f"paho refused a message of {link.serial}: {info.rc}")
            link.inflight += 1  # NO_CONN: paho keeps it and sends it after reconnecting
            self.published += 1
        self._watch(link)

    def _watch(self, link: _Link) -> None:
        if link.sock is None:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if link.client.want_write() else 0)
        if events != link.events:
            link.events = events
            self.selector.modify(link.sock, events, link)

    def _connect_due(self, now: float, budget: int = 200) -> None:
        due = [link for link in self._idle if link.next_attempt <= now][:budget]
        for link in due:
            self._idle.discard(link)
            link.connecting_since = now
            try:
                link.client.reconnect()
            except (TimeoutError, OSError) as exc:
                log.debug("%s cannot connect: %s", link.serial, exc)
                self._drop_socket(link)
                self._idle.add(link)
                link.next_attempt = now + link.backoff.next_delay()

    def _drop_socket(self, link: _Link) -> None:
        """Close a machine's socket outside paho's own flow (a stuck connect, or the end)."""
        link.client._sock_close()
        link.connected = False

    def pump(self, timeout_s: float = 0.0) -> None:
        """Connect what is due, send what is queued, and handle the network for a while."""
        now = time.monotonic()
        self._connect_due(now)
        ready, self._ready = self._ready, set()
        for link in ready:
            self._publish(link)
        if not self.selector.get_map():
            time.sleep(timeout_s)
        else:
            for key, mask in self.selector.select(timeout_s):
                link = key.data
                if mask & selectors.EVENT_READ and link.sock is not None:
                    link.client.loop_read()
                if mask & selectors.EVENT_WRITE and link.sock is not None:
                    link.client.loop_write()
                self._watch(link)
        if now - self._last_misc >= 1.0:
            self._last_misc = now
            for link in self.links.values():
                if link.sock is None:
                    continue
                if not link.connected and now - link.connecting_since > CONNACK_TIMEOUT_S:
                    log.warning(
                        "%s: no CONNACK in %.0f s; retrying", link.serial, CONNACK_TIMEOUT_S
                    )
                    self._drop_socket(link)
                    link.next_attempt = now + link.backoff.next_delay()
                else:
                    link.client.loop_misc()

    def pump_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.pump(min(left, 0.05))

    @property
    def connected(self) -> int:
        return sum(link.connected for link in self.links.values())

    @property
    def backlog(self) -> int:
        """Samples waiting in the buffers (not yet handed to the broker)."""
        return self._buffered

    @property
    def inflight(self) -> int:
        return sum(link.inflight for link in self.links.values())

    @property
    def dropped(self) -> int:
        return sum(link.buffer.dropped for link in self.links.values())

    def start(self, timeout_s: float = 30.0) -> None:
        """Connect every machine; raise BrokerUnavailableError if none gets through in time."""
        deadline = time.monotonic() + timeout_s
        while self.connected < len(self.links) and time.monotonic() < deadline:
            self.pump(0.02)
        if self.links and not self.connected:
            raise BrokerUnavailableError(
                f"no machine could connect to the MQTT broker at {self.host}:{self.port}"
            )
        if self.connected < len(self.links):
            log.warning(
                "%d of %d machines connected; the rest keep trying", self.connected, len(self.links)
            )

    def drain(self, timeout_s: float) -> bool:
        """Pump until every buffer is empty and every message acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.backlog or self.inflight:
            if time.monotonic() > deadline:
                return False
            self.pump(0.02)
        return True

    def stats(self) -> dict[str, int]:
        return {
            "machines": len(self.links),
            "connected": self.connected,
            "published": self.published,
            "acked": self.acked,
            "buffered": self.backlog,
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "resent": self.resent,
        }

    def stop(self, timeout_s: float = 10.0) -> None:
        """Send what is buffered (bounded wait), then disconnect every machine."""
        self.drain(timeout_s)
        self._closing = True
        for link in self.links.values():
            if link.sock is not None:
                link.client.disconnect()  # paho writes the DISCONNECT packet at once
        for link in self.links.values():
            if link.sock is not None:
                self._drop_socket(link)
        self.selector.close()

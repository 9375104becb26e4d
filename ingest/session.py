"""The worker's MQTT 5 session: a paho client driven by a select loop of its own.

One network thread owns the paho client (paho's ``ack`` must run on the thread that
drives the socket). It uses paho's external-loop API (``socket``, ``loop_read``,
``loop_write``, ``loop_misc``) instead of ``loop()``, because ``loop()`` reads a single
packet per ``select`` and writes every PUBACK with a call of its own; here a readable
socket is drained in a burst, the messages of the burst go to the writer as one chunk,
and the PUBACKs of a committed batch go out together.

Flow control: the inbox holds at most ``inbox_messages`` messages. While it is full the
thread stops reading the socket, TCP pushes back, and the broker keeps the rest (its
queue limits must allow that: docs/protocol.md). Acknowledgements carry the generation
(connection) their messages came in on: an ack for an earlier connection would ack the
wrong packet id, so it is dropped and the broker redelivers the message instead.
"""

from __future__ import annotations

import logging
import random
import select
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

_OK = MQTTErrorCode.MQTT_ERR_SUCCESS


@dataclass(frozen=True)
class SessionConfig:
    host: str
    port: int
    client_id: str
    subscription: str
    username: str | None = None
    password: str | None = None
    session_expiry_s: int = 3600
    receive_maximum: int = 4096
    keepalive_s: int = 30
    inbox_messages: int = 20000
    connect_timeout_s: float = 10.0
    read_burst: int = 2000  # packets read per wake-up at most
    # Retiring: leave the share group (UNSUBSCRIBE) instead of joining it, take what the
    # session still holds, and end the session when disconnecting.
    retire: bool = False


@dataclass
class Chunk:
    """Messages read in one burst: (mid, qos, topic, payload) each, and when they came."""

    generation: int
    received_at: float  # time.time() after the burst
    messages: list[tuple[int, int, str, bytes]]


class Inbox:
    """Chunks from the network thread to the writer, bounded by the count of messages."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._chunks: deque[Chunk] = deque()
        self._messages = 0
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return self._messages

    def has_room(self) -> bool:
        return self._messages < self.capacity

    def put(self, chunk: Chunk) -> None:
        with self._cond:
            self._chunks.append(chunk)
            self._messages += len(chunk.messages)
            self._cond.notify()

    def get(self, timeout_s: float) -> Chunk | None:
        with self._cond:
            if not self._chunks and not self._cond.wait(timeout_s):
                return None
            if not self._chunks:
                return None
            chunk = self._chunks.popleft()
            self._messages -= len(chunk.messages)
            return chunk


class MqttSession:
    """Connect, subscribe, read into an Inbox, send the acks it is given; its own thread."""

    def __init__(
        self, config: SessionConfig, *, on_connected: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.on_connected = on_connected
        self.inbox = Inbox(config.inbox_messages)
        self.connects = 0
        self.generation = 0
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._reading = True
        self._acks: deque[tuple[int, Sequence[int]]] = deque()  # (generation, mids), QoS 1
        self._burst: list[tuple[int, int, str, bytes]] = []
        self._thread: threading.Thread | None = None
        self.last_message_at = time.monotonic()  # of the last message read
        self.unsubscribed = threading.Event()  # retiring: the broker routes nothing new here
        self._client = self._make_client()

    # ------------------------------------------------------------------ API
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest-network", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Send the acks queued so far, disconnect (the session stays on the broker)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def stop_reading(self) -> None:
        """Take no more messages (the broker keeps them); acks and keep-alive go on."""
        self._reading = False

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def ack(self, generation: int, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages (thread-safe; sent by the network thread)."""
        if mids:
            self._acks.append((generation, mids))

    # ------------------------------------------------------------------ paho client
    def _make_client(self) -> mqtt.Client:
        client = _BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,  # this loop reconnects itself, with backoff
        )
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_unsubscribe = self._on_unsubscribe
        client.message_sink = self._take
        # An external loop writes: paho queues packets instead of sending each at once.
        client.on_socket_register_write = _ignore
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self.generation += 1
        self.connects += 1
        if self.on_connected is not None:
            self.on_connected()
        if self.config.retire:
            client.unsubscribe(self.config.subscription)
            log.info(
                "retiring: left %s; taking what the session still holds",
                self.config.subscription,
                extra={"client_id": self.config.client_id},
            )
        else:
            client.subscribe(self.config.subscription, qos=1)
            log.info(
                "connected to the broker, subscribed to %s",
                self.config.subscription,
                extra={"generation": self.generation, "client_id": self.config.client_id},
            )
        self._connected.set()

    def _on_unsubscribe(self, *_args: object) -> None:
        self.last_message_at = time.monotonic()
        self.unsubscribed.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._connected.clear()
        self._burst.clear()  # not handed over, not acked: the broker redelivers them
        if not self._stop.is_set():
            log.warning("disconnected from the broker: %s", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._take(msg.mid, msg.qos, msg.topic, bytes(msg.payload))

    def _take(self, mid: int, qos: int, topic: str, payload: bytes) -> None:
        self._burst.append((mid, qos, topic, payload))
        self.last_message_at = time.monotonic()

    # ------------------------------------------------------------------ network thread
    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum
        return props

    def _run(self) -> None:
        client = self._client
        delay = 0.5
        attempt_started = 0.0
        while not self._stop.is_set():
            sock = client.socket()
            if sock is None or (
                not self._connected.is_set()
                and time.monotonic() - attempt_started > self.config.connect_timeout_s
            ):
                if sock is not None:  # connected at TCP level, but no CONNACK in time
                    log.warning("no CONNACK in %.0fs; reconnecting", self.config.connect_timeout_s)
                    client.disconnect()
                if attempt_started:
                    wait = delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
                    delay = min(delay * 2, 30.0)
                    if self._stop.wait(wait):
                        break
                attempt_started = time.monotonic()
                try:
                    client.connect(
                        self.config.host,
                        self.config.port,
                        keepalive=self.config.keepalive_s,
                        clean_start=False,
                        properties=self._connect_properties(),
                    )
                except OSError as exc:
                    log.warning(
                        "broker unreachable at %s:%s (%s)", self.config.host, self.config.port, exc
                    )
                continue
            if self._connected.is_set():
                delay = 0.5
            self._step(client, sock)
        self._send_acks(client)
        if client.socket() is not None:
            props = None
            if self.config.retire and self.unsubscribed.is_set():
                props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = 0  # the session ends with this connection
            client.disconnect(properties=props)
            client.loop_write()

    def _step(self, client: Any, sock: Any) -> None:
        """One turn: queue acks, wait for the socket, read a burst, write, keep alive."""
        self._send_acks(client)
        reading = self._reading and self.inbox.has_room()
        writing = client.want_write()
        rlist = [sock] if reading else []
        pending = reading and client.buffered > 0  # read already: do not wait for more
        try:
            readable, writable, _ = select.select(
                rlist, [sock] if writing else [], [], 0.0 if pending else 0.02
            )
        except (OSError, ValueError):
            readable, writable = [], []
        if (readable or client.buffered) and self._read_burst(client) != _OK:
            return
        if writable or client.want_write():
            client.loop_write()
        client.loop_misc()  # keep-alive; while not reading, select above just waited

    def _read_burst(self, client: Any) -> MQTTErrorCode:
        burst = self._burst
        rc = _OK
        for _ in range(self.config.read_burst):
            before = len(burst)
            rc = client.loop_read()
            if rc != _OK or len(burst) == before:
                break  # an error, no more data, or a packet that was not a message
        if burst and rc == _OK:
            self.inbox.put(Chunk(self.generation, time.time(), burst))
            self._burst = []
        return rc

    def _send_acks(self, client: mqtt.Client) -> None:
        while self._acks:
            generation, mids = self._acks.popleft()
            if generation != self.generation or not self._connected.is_set():
                continue  # redelivered by the broker on the new connection
            for mid in mids:
                client.ack(mid, 1)


_UINT16 = struct.Struct("!H")


def parse_publish(command: int, packet: bytes | bytearray) -> tuple[int, int, str, bytes] | None:
    """``(mid, qos, topic, payload)`` of an MQTT 5 PUBLISH of QoS 0 or 1 (``command`` the
    fixed header's first byte, ``packet`` what follows the remaining length), or None
    when it needs paho's own handling: QoS 2, a topic alias instead of a topic name, or
    a malformed packet. The properties are skipped: the session asks for none (no topic
    alias maximum, no subscription identifier) and reads none a publisher sends."""
    qos = (command & 0x06) >> 1
    if qos == 2:
        return None
    try:
        (length,) = _UINT16.unpack_from(packet, 0)
        if length == 0:
            return None  # a topic alias: paho resolves it
        pos = 2 + length
        topic = bytes(packet[2:pos]).decode("utf-8")
        mid = 0
        if qos:
            (mid,) = _UINT16.unpack_from(packet, pos)
            pos += 2
        size, shift = 0, 0
        while True:  # the properties' length, a variable byte integer
            byte = packet[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                return None
        pos += size
        if pos > len(packet):
            return None
    except (struct.error, IndexError, UnicodeDecodeError):
        return None
    return mid, qos, topic, bytes(packet[pos:])


class _BufferedClient(mqtt.Client):
    """paho's client with buffered socket reads.

    paho reads a packet's fixed header one byte per ``recv`` call: three or four system
    calls per message, each releasing the GIL, which the writer thread then keeps for up
    to a switch interval. This subclass reads up to 64 KiB at a time and serves paho's
    small reads from that buffer. ``buffered`` tells the session's loop that bytes are
    waiting in user space, where ``select`` cannot see them. It overrides paho's
    private ``_sock_recv`` (stable across paho 2.x; ingest tests exercise it).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        # Where QoS 0/1 messages go, bypassing paho's per-message objects (see
        # _handle_publish); None: paho's on_message.
        self.message_sink: Callable[[int, int, str, bytes], None] | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        """A PUBLISH straight to ``message_sink``: paho builds a Properties object, an
        MQTTMessage, a debug log line and a topic match for every message, which cost
        the worker more than decoding and validating a single reading. With
        ``manual_ack`` paho keeps no state for an incoming QoS 0/1 message either, so
        ``ack`` works the same. Anything else takes paho's own path."""
        sink = self.message_sink
        if sink is not None and self._protocol == mqtt.MQTTv5:
            parsed = parse_publish(self._in_packet["command"], self._in_packet["packet"])
            if parsed is not None:
                sink(*parsed)
                return _OK
        return super()._handle_publish()

    @property
    def buffered(self) -> int:
        return len(self._rbuf) - self._rpos

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(max(bufsize, 65536))
            if len(data) <= bufsize:
                self._rbuf, self._rpos = b"", 0
                return data  # includes b"" (connection closed)
            self._rbuf, self._rpos = data, 0
        end = self._rpos + bufsize
        out = self._rbuf[self._rpos : end]
        self._rpos = min(end, len(self._rbuf))
        return out

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0  # bytes of a lost connection are not resumed
        super()._sock_close()


def _ignore(*_args: object) -> None:
    """paho's socket-register-write callback: the session's loop polls want_write()."""

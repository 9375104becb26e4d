"""A pipelined MQTT 5 QoS 1 publisher for load: one connection, many machines' messages.

``LoadPublisher`` publishes QoS 1 messages pipelined up to a window of unacknowledged
ones (never above the broker's Receive Maximum), reads PUBACKs in bulk, and survives
the broker going away: it reconnects with jittered exponential backoff, with the same
client id and a session that outlives the connection, and sends every unacknowledged
message again (with DUP set), so a broker restart loses nothing that was handed to
``publish``. It is single-threaded: the caller's ``publish`` and ``flush`` calls drive
the socket. Packets are built by ``device_sim.mqtt_wire`` (which says why not paho).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import select
import socket
import time
from dataclasses import dataclass, field

from device_sim import mqtt_wire as wire
from device_sim.errors import SimError

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 18
_WRITE_HIGH_WATER = 1 << 16


class LoadError(SimError):
    """The load publisher could not do what it was asked (refused, or timed out)."""


@dataclass
class LoadCounters:
    published: int = 0  # messages handed to publish()
    acked: int = 0  # PUBACKs with a success reason code
    refused: int = 0  # PUBACKs with a failure reason code (not authorized, ...)
    refusals: dict[int, int] = field(default_factory=dict)  # reason code -> count
    reconnects: int = 0
    resent: int = 0  # messages sent again after a reconnect
    # Acknowledged with "no matching subscribers": the broker accepted the message and
    # delivered it to nobody (nothing subscribed to its topic at that moment).
    unrouted: int = 0

    @property
    def outstanding(self) -> int:
        return self.published - self.acked - self.refused


class LoadPublisher:
    """A pipelined QoS 1 publisher over one MQTT 5 connection (not thread-safe)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        max_inflight: int = 10_000,
        keepalive_s: int = 30,
        session_expiry_s: int = 600,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self.client_id = client_id
        self.username, self.password = username, password
        self.max_inflight = max_inflight
        self.keepalive_s = keepalive_s
        self.session_expiry_s = session_expiry_s
        self.connect_timeout_s = connect_timeout_s
        self.counters = LoadCounters()
        self.window = max_inflight
        self._sock: socket.socket | None = None
        self._unacked: dict[int, bytes] = {}  # packet id -> PUBLISH packet
        self._out = bytearray()
        self._in = bytearray()
        self._next_mid = 0
        self._last_sent = 0.0
        self._ping_due = False
        self._closed = False

    # ------------------------------------------------------------------ connection
    def connect(self, *, clean_start: bool = False) -> None:
        """Connect once (raises LoadError if refused or unreachable)."""
        try:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout_s)
        except OSError as exc:
            raise LoadError(
                f"cannot reach the MQTT broker at {self.host}:{self.port}: {exc}"
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.sendall(
                wire.connect_packet(
                    self.client_id,
                    username=self.username,
                    password=self.password,
                    keepalive_s=self.keepalive_s,
                    session_expiry_s=self.session_expiry_s,
                    clean_start=clean_start,
                )
            )
            connack = self._read_connack(sock)
        except (OSError, wire.ProtocolError) as exc:
            sock.close()
            raise LoadError(f"no CONNACK from {self.host}:{self.port}: {exc}") from exc
        if connack.reason >= 0x80:
            sock.close()
            name = wire.REASON_NAMES.get(connack.reason, hex(connack.reason))
            raise LoadError(f"the broker refused the connection of {self.client_id}: {name}")
        sock.setblocking(False)
        self._sock = sock
        self.window = max(1, min(self.max_inflight, connack.receive_maximum))
        self._last_sent = time.monotonic()
        self._ping_due = False
        # Everything not acknowledged goes again, in order, flagged as a duplicate.
        self._out = bytearray()
        for packet in self._unacked.values():  # oldest first: dicts keep insertion order
            self._out += bytes([packet[0] | wire.DUP_FLAG]) + packet[1:]
            self.counters.resent += 1

    def _read_connack(self, sock: socket.socket) -> wire.ConnAck:
        deadline = time.monotonic() + self.connect_timeout_s
        buf = bytearray()
        while time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(4096)
            if not chunk:
                raise wire.ProtocolError("connection closed before CONNACK")
            buf += chunk
            for kind, body in wire.split_packets(buf):
                if kind & 0xF0 == wire.CONNACK:
                    return wire.parse_connack(body)
        raise wire.ProtocolError(f"no CONNACK within {self.connect_timeout_s}s")

    def _reconnect(self, reason: str) -> None:
        self._drop_socket()
        delay = 0.2
        while True:
            if self._closed:
                raise LoadError(f"closed while reconnecting after {reason}")
            try:
                self.connect()
            except LoadError as exc:
                wait = delay * random.uniform(0.5, 1.5)
                log.warning("load publisher reconnecting in %.1fs: %s", wait, exc)
                time.sleep(wait)
                delay = min(delay * 2, 5.0)
                continue
            self.counters.reconnects += 1
            log.info("load publisher reconnected after %s", reason)
            return

    def _drop_socket(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        self._in = bytearray()

    def cancel(self) -> None:
        """Stop, from another thread: the publishing thread's next call raises LoadError."""
        self._closed = True
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Disconnect (what is unacknowledged stays so); a publish after this raises."""
        self._closed = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.setblocking(True)
                self._sock.sendall(bytes(self._out) + wire.DISCONNECT_PACKET)
        self._drop_socket()

    # ------------------------------------------------------------------ publishing
    def publish(self, topic: bytes, payload: bytes) -> None:
        """Queue a QoS 1 message (``topic`` from ``mqtt_wire.topic_bytes``)."""
        while len(self._unacked) >= self.window:
            self.pump(0.05)
        mid = self._take_mid()
        packet = wire.publish_packet(topic, mid, payload)
        self._unacked[mid] = packet
        self._out += packet
        self.counters.published += 1
        if len(self._out) >= _WRITE_HIGH_WATER:
            self.pump(0.0)

    def _take_mid(self) -> int:
        for _ in range(65_535):
            self._next_mid = self._next_mid % 65_535 + 1
            if self._next_mid not in self._unacked:
                return self._next_mid
        raise LoadError("no free packet id: 65,535 messages unacknowledged")

    def flush(self, timeout_s: float) -> bool:
        """Send what is queued and wait for every PUBACK; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._unacked or self._out:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.pump(min(remaining, 0.1))
        return True

    def pump(self, timeout_s: float) -> None:
        """Write what is queued, read acknowledgements, keep the connection alive."""
        if self._sock is None:
            self._reconnect("a lost connection")
        sock = self._sock
        assert sock is not None  # noqa: S101
        try:
            readable, writable, _ = select.select(
                [sock], [sock] if self._out else [], [], timeout_s
            )
            if writable:
                sent = sock.send(self._out)
                del self._out[:sent]
                self._last_sent = time.monotonic()
            if readable:
                chunk = sock.recv(_READ_SIZE)
                if not chunk:
                    raise ConnectionResetError(errno.ECONNRESET, "closed by the broker")
                self._in += chunk
                self._handle(wire.split_packets(self._in))
            self._keepalive(sock)
        except (OSError, wire.ProtocolError) as exc:
            if isinstance(exc, BlockingIOError):
                return
            self._reconnect(str(exc) or type(exc).__name__)

    def _handle(self, packets: list[tuple[int, bytes]]) -> None:
        counters = self.counters
        unacked = self._unacked
        for first_byte, body in packets:
            kind = first_byte & 0xF0
            if kind == wire.PUBACK:
                mid, reason = wire.puback_of(body)
                if unacked.pop(mid, None) is None:
                    continue  # an ack for a message already acknowledged
                if reason < 0x80:
                    counters.acked += 1
                    if reason == wire.NO_MATCHING_SUBSCRIBERS:
                        counters.unrouted += 1
                else:
                    counters.refused += 1
                    counters.refusals[reason] = counters.refusals.get(reason, 0) + 1
            elif kind == wire.PINGRESP:
                self._ping_due = False
            elif kind == wire.DISCONNECT:
                reason = body[0] if body else 0
                name = wire.REASON_NAMES.get(reason, hex(reason))
                raise ConnectionResetError(errno.ECONNRESET, f"the broker disconnected: {name}")

    def _keepalive(self, sock: socket.socket) -> None:
        idle = time.monotonic() - self._last_sent
        if self._ping_due and idle > self.keepalive_s:
            raise TimeoutError("no PINGRESP within the keep-alive interval")
        if not self._ping_due and idle > self.keepalive_s / 2:
            self._out += wire.PINGREQ_PACKET
            self._ping_due = True

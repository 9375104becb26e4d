"""Load mode: many machines' telemetry from few processes, at a target rate, over QoS 1.

``LoadPublisher`` is one MQTT 5 connection that publishes QoS 1 messages pipelined up
to a window of unacknowledged ones (never above the broker's Receive Maximum), reads
PUBACKs in bulk, and survives the broker going away: it reconnects with jittered
exponential backoff, with the same client id and a session that outlives the
connection, and sends every unacknowledged message again (with DUP set), so a broker
restart loses nothing that was handed to ``publish``. It is single-threaded: the
caller's ``publish`` and ``flush`` calls drive the socket.

``run_load`` spreads machines over processes, publishes protocol v1 messages whose
readings each carry a unique value (its index), at full speed or at a set rate, and
reports what was published, acknowledged and refused, and the rate achieved. The
ingest benchmark (``prognos bench ingest``) and the ingest fault tests use it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing as mp
import random
import resource
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any

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


# ---------------------------------------------------------------- what to publish
@dataclass(frozen=True)
class LoadPlan:
    """Messages for ``serials``: ``messages_per_machine`` rounds over the machines.

    Every reading's value is its index in the whole plan (0, 1, 2, ...), so a consumer
    can prove that each one was stored exactly once. Sample times are ``base_ms`` plus
    ``interval_ms`` per sample of a machine, or, when ``live`` is set, the wall-clock
    time of publishing (for latency measurements).
    """

    serials: tuple[str, ...]
    channels: tuple[str, ...]
    messages_per_machine: int
    samples_per_message: int = 1
    base_ms: int = 0
    interval_ms: int = 1
    prefix: str = "prognos/v1"
    live: bool = False

    @property
    def readings_per_message(self) -> int:
        return self.samples_per_message * len(self.channels)

    @property
    def messages(self) -> int:
        return self.messages_per_machine * len(self.serials)

    @property
    def readings(self) -> int:
        return self.messages * self.readings_per_message

    def topic(self, serial: str) -> bytes:
        return wire.topic_bytes(f"{self.prefix.rstrip('/')}/{serial}/telemetry")

    def payload(self, round_: int, machine: int) -> bytes:
        """Protocol v1 JSON of machine ``machine``'s message in round ``round_``."""
        serial = self.serials[machine]
        first = (round_ * len(self.serials) + machine) * self.readings_per_message
        n = self.samples_per_message
        if self.live:
            now_us = time.time_ns() // 1000
            times = [_iso_us(now_us + s) for s in range(n)]
        else:
            t0 = self.base_ms + round_ * n * self.interval_ms
            times = [str(t0 + s * self.interval_ms) for s in range(n)]
        width = len(self.channels)
        samples = ",".join(
            f'{{"t":{times[s]},"values":{{{self._values(first + s * width)}}}}}' for s in range(n)
        )
        return f'{{"v":1,"device":"{serial}","samples":[{samples}]}}'.encode()

    def _values(self, first: int) -> str:
        return ",".join(f'"{code}":{float(first + c)!r}' for c, code in enumerate(self.channels))


def _iso_us(us: int) -> str:
    seconds, micro = divmod(us, 1_000_000)
    return f'"{time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))}.{micro:06d}Z"'


@dataclass
class LoadReport:
    messages: int
    readings: int
    acked: int
    refused: int
    unrouted: int  # acknowledged "no matching subscribers": nobody was subscribed
    reconnects: int
    resent: int
    seconds: float  # from the first publish to the last PUBACK
    cpu_s: float
    finished_at: float = 0.0  # time.monotonic() (one clock for every process on a host)

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


def publish_plan(
    publisher: LoadPublisher,
    plan: LoadPlan,
    machines: range,
    *,
    rate_msgs: float | None = None,
    ack_timeout_s: float = 300.0,
) -> LoadReport:
    """Publish the plan's messages of ``machines`` (indexes), paced to ``rate_msgs``."""
    topics = [plan.topic(plan.serials[k]) for k in machines]
    cpu_before = cpu_seconds()
    started = time.monotonic()
    sent = 0
    for round_ in range(plan.messages_per_machine):
        for i, k in enumerate(machines):
            publisher.publish(topics[i], plan.payload(round_, k))
            sent += 1
            if rate_msgs is not None:
                while (ahead := started + sent / rate_msgs - time.monotonic()) > 0:
                    publisher.pump(ahead)  # sends what is queued while it waits
    if not publisher.flush(ack_timeout_s):
        raise LoadError(
            f"{publisher.counters.outstanding} messages not acknowledged in {ack_timeout_s}s"
        )
    c = publisher.counters
    return LoadReport(
        messages=sent,
        readings=sent * plan.readings_per_message,
        acked=c.acked,
        refused=c.refused,
        unrouted=c.unrouted,
        reconnects=c.reconnects,
        resent=c.resent,
        seconds=time.monotonic() - started,
        cpu_s=cpu_seconds() - cpu_before,
        finished_at=time.monotonic(),
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- several processes
@dataclass(frozen=True)
class BrokerLogin:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


def _load_process(  # noqa: PLR0917 - a process target takes positional arguments
    login: BrokerLogin,
    client_id: str,
    plan: LoadPlan,
    machines: range,
    rate_msgs: float | None,
    ready: Any,
    go: Any,
    done: Any,
) -> None:
    publisher = LoadPublisher(
        login.host,
        login.port,
        client_id=client_id,
        username=login.username,
        password=login.password,
    )
    try:
        publisher.connect()
    except LoadError as exc:
        ready.put(str(exc))
        return
    ready.put("")
    go.wait()
    try:
        done.put(publish_plan(publisher, plan, machines, rate_msgs=rate_msgs))
    except LoadError as exc:
        done.put(str(exc))
    finally:
        publisher.close()


def run_load(
    plan: LoadPlan,
    login: BrokerLogin,
    *,
    processes: int = 2,
    rate_msgs: float | None = None,
    client_prefix: str = "prognos-load",
) -> LoadReport:
    """Publish ``plan`` from ``processes`` processes (machines split between them).

    The processes connect first and start together, so the clock measures publishing,
    not Python start-up. ``seconds`` runs from the start to the last PUBACK.
    """
    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Queue(), ctx.Event(), ctx.Queue()
    n = len(plan.serials)
    share = -(-n // processes)
    parts = [range(i, min(i + share, n)) for i in range(0, n, share)]
    procs = [
        ctx.Process(
            target=_load_process,
            args=(
                login,
                f"{client_prefix}-{i}",
                plan,
                part,
                None if rate_msgs is None else rate_msgs * len(part) / n,
                ready,
                go,
                done,
            ),
            daemon=True,
        )
        for i, part in enumerate(parts)
    ]
    for proc in procs:
        proc.start()
    try:
        errors = [ready.get(timeout=60) for _ in procs]
        if any(errors):
            raise LoadError("; ".join(e for e in errors if e))
        started = time.monotonic()
        go.set()
        reports = [done.get(timeout=900) for _ in procs]
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    failures = [r for r in reports if isinstance(r, str)]
    if failures:
        raise LoadError("; ".join(failures))
    finished = max(r.finished_at for r in reports)
    return LoadReport(
        messages=sum(r.messages for r in reports),
        readings=sum(r.readings for r in reports),
        acked=sum(r.acked for r in reports),
        refused=sum(r.refused for r in reports),
        unrouted=sum(r.unrouted for r in reports),
        reconnects=sum(r.reconnects for r in reports),
        resent=sum(r.resent for r in reports),
        seconds=finished - started,
        cpu_s=sum(r.cpu_s for r in reports),
        finished_at=finished,
    )

"""The ingest worker: an MQTT 5 session in, committed batches out, acks after commit.

Two threads. The network thread owns the paho client: it runs the client loop,
reconnects with jittered backoff, and sends the PUBACKs that the writer thread queues
for it (paho's ``ack`` must run on the thread that drives the socket). The writer
thread takes messages from a bounded queue (a full queue stops the network thread
reading, so the broker holds the rest), decodes them into batches, commits each batch
with its dead letters, tells the listeners, and only then queues the acks. A batch that
cannot be committed is retried until the database is back; its messages stay unacked.
Messages received before a reconnect are not acked: the broker redelivers them, and the
database stores each reading once.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.batch import ReadingBatch
from ingest.catalog import Catalog, load_catalog
from ingest.errors import Rejected, StorageError
from ingest.protocol import UNKNOWN_EQUIPMENT, Limits, decode
from ingest.writer import BatchWriter, DeadLetter

log = logging.getLogger(__name__)

# Called after each commit with the batch (iterable of ingest.batch.Reading, with
# NumPy columns); must be idempotent, as a redelivered batch is told again.
BatchListener = Callable[[ReadingBatch], None]


@dataclass(frozen=True)
class CommitInfo:
    """What one committed batch was, for metrics (ingest/metrics.py)."""

    messages: int
    readings: int
    inserted: int
    dead_letters: int
    commit_s: float  # wall time of the database write, retries excluded
    oldest_wait_s: float  # from the first message's arrival at the worker to the commit
    slow_path: bool  # written through staging + ON CONFLICT (a redelivery)


# Called on the writer thread after each commit; must be cheap and must not raise.
CommitObserver = Callable[[CommitInfo], None]


@dataclass(frozen=True)
class WorkerConfig:
    database_url: str
    mqtt_host: str
    mqtt_port: int
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    topic_prefix: str = "prognos/v1"
    client_id: str = "prognos-ingest-1"
    share_group: str = "prognos-ingest"
    batch_size: int = 5000
    batch_age_s: float = 0.2
    session_expiry_s: int = 3600
    receive_maximum: int = 4096
    queue_messages: int = 20000
    keepalive_s: int = 30
    catalog_refresh_s: float = 30.0
    limits: Limits = field(default_factory=Limits)

    @property
    def subscription(self) -> str:
        """The shared subscription of the worker group (a plain one if no group is set)."""
        topics = f"{self.topic_prefix}/+/telemetry"
        return f"$share/{self.share_group}/{topics}" if self.share_group else topics


@dataclass
class IngestStats:
    """Counters since start (read by the health endpoint and the tests)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    storage_failures: int = 0
    listener_failures: int = 0
    connects: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": dict(self.quarantined),
            "batches": self.batches,
            "storage_failures": self.storage_failures,
            "listener_failures": self.listener_failures,
            "connects": self.connects,
        }


@dataclass(frozen=True)
class _Inbound:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


class IngestWorker:
    """Subscribe, batch, store, acknowledge. ``start()`` then ``stop()``."""

    def __init__(
        self,
        config: WorkerConfig,
        listeners: Sequence[BatchListener] = (),
        observers: Sequence[CommitObserver] = (),
    ) -> None:
        self.config = config
        self.listeners = list(listeners)
        self.observers = list(observers)
        self.stats = IngestStats()
        self._inbox: queue.Queue[_Inbound] = queue.Queue(maxsize=config.queue_messages)
        self._acks: queue.Queue[tuple[int, int, int]] = queue.Queue()
        self._generation = 0
        self._connected = threading.Event()
        self._stopping = threading.Event()  # writer: flush what is queued, then end
        self._net_stop = threading.Event()  # network: send the last acks, then disconnect
        self._writer = BatchWriter(config.database_url)
        self._catalog = Catalog()
        self._catalog_loaded_at = 0.0
        self._threads: list[threading.Thread] = []
        self._client = self._make_client()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._refresh_catalog(force=True)
        self._threads = [
            threading.Thread(target=self._network_loop, name="ingest-network", daemon=True),
            threading.Thread(target=self._writer_loop, name="ingest-writer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def inbox_depth(self) -> int:
        """Messages received from the broker and not yet in a batch (unacknowledged)."""
        return self._inbox.qsize()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Flush what is queued, send its acks, disconnect (the session stays on the broker)."""
        self._stopping.set()
        network, writer = self._threads or (None, None)
        if writer is not None:
            writer.join(timeout_s)
        self._net_stop.set()
        if network is not None:
            network.join(timeout_s)
        self._writer.close()

    # ------------------------------------------------------------------ network thread
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,  # this worker reconnects itself, with backoff
        )
        if self.config.mqtt_username:
            client.username_pw_set(self.config.mqtt_username, self.config.mqtt_password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum
        return props

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
        self._generation += 1
        self.stats.connects += 1
        client.subscribe(self.config.subscription, qos=1)
        self._connected.set()
        log.info(
            "connected to the broker, subscribed to %s",
            self.config.subscription,
            extra={"generation": self._generation},
        )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from the broker: %s", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # not acked: redelivered to the next worker session
        item = _Inbound(
            self._generation, msg.mid, msg.qos, msg.topic, bytes(msg.payload), datetime.now(UTC)
        )
        while not self._stopping.is_set():
            try:
                self._inbox.put(item, timeout=0.5)  # a full inbox stops reading the socket
                return
            except queue.Full:
                continue

    def _network_loop(self) -> None:
        client = self._client
        delay = 0.5
        while not self._net_stop.is_set():
            if not client.is_connected():
                if self._stopping.is_set():
                    break
                try:
                    client.connect(
                        self.config.mqtt_host,
                        self.config.mqtt_port,
                        keepalive=self.config.keepalive_s,
                        clean_start=False,
                        properties=self._connect_properties(),
                    )
                    delay = 0.5
                except OSError as exc:
                    wait = delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
                    log.warning("broker unreachable (%s); retrying in %.1fs", exc, wait)
                    self._stopping.wait(wait)
                    delay = min(delay * 2, 30.0)
                    continue
            rc = client.loop(timeout=0.02)
            self._send_acks(client)
            if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                self._connected.clear()
                self._stopping.wait(0.2)
        self._send_acks(client)
        client.disconnect()
        client.loop(timeout=0.1)

    def _send_acks(self, client: mqtt.Client) -> None:
        while True:
            try:
                generation, mid, qos = self._acks.get_nowait()
            except queue.Empty:
                return
            # An ack for a message of an earlier connection would ack the wrong message:
            # the broker redelivers those, and the database dedupes them.
            if generation == self._generation and client.is_connected():
                client.ack(mid, qos)

    # ------------------------------------------------------------------ writer thread
    def _refresh_catalog(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._catalog_loaded_at < 5.0:
            return
        try:
            with psycopg.connect(self.config.database_url, connect_timeout=5) as conn:
                self._catalog = load_catalog(conn)
            self._catalog_loaded_at = now
        except psycopg.Error as exc:
            log.warning("could not load the equipment catalog: %s", exc)

    def _writer_loop(self) -> None:
        pending: list[_Inbound] = []
        readings = ReadingBatch()
        dead: list[DeadLetter] = []
        batch_started = 0.0
        while True:
            stopping = self._stopping.is_set()
            age = time.monotonic() - batch_started
            timeout = max(self.config.batch_age_s - age, 0.0) if pending else 0.1
            item: _Inbound | None = None
            with contextlib.suppress(queue.Empty):
                item = self._inbox.get(timeout=timeout)
            if item is not None:
                if not pending:
                    batch_started = time.monotonic()
                pending.append(item)
                self._decode_into(item, readings, dead)
            full = (
                len(readings) >= self.config.batch_size
                or len(pending) >= self.config.queue_messages // 2
            )
            old = pending and time.monotonic() - batch_started >= self.config.batch_age_s
            if pending and (full or old or (stopping and self._inbox.empty())):
                if not self._commit(pending, readings, dead):
                    if self._stopping.is_set():
                        return  # not acked: the broker redelivers on the next start
                    continue
                pending, readings, dead = [], ReadingBatch(), []
            elif stopping and self._inbox.empty() and not pending:
                return
            if time.monotonic() - self._catalog_loaded_at > self.config.catalog_refresh_s:
                self._refresh_catalog()

    def _decode_into(self, item: _Inbound, readings: ReadingBatch, dead: list[DeadLetter]) -> None:
        self.stats.received += 1
        limits = self.config.limits
        try:
            decoded = decode(
                item.topic,
                item.payload,
                catalog=self._catalog,
                prefix=self.config.topic_prefix,
                now=item.received_at,
                limits=limits,
            )
        except Rejected as rej:
            if rej.reason == UNKNOWN_EQUIPMENT and time.monotonic() - self._catalog_loaded_at > 5.0:
                self._refresh_catalog()  # a machine registered since the last load
                try:
                    decoded = decode(
                        item.topic,
                        item.payload,
                        catalog=self._catalog,
                        prefix=self.config.topic_prefix,
                        now=item.received_at,
                        limits=limits,
                    )
                except Rejected as again:
                    self._quarantine(item, again, None, dead)
                    return
            else:
                self._quarantine(item, rej, None, dead)
                return
        readings.extend(decoded.equipment_id, decoded.times_us, decoded.channel_ids, decoded.values)
        if decoded.rejected:
            first = decoded.rejected[0]
            detail = "; ".join(r.detail for r in decoded.rejected[:20])
            if len(decoded.rejected) > 20:
                detail += f"; and {len(decoded.rejected) - 20} more"
            self._quarantine(item, Rejected(first.reason, detail), decoded.equipment_id, dead)

    def _quarantine(
        self, item: _Inbound, rej: Rejected, equipment_id: int | None, dead: list[DeadLetter]
    ) -> None:
        self.stats.quarantined[rej.reason] += 1
        dead.append(
            DeadLetter(
                item.received_at, item.topic, item.payload, rej.reason, rej.detail, equipment_id
            )
        )

    def _notify(self, listener: BatchListener, readings: ReadingBatch) -> None:
        """Tell a listener about a committed batch, retrying a few times.

        Listeners must be idempotent (the alert pipeline is): a batch may be told twice.
        A listener that keeps failing is logged with its batch size and skipped, so that
        a broken rule can never stop readings from being stored.
        """
        for attempt in range(1, 4):
            try:
                listener(readings)
                return
            except Exception:
                if attempt == 3:
                    self.stats.listener_failures += 1
                    log.exception(
                        "batch listener %r failed 3 times; %d readings not evaluated",
                        listener,
                        len(readings),
                    )
                    return
                self._stopping.wait(0.2 * attempt)

    def _commit(
        self, pending: list[_Inbound], readings: ReadingBatch, dead: list[DeadLetter]
    ) -> bool:
        delay = 0.2
        while True:
            try:
                started = time.monotonic()
                result = self._writer.write(readings, dead)
                commit_s = time.monotonic() - started
                break
            except StorageError as exc:
                self.stats.storage_failures += 1
                wait = delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
                log.warning("%s; retrying in %.1fs (messages stay unacknowledged)", exc, wait)
                if self._stopping.wait(wait):
                    return False
                delay = min(delay * 2, 10.0)
        self.stats.batches += 1
        self.stats.stored += result.inserted
        self.stats.duplicates += result.duplicates
        info = CommitInfo(
            messages=len(pending),
            readings=result.offered,
            inserted=result.inserted,
            dead_letters=result.dead_letters,
            commit_s=commit_s,
            oldest_wait_s=(datetime.now(UTC) - pending[0].received_at).total_seconds(),
            slow_path=result.slow_path,
        )
        for observer in self.observers:
            try:
                observer(info)
            except Exception:
                log.exception("commit observer %r failed", observer)
        for listener in self.listeners:
            self._notify(listener, readings)
        for item in pending:
            if item.qos > 0:
                self._acks.put((item.generation, item.mid, item.qos))
        return True

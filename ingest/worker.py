"""The ingest worker: an MQTT 5 session in, committed batches out, acks after commit.

Two threads. The network thread (ingest/session.py) owns the paho client, reconnects
with jittered backoff, reads messages into a bounded inbox (a full inbox stops it
reading, so the broker holds the rest) and sends the PUBACKs it is given. The writer
thread, here, takes chunks of messages from the inbox, decodes them into a batch,
commits the batch with its dead letters, tells the listeners, and only then hands the
batch's acks to the network thread. A batch that cannot be committed is retried until
the database is back; its messages stay unacknowledged. Messages received before a
reconnect are not acked: the broker redelivers them, and the database stores each
reading once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from ingest.batch import ReadingBatch
from ingest.catalog import Catalog, load_catalog
from ingest.errors import Rejected, StorageError
from ingest.protocol import UNKNOWN_EQUIPMENT, Decoded, Limits, decode
from ingest.session import Chunk, MqttSession, SessionConfig
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
        self._session = MqttSession(
            SessionConfig(
                host=config.mqtt_host,
                port=config.mqtt_port,
                client_id=config.client_id,
                subscription=config.subscription,
                username=config.mqtt_username,
                password=config.mqtt_password,
                session_expiry_s=config.session_expiry_s,
                receive_maximum=config.receive_maximum,
                keepalive_s=config.keepalive_s,
                inbox_messages=config.queue_messages,
            ),
            on_connected=self._count_connect,
        )
        self._stopping = threading.Event()  # writer: flush what is queued, then end
        self._writer = BatchWriter(config.database_url)
        self._writer_thread: threading.Thread | None = None
        self._catalog = Catalog()
        self._catalog_loaded_at = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._refresh_catalog(force=True)
        self._writer_thread = threading.Thread(
            target=self._writer_loop, name="ingest-writer", daemon=True
        )
        self._writer_thread.start()
        self._session.start()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._session.wait_connected(timeout_s)

    @property
    def connected(self) -> bool:
        return self._session.connected

    @property
    def inbox_depth(self) -> int:
        """Messages received from the broker and not yet in a batch (unacknowledged)."""
        return len(self._session.inbox)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Flush what was received, send its acks, disconnect (the session stays)."""
        self._session.stop_reading()
        self._stopping.set()
        if self._writer_thread is not None:
            self._writer_thread.join(timeout_s)
        self._session.stop(timeout_s)
        self._writer.close()

    def _count_connect(self) -> None:
        self.stats.connects += 1

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
        batch = _Batch()
        inbox = self._session.inbox
        age_s = self.config.batch_age_s
        while True:
            stopping = self._stopping.is_set()
            wait = max(age_s - (time.monotonic() - batch.started), 0.0) if batch else 0.1
            chunk = inbox.get(wait)
            if chunk is not None:
                batch.add(chunk)
                self._decode_chunk(chunk, batch)
            full = (
                len(batch.readings) >= self.config.batch_size
                or batch.messages >= self.config.queue_messages // 2
            )
            old = batch and time.monotonic() - batch.started >= age_s
            drained = stopping and not len(inbox)
            if batch and (full or old or drained):
                if not self._commit(batch):
                    if self._stopping.is_set():
                        return  # not acked: the broker redelivers on the next start
                    continue
                batch = _Batch()
            elif drained:
                return
            if time.monotonic() - self._catalog_loaded_at > self.config.catalog_refresh_s:
                self._refresh_catalog()

    def _decode_chunk(self, chunk: Chunk, batch: _Batch) -> None:
        received_at = datetime.fromtimestamp(chunk.received_at, UTC)
        self.stats.received += len(chunk.messages)
        for _mid, _qos, topic, payload in chunk.messages:
            self._decode_into(topic, payload, received_at, batch)

    def _decode_into(
        self, topic: str, payload: bytes, received_at: datetime, batch: _Batch
    ) -> None:
        def attempt() -> Decoded:
            return decode(
                topic,
                payload,
                catalog=self._catalog,
                prefix=self.config.topic_prefix,
                now=received_at,
                limits=self.config.limits,
            )

        try:
            decoded = attempt()
        except Rejected as rej:
            if rej.reason != UNKNOWN_EQUIPMENT or time.monotonic() - self._catalog_loaded_at <= 5.0:
                self._quarantine(topic, payload, received_at, rej, batch)
                return
            self._refresh_catalog()  # a machine registered since the last load
            try:
                decoded = attempt()
            except Rejected as again:
                self._quarantine(topic, payload, received_at, again, batch)
                return
        batch.readings.extend(
            decoded.equipment_id, decoded.times_us, decoded.channel_ids, decoded.values
        )
        if decoded.rejected:
            first = decoded.rejected[0]
            detail = "; ".join(r.detail for r in decoded.rejected[:20])
            if len(decoded.rejected) > 20:
                detail += f"; and {len(decoded.rejected) - 20} more"
            self._quarantine(
                topic,
                payload,
                received_at,
                Rejected(first.reason, detail),
                batch,
                equipment_id=decoded.equipment_id,
            )

    def _quarantine(
        self,
        topic: str,
        payload: bytes,
        received_at: datetime,
        rej: Rejected,
        batch: _Batch,
        *,
        equipment_id: int | None = None,
    ) -> None:
        self.stats.quarantined[rej.reason] += 1
        batch.dead.append(
            DeadLetter(received_at, topic, payload, rej.reason, rej.detail, equipment_id)
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

    def _commit(self, batch: _Batch) -> bool:
        delay = 0.2
        while True:
            try:
                started = time.monotonic()
                result = self._writer.write(batch.readings, batch.dead)
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
            messages=batch.messages,
            readings=result.offered,
            inserted=result.inserted,
            dead_letters=result.dead_letters,
            commit_s=commit_s,
            oldest_wait_s=time.time() - batch.first_received_at,
            slow_path=result.slow_path,
        )
        for observer in self.observers:
            try:
                observer(info)
            except Exception:
                log.exception("commit observer %r failed", observer)
        for listener in self.listeners:
            self._notify(listener, batch.readings)
        for generation, mids in batch.acks:
            self._session.ack(generation, mids)
        return True


class _Batch:
    """What the writer accumulates until a flush: readings, dead letters, acks to send."""

    def __init__(self) -> None:
        self.readings = ReadingBatch()
        self.dead: list[DeadLetter] = []
        self.acks: list[tuple[int, list[int]]] = []  # (generation, QoS 1 packet ids)
        self.messages = 0
        self.started = 0.0  # monotonic time of the first chunk
        self.first_received_at = 0.0  # wall time the first chunk arrived

    def __bool__(self) -> bool:
        return self.messages > 0

    def add(self, chunk: Chunk) -> None:
        if not self.messages:
            self.started = time.monotonic()
            self.first_received_at = chunk.received_at
        self.messages += len(chunk.messages)
        self.acks.append((chunk.generation, [mid for mid, qos, _t, _p in chunk.messages if qos]))

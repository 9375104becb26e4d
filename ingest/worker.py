"""The ingest worker: an MQTT 5 session in, committed batches out, acks after commit.

Three threads, a pipeline:

1. network (ingest/session.py): owns the paho client, reconnects with jittered
   backoff, reads messages into a bounded inbox (a full inbox stops it reading, so the
   broker keeps the rest) and sends the PUBACKs it is handed;
2. assembler: takes chunks of messages from the inbox and decodes them into a batch
   (ingest/assembly.py), until the batch is full or old enough; then hands it over;
3. committer: writes each batch with its dead letters in one transaction
   (ingest/writer.py), tells the observers and listeners, and only then hands the
   batch's acks to the network thread.

While one batch commits the next one is decoded, so a batch costs the longer of the
two, not their sum. At most one finished batch waits for the committer: when the
database is slow or away the assembler stops, the inbox fills, and the broker holds
the backlog. A batch that cannot be committed is retried until the database is back;
its messages stay unacknowledged. Messages received before a reconnect are never acked
on the new connection: the broker redelivers them, and the database stores each reading
once.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ingest.assembly import BatchAssembler, PendingBatch
from ingest.batch import ReadingBatch
from ingest.catalog import Catalog, load_catalog
from ingest.errors import StorageError
from ingest.protocol import Limits
from ingest.session import Chunk, MqttSession, SessionConfig
from ingest.writer import BatchWriter

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
    newest_reading_us: int | None = None  # the batch's latest reading time (freshness)


# Called on the committer thread after each commit; must be cheap and must not raise.
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
    # Unacknowledged messages the broker may send. A batch is flushed at half of it, so
    # the broker can send the next batch's messages while one commits (docs/protocol.md).
    receive_maximum: int = 10000
    queue_messages: int = 20000
    keepalive_s: int = 30
    catalog_refresh_s: float = 30.0
    limits: Limits = field(default_factory=Limits)
    retire: bool = False  # leave the share group and drain the session (IngestWorker.retire)

    @property
    def subscription(self) -> str:
        """The shared subscription of the worker group (a plain one if no group is set)."""
        topics = f"{self.topic_prefix}/+/telemetry"
        return f"$share/{self.share_group}/{topics}" if self.share_group else topics

    @property
    def batch_messages(self) -> int:
        """Messages that flush a batch, whatever its readings."""
        return max(1, min(self.queue_messages, self.receive_maximum) // 2)


@dataclass
class IngestStats:
    """Counters since start (read by the health endpoint, the metrics and the tests)."""

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
                retire=config.retire,
            ),
            on_connected=self._count_connect,
        )
        self._assembler = BatchAssembler(
            prefix=config.topic_prefix,
            limits=config.limits,
            load_catalog=self._load_catalog,
            refresh_s=config.catalog_refresh_s,
        )
        # The assembler's counts are the stats' (one object, two views).
        self.stats.quarantined = self._assembler.counts.quarantined
        self._ready: queue.Queue[PendingBatch | None] = queue.Queue(maxsize=1)
        self._stopping = threading.Event()  # flush what was received, then end
        self._abandoned = threading.Event()  # the committer gave up (stopping, database away)
        self._writer = BatchWriter(config.database_url)
        self._threads: list[threading.Thread] = []
        self._committing = 0  # messages in the batch being committed
        self._leftover = 0  # messages of a chunk taken from the inbox, not in a batch yet

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._assembler.refresh_catalog(force=True)
        self._threads = [
            threading.Thread(target=self._assemble_loop, name="ingest-assembler", daemon=True),
            threading.Thread(target=self._commit_loop, name="ingest-committer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
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

    @property
    def unacknowledged(self) -> int:
        """Messages received and not acknowledged yet: inbox, batches, the commit."""
        waiting = self._ready.queue[0] if self._ready.qsize() else None
        queued = waiting.messages if waiting else 0
        return self.inbox_depth + self._leftover + self._committing + queued

    def stop(self, timeout_s: float = 10.0) -> None:
        """Flush what was received, send its acks, disconnect (the session stays)."""
        self._session.stop_reading()
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._session.stop(timeout_s)
        self._writer.close()

    def retire(self, *, idle_s: float = 3.0, timeout_s: float = 3600.0) -> int:
        """Take a worker out of its share group for good, losing nothing; returns messages.

        With Mosquitto, a member of a share group that stops keeps getting its share of
        new messages, queued in its session, until it comes back or the session expires
        (then they are lost). Retiring leaves the group (UNSUBSCRIBE: the broker routes
        nothing new to this session), stores and acknowledges everything the session
        still holds, and ends the session. Start with ``retire=True`` in the config
        and the retiring worker's own client id, then call this instead of running.
        """
        if not self.config.retire:
            raise ValueError("retire() needs a worker configured with retire=True")
        self.start()
        deadline = time.monotonic() + timeout_s
        session = self._session
        while time.monotonic() < deadline:
            quiet = time.monotonic() - session.last_message_at > idle_s
            if session.unsubscribed.is_set() and quiet and self.unacknowledged == 0:
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise TimeoutError(f"the session still had messages after {timeout_s} s")
        self.stop()
        return self.stats.received

    def _count_connect(self) -> None:
        self.stats.connects += 1

    def _load_catalog(self) -> Catalog:
        with psycopg.connect(self.config.database_url, connect_timeout=5) as conn:
            return load_catalog(conn)

    # ------------------------------------------------------------------ assembler thread
    def _assemble_loop(self) -> None:
        assembler, inbox = self._assembler, self._session.inbox
        age_s = self.config.batch_age_s
        batch = self._new_batch()
        rest: tuple[Chunk, int] | None = None  # a chunk's messages not in a batch yet
        while True:
            stopping = self._stopping.is_set()
            if rest is None:
                wait = max(age_s - (time.monotonic() - batch.started), 0.0) if batch else 0.1
                chunk = inbox.get(wait)
                if chunk is not None:
                    rest = (chunk, 0)
            if rest is not None:
                chunk, start = rest
                end = assembler.add_chunk(chunk, batch, start)
                rest = (chunk, end) if end < len(chunk.messages) else None
                self._leftover = len(chunk.messages) - end
                self.stats.received = assembler.counts.received
            old = batch and time.monotonic() - batch.started >= age_s
            drained = stopping and rest is None and not len(inbox)
            if batch and (batch.full or old or drained):
                batch.readings.freeze()  # the columns, built here rather than while committing
                if not self._hand_over(batch):
                    return
                batch = self._new_batch()
            elif drained:
                self._hand_over(None)
                return
            assembler.refresh_catalog()

    def _new_batch(self) -> PendingBatch:
        return PendingBatch(self.config.batch_size, self.config.batch_messages)

    def _hand_over(self, batch: PendingBatch | None) -> bool:
        """Queue a batch (None: the end) for the committer; False if it gave up."""
        while not self._abandoned.is_set():
            try:
                self._ready.put(batch, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    # ------------------------------------------------------------------ committer thread
    def _commit_loop(self) -> None:
        while True:
            try:
                batch = self._ready.get(timeout=0.2)
            except queue.Empty:
                continue
            if batch is None:
                return
            self._committing = batch.messages
            committed = self._commit(batch)
            self._committing = 0
            if not committed:
                self._abandoned.set()  # not acked: the broker redelivers on the next start
                return

    def _commit(self, batch: PendingBatch) -> bool:
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
        times = batch.readings.time_us
        info = CommitInfo(
            messages=batch.messages,
            readings=result.offered,
            inserted=result.inserted,
            dead_letters=result.dead_letters,
            commit_s=commit_s,
            oldest_wait_s=time.time() - batch.first_received_at,
            slow_path=result.slow_path,
            newest_reading_us=int(times.max()) if len(times) else None,
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

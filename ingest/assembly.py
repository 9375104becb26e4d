"""Turning received messages into batches: decode, validate, quarantine, collect acks.

A :class:`PendingBatch` gathers the readings of many messages as columns, the dead
letters of the messages that were rejected, and the packet ids to acknowledge once the
batch is committed. :class:`BatchAssembler` decodes each message (ingest/protocol.py)
against the equipment catalog, counting what it receives and quarantines. Neither does
I/O: the catalog is loaded by a function the worker passes in.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.batch import ReadingBatch
from ingest.catalog import Catalog
from ingest.errors import Rejected
from ingest.protocol import UNKNOWN_EQUIPMENT, Decoded, Limits, decode
from ingest.session import Chunk
from ingest.writer import DeadLetter

log = logging.getLogger(__name__)


class PendingBatch:
    """What is accumulated until a flush: readings, dead letters, acks to send.

    It is full at ``readings_limit`` readings or ``messages_limit`` messages, checked
    after every message, so a burst of many messages never makes one huge batch.
    """

    def __init__(self, readings_limit: int = 5000, messages_limit: int = 5000) -> None:
        self.readings = ReadingBatch()
        self.dead: list[DeadLetter] = []
        self.messages = 0
        self.started = 0.0  # monotonic time of the first message
        self.first_received_at = 0.0  # wall time the first message arrived
        self._readings_limit = readings_limit
        self._messages_limit = messages_limit
        self._acks: dict[int, list[int]] = {}  # generation -> QoS 1 packet ids

    def __bool__(self) -> bool:
        return self.messages > 0

    @property
    def full(self) -> bool:
        return self.messages >= self._messages_limit or len(self.readings) >= self._readings_limit

    @property
    def acks(self) -> list[tuple[int, list[int]]]:
        """(generation, packet ids) to acknowledge once the batch is committed."""
        return list(self._acks.items())

    def take(self, generation: int, received_at: float, mid: int, qos: int) -> None:
        """Count a message in (its readings and dead letters are added by the assembler)."""
        if not self.messages:
            self.started = time.monotonic()
            self.first_received_at = received_at
        self.messages += 1
        if qos:
            self._acks.setdefault(generation, []).append(mid)


@dataclass
class AssemblyCounts:
    """Messages received and quarantined (by reason) since start."""

    received: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)


class BatchAssembler:
    """Decodes messages into a PendingBatch against the catalog of machines and channels.

    A message from an unknown machine makes it reload the catalog (at most every
    ``reload_s`` seconds), so a machine registered since the last load is not refused.
    """

    def __init__(
        self,
        *,
        prefix: str,
        limits: Limits,
        load_catalog: Callable[[], Catalog],
        refresh_s: float = 30.0,
        reload_s: float = 5.0,
    ) -> None:
        self.prefix = prefix
        self.limits = limits
        self.counts = AssemblyCounts()
        self._load_catalog = load_catalog
        self._refresh_s = refresh_s
        self._reload_s = reload_s
        self.catalog = Catalog()
        self._loaded_at = float("-inf")

    def refresh_catalog(self, *, force: bool = False) -> None:
        """Reload the catalog when it is older than ``refresh_s`` (or now, if forced)."""
        now = time.monotonic()
        if force or now - self._loaded_at >= self._refresh_s:
            self._reload(now)

    def _reload(self, now: float) -> None:
        try:
            self.catalog = self._load_catalog()
            self._loaded_at = now
        except Exception as exc:  # the database may be away: keep the catalog we have
            log.warning("could not load the equipment catalog: %s", exc)
            self._loaded_at = now - self._refresh_s + self._reload_s  # retry soon

    def add_chunk(self, chunk: Chunk, batch: PendingBatch, start: int = 0) -> int:
        """Decode ``chunk.messages[start:]`` into ``batch`` until it is full.

        Returns the index of the first message not taken (``len`` when all were).
        """
        received_at = datetime.fromtimestamp(chunk.received_at, UTC)
        messages = chunk.messages
        index = start
        while index < len(messages) and not batch.full:
            mid, qos, topic, payload = messages[index]
            batch.take(chunk.generation, chunk.received_at, mid, qos)
            self.counts.received += 1
            self.add_message(topic, payload, received_at, batch)
            index += 1
        return index

    def add_message(
        self, topic: str, payload: bytes, received_at: datetime, batch: PendingBatch
    ) -> None:
        try:
            decoded = self._decode(topic, payload, received_at)
        except Rejected as rej:
            if rej.reason != UNKNOWN_EQUIPMENT or not self._may_reload():
                self._quarantine(topic, payload, received_at, rej, batch)
                return
            self._reload(time.monotonic())  # a machine registered since the last load?
            try:
                decoded = self._decode(topic, payload, received_at)
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

    def _may_reload(self) -> bool:
        return time.monotonic() - self._loaded_at > self._reload_s

    def _decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded:
        return decode(
            topic,
            payload,
            catalog=self.catalog,
            prefix=self.prefix,
            now=received_at,
            limits=self.limits,
        )

    def _quarantine(
        self,
        topic: str,
        payload: bytes,
        received_at: datetime,
        rej: Rejected,
        batch: PendingBatch,
        *,
        equipment_id: int | None = None,
    ) -> None:
        self.counts.quarantined[rej.reason] += 1
        batch.dead.append(
            DeadLetter(received_at, topic, payload, rej.reason, rej.detail, equipment_id)
        )

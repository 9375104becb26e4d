"""Prometheus metrics of ingest: what arrived, what was stored or quarantined, how fast.

Counters are read from the worker's own stats at scrape time (one source of truth, no
double bookkeeping); distributions (batch sizes, commit latency, the wait from arrival
to commit) are observed on every commit through the worker's commit observer. The
broker's ``$SYS`` counters come from ``ingest.broker_watch``. Metric names follow the
Prometheus conventions (``_total`` counters, base units: seconds, bytes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.broker_watch import BrokerWatch
from ingest.worker import CommitInfo, IngestWorker

_SIZE_BUCKETS = (1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 20000)
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class CommitMetrics:
    """Histograms fed by the worker after each commit (``observe`` is a CommitObserver)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_readings = Histogram(
            "prognos_ingest_batch_readings",
            "Readings per committed batch",
            buckets=_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_messages = Histogram(
            "prognos_ingest_batch_messages",
            "MQTT messages per committed batch",
            buckets=_SIZE_BUCKETS,
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "prognos_ingest_commit_seconds",
            "Time to write a batch to the database (COPY and commit)",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.wait_seconds = Histogram(
            "prognos_ingest_receive_to_commit_seconds",
            "From the first message of a batch arriving at the worker to the batch's commit",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.newest_reading_us: int | None = None
        self.last_commit_at: float | None = None

    def observe(self, info: CommitInfo) -> None:
        self.batch_readings.observe(info.readings)
        self.batch_messages.observe(info.messages)
        self.commit_seconds.observe(info.commit_s)
        self.wait_seconds.observe(info.oldest_wait_s)
        if info.newest_reading_us is not None:
            self.newest_reading_us = max(self.newest_reading_us or 0, info.newest_reading_us)
        self.last_commit_at = time.time()


class IngestCollector(Collector):
    """Counters and gauges read from a running worker (and its broker watch) per scrape."""

    def __init__(
        self,
        worker: IngestWorker,
        commits: CommitMetrics,
        watch: BrokerWatch | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.worker = worker
        self.commits = commits
        self.watch = watch
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        stats = self.worker.stats
        yield _counter("prognos_ingest_messages_received", "MQTT messages received", stats.received)
        yield _counter("prognos_ingest_readings_stored", "Readings committed", stats.stored)
        yield _counter(
            "prognos_ingest_readings_duplicate",
            "Readings already stored (redeliveries), not stored again",
            stats.duplicates,
        )
        quarantined = CounterMetricFamily(
            "prognos_ingest_messages_quarantined",
            "Messages written to dead_letters, by reason",
            labels=["reason"],
        )
        for reason, count in sorted(stats.quarantined.items()):
            quarantined.add_metric([reason], count)
        yield quarantined
        yield _counter("prognos_ingest_batches", "Batches committed", stats.batches)
        yield _counter(
            "prognos_ingest_storage_failures",
            "Failed batch writes (each is retried; its messages stay unacknowledged)",
            stats.storage_failures,
        )
        yield _counter(
            "prognos_ingest_listener_failures",
            "Batches a listener (alert pipeline) gave up on",
            stats.listener_failures,
        )
        yield _counter(
            "prognos_ingest_broker_connects", "Connections to the broker", stats.connects
        )
        yield _gauge(
            "prognos_ingest_broker_connected",
            "1 while connected to the broker",
            self.worker.connected,
        )
        yield _gauge(
            "prognos_ingest_inbox_messages",
            "Messages received and waiting to be decoded",
            self.worker.inbox_depth,
        )
        yield _gauge(
            "prognos_ingest_unacknowledged_messages",
            "Messages received and not acknowledged yet (the worker's own spool: inbox, "
            "batches, the commit in flight); the broker keeps them until they are",
            self.worker.unacknowledged,
        )
        if self.commits.newest_reading_us is not None:
            yield _gauge(
                "prognos_ingest_lag_seconds",
                "Now minus the newest reading time committed (how far behind the data is)",
                self.clock() - self.commits.newest_reading_us / 1e6,
            )
        if self.watch is not None:
            yield from self._broker()

    def _broker(self) -> Iterator[Metric]:
        assert self.watch is not None  # noqa: S101
        values = self.watch.snapshot()
        described = {
            "dropped_messages": "Messages the broker dropped since it started ($SYS)",
            "stored_messages": "Messages the broker holds, queued and retained ($SYS)",
            "stored_bytes": "Bytes of the messages the broker holds ($SYS)",
            "clients_connected": "Clients connected to the broker ($SYS)",
        }
        for name, text in described.items():
            if name in values:
                yield _gauge(f"prognos_broker_{name}", text, values[name])


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=value)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=float(value))


def register(
    registry: CollectorRegistry, worker: IngestWorker, watch: BrokerWatch | None = None
) -> CommitMetrics:
    """Register ingest's metrics for ``worker``; returns the observer to attach to it."""
    commits = CommitMetrics(registry)
    registry.register(IngestCollector(worker, commits, watch))
    worker.observers.append(commits.observe)
    return commits

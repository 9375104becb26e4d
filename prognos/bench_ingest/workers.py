"""Ingest workers in processes of their own, so that their memory and CPU are their own."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from typing import Any

import numpy as np

from ingest.batch import ReadingBatch
from prognos.bench_ingest.database import PREFIX
from prognos.settings import MqttAddress


def _count(counter: Any, n: int) -> None:
    """Add to a shared counter: the parent waits on these, not on count(*) queries
    (which would scan the growing table and take CPU from the database under test)."""
    with counter.get_lock():
        counter.value += n


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 2)


def worker_main(
    url: str,
    mqtt: MqttAddress,
    client_id: str,
    group: str,
    record_latency: bool,
    committed: Any,
    stop: EventType,
    ready: Any,
    report: Any,
) -> None:
    """An ingest worker in its own process; reports stats, latencies and peak RSS."""
    from ingest.worker import IngestWorker, WorkerConfig  # noqa: PLC0415
    from prognos import logs  # noqa: PLC0415

    logs.configure("WARNING", json_lines=False)

    latencies: list[np.ndarray] = []
    commits: list[Any] = []  # CommitInfo of every batch

    def record(batch: ReadingBatch) -> None:
        now_us = time.time() * 1_000_000
        latencies.append((now_us - batch.freeze().time_us) / 1e6)

    worker = IngestWorker(
        WorkerConfig(
            database_url=url,
            mqtt_host=mqtt.host,
            mqtt_port=mqtt.port,
            mqtt_username=mqtt.username,
            mqtt_password=mqtt.password,
            topic_prefix=PREFIX,
            client_id=client_id,
            share_group=group,
        ),
        [record] if record_latency else [],
        [lambda info: _count(committed, info.inserted), commits.append],
    )
    worker.start()
    ready.put(worker.wait_connected(30))
    stop.wait()
    worker.stop()
    lat = np.concatenate(latencies) if latencies else np.empty(0)
    report.put(
        {
            "stats": worker.stats.snapshot(),
            "latencies": lat.astype(np.float32),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cpu_s": _cpu_seconds(),
            "commit_s": round(sum(c.commit_s for c in commits), 3),
            "batches": len(commits),
        }
    )


@dataclass
class Workers:
    procs: list[Any]
    stop: EventType
    report: Any
    committed: Any  # readings inserted, summed over the workers (a shared integer)

    def wait_committed(self, total: int, timeout_s: float = 300) -> float:
        """time.monotonic() when ``total`` readings are committed (raises on timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.committed.value >= total:
                return time.monotonic()
            time.sleep(0.002)
        raise RuntimeError(f"only {self.committed.value} of {total} readings arrived")

    def finish(self) -> list[dict[str, Any]]:
        self.stop.set()
        out = [self.report.get(timeout=120) for _ in self.procs]
        for p in self.procs:
            p.join(30)
        return out


def start_workers(
    ctx: Any, url: str, mqtt: MqttAddress, count: int, tag: str, *, record_latency: bool
) -> Workers:
    stop, ready, report = ctx.Event(), ctx.Queue(), ctx.Queue()
    committed = ctx.Value("q", 0)
    group = "" if tag == "plain" else f"bench-{tag}"
    procs = [
        ctx.Process(
            target=worker_main,
            args=(
                url,
                mqtt,
                f"bench-{tag}-{i}",
                group,
                record_latency,
                committed,
                stop,
                ready,
                report,
            ),
        )
        for i in range(count)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.get(timeout=60):
            raise RuntimeError("an ingest worker did not connect to the broker")
    time.sleep(0.5)  # subscriptions in place before the first publish
    return Workers(procs, stop, report, committed)

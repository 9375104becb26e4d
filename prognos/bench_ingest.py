"""``prognos bench ingest``: ingest throughput, latency and memory, measured in one run.

Measurements on the same machine, database and broker (private ones it starts, with
access control on, as the platform runs them):

- ceiling: the project's writer COPYing generated batches straight into the hypertable
  (and the same with a plain index instead of the unique one: the cost of dedupe);
- decode only: protocol v1 decoding and validation alone, on one core;
- naive: one INSERT per reading with autocommit, as hand-written bridges do;
- end to end: load publishers (device_sim/load.py, the gateway login) -> broker ->
  ``IngestWorker`` processes -> committed rows, QoS 1, for batched messages (50
  readings) with one worker and single-reading messages with two workers on the shared
  subscription; every reading is then verified present once;
- latency: publish-to-commit p50/p99 at half the batched end-to-end rate.

Every reading carries a unique value (its global index), so "present exactly once" is
checked with count and count(distinct). Workers run in processes of their own, so their
peak memory is their own; the parent follows their commits through a shared counter
rather than by counting rows, which would load the database under test.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from psycopg import sql

from device_sim.fleet import parse_fleet
from device_sim.load import BrokerLogin, LoadPlan, run_load
from ingest.batch import ReadingBatch
from ingest.catalog import load_catalog
from ingest.protocol import decode
from ingest.writer import BatchWriter
from prognos import migrations
from prognos.localservices import LocalServices
from prognos.seed import seed
from prognos.settings import MqttAddress

CHANNELS = ("c0", "c1", "c2", "c3", "c4")
PREFIX = "prognos-bench/v1"
BASE_MS = 0  # set per run: a time an hour ago, so every reading passes the time window


@dataclass
class BenchConfig:
    machines: int = 200
    ceiling_rows: int = 1_500_000
    naive_seconds: float = 5.0
    batched_readings: int = 1_500_000  # 30,000 messages of 50 readings
    single_readings: int = 200_000
    latency_seconds: float = 10.0
    publishers: int = 2

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(
            machines=50,
            ceiling_rows=200_000,
            naive_seconds=1.0,
            batched_readings=100_000,
            single_readings=20_000,
            latency_seconds=3.0,
        )


@dataclass
class Result:
    ceiling: float = 0.0
    ceiling_plain_index: float = 0.0
    naive: float = 0.0
    end_to_end: float = 0.0
    end_to_end_single_2_workers: float = 0.0
    lost: int = 0
    duplicated: int = 0
    latency_p50_s: float = 0.0
    latency_p99_s: float = 0.0
    latency_rate: float = 0.0
    peak_rss_mb: float = 0.0
    decode: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def ratios(self) -> dict[str, float]:
        return {
            "end_to_end_over_ceiling": round(self.end_to_end / self.ceiling, 3)
            if self.ceiling
            else 0.0,
            "end_to_end_over_naive": round(self.end_to_end / self.naive, 1) if self.naive else 0.0,
            "dedupe_cost": round(1 - self.ceiling / self.ceiling_plain_index, 3)
            if self.ceiling_plain_index
            else 0.0,
        }


# ---------------------------------------------------------------- fleet and database
def bench_fleet(machines: int) -> dict[str, Any]:
    return {
        "seed": 1,
        "families": [{"code": "bench", "name": "Benchmark machine"}],
        "models": [
            {
                "code": "BENCH-5",
                "family": "bench",
                "name": "Five-channel benchmark model",
                "channels": [
                    {
                        "code": c,
                        "unit": "u",
                        "nominal": 0,
                        "valid": [-1e15, 1e15],
                        "physical": [-1e15, 1e15],
                    }
                    for c in CHANNELS
                ],
            }
        ],
        "customers": [{"code": "C-BENCH", "name": "Benchmark"}],
        "equipment": [
            {
                "serial": f"B-{i:05d}",
                "model": "BENCH-5",
                "customer": "C-BENCH",
                "lat": 30.0,
                "lon": 114.0,
                "commissioned": date(2026, 1, 1),
                "warranty_end": date(2028, 1, 1),
            }
            for i in range(machines)
        ],
    }


def with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def fresh_database(
    admin_url: str, name: str, machines: int
) -> tuple[str, dict[str, tuple[int, list[int]]]]:
    with psycopg.connect(with_dbname(admin_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin_url, name)
    with psycopg.connect(url) as conn:
        migrations.migrate(conn)
        seed(conn, parse_fleet(bench_fleet(machines), "<bench>"))
        catalog = load_catalog(conn)
    ids = {s: (e.id, [e.channels[c].id for c in CHANNELS]) for s, e in catalog.equipment.items()}
    return url, ids


def truncate(url: str) -> None:
    """Empty the tables and checkpoint, so every phase starts from the same state (no
    checkpoint left pending from the phase before to slow it down)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE readings, dead_letters, rollup_dirty")
        conn.execute("CHECKPOINT")


def verify(url: str, total: int) -> tuple[int, int]:
    """(lost, duplicated) for readings valued 0..total-1, each expected exactly once."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT value) FROM readings").fetchone()
    assert row is not None  # noqa: S101
    count, distinct = int(row[0]), int(row[1])
    return total - distinct, count - distinct


# ---------------------------------------------------------------- ceiling and naive
def measure_ceiling(
    url: str, ids: dict[str, tuple[int, list[int]]], rows: int, batch: int = 5000
) -> float:
    eq = np.array([ids[s][0] for s in sorted(ids)], np.int32)
    chans = np.array(ids[sorted(ids)[0]][1], np.int16)
    idx = np.arange(rows)
    per_sample = len(eq) * len(chans)
    base_us = (int(time.time()) - 3600) * 1_000_000
    batches = []
    for start in range(0, rows, batch):
        i = idx[start : start + batch]
        batches.append(
            ReadingBatch.from_columns(
                base_us + (i // per_sample).astype(np.int64),
                eq[(i // len(chans)) % len(eq)],
                chans[i % len(chans)],
                i.astype(np.float64),
            )
        )
    writer = BatchWriter(url)
    try:
        started = time.perf_counter()
        for b in batches:
            writer.write(b)
        return rows / (time.perf_counter() - started)
    finally:
        writer.close()


def measure_plain_index(url: str, ids: dict[str, tuple[int, list[int]]], rows: int) -> float:
    """The same COPY into a copy of the table whose index is not unique (no dedupe)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX readings_identity_idx")
        conn.execute(
            "CREATE INDEX readings_plain_idx ON readings (equipment_id, channel_id, time DESC)"
        )
    try:
        truncate(url)
        return measure_ceiling(url, ids, rows)
    finally:
        truncate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP INDEX readings_plain_idx")
            conn.execute(
                "CREATE UNIQUE INDEX readings_identity_idx "
                "ON readings (equipment_id, channel_id, time DESC)"
            )


def measure_decode(url: str, machines: list[str], messages: int = 20_000) -> float:
    """Readings/s that protocol v1 decoding and validation alone reach on one core.

    Measured beside the ceiling to tell whether a compact payload (MessagePack, arrays)
    could pay: while decoding is several times faster than the database takes rows,
    a cheaper format cannot raise the end-to-end rate (docs/benchmarks.md).
    """
    with psycopg.connect(url) as conn:
        catalog = load_catalog(conn)
    plan = LoadPlan(
        serials=tuple(machines),
        channels=CHANNELS,
        messages_per_machine=max(messages // len(machines), 1),
        samples_per_message=10,
        base_ms=(int(time.time()) - 3600) * 1000,
        prefix=PREFIX,
    )
    payloads = [
        (f"{PREFIX}/{plan.serials[k]}/telemetry", plan.payload(r, k))
        for r in range(plan.messages_per_machine)
        for k in range(len(machines))
    ]
    now = datetime.now(UTC)
    started = time.perf_counter()
    readings = sum(
        len(decode(t, p, catalog=catalog, prefix=PREFIX, now=now).values) for t, p in payloads
    )
    return readings / (time.perf_counter() - started)


def measure_naive(url: str, ids: dict[str, tuple[int, list[int]]], seconds: float) -> float:
    eq, chans = ids[sorted(ids)[0]]
    base = datetime.now(UTC) - timedelta(hours=1)
    n = 0
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute(
                "INSERT INTO readings (time, equipment_id, channel_id, value) VALUES (%s, %s, %s, %s)",
                (base + timedelta(microseconds=n), eq, chans[n % len(chans)], float(n)),
            )
            n += 1
        return n / (time.perf_counter() - started)


# ---------------------------------------------------------------- processes
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


@dataclass(frozen=True)
class Rig:
    """What every end-to-end phase runs on."""

    ctx: Any
    url: str
    ingest: MqttAddress  # the workers' login (reads telemetry)
    gateway: MqttAddress  # the load publishers' login (may publish for any machine)
    machines: list[str]
    publishers: int


def end_to_end(
    rig: Rig,
    readings: int,
    *,
    samples: int,
    channels: int,
    workers: int,
    tag: str,
    rate_readings: float | None = None,
) -> dict[str, Any]:
    """Publish ``readings`` readings and wait until all are committed; returns the figures."""
    url, machines = rig.url, rig.machines
    truncate(url)
    per_message = samples * channels
    messages_per_machine = max(readings // (per_message * len(machines)), 1)
    total = messages_per_machine * len(machines) * per_message
    # Latencies are recorded only in the paced phase, so full-rate phases measure the
    # worker's own memory, not the benchmark's bookkeeping.
    pool = start_workers(
        rig.ctx, url, rig.ingest, workers, tag, record_latency=rate_readings is not None
    )
    try:
        plan = LoadPlan(
            serials=tuple(machines),
            channels=CHANNELS[:channels],
            messages_per_machine=messages_per_machine,
            samples_per_message=samples,
            base_ms=(int(time.time()) - 3600) * 1000,
            prefix=PREFIX,
            live=rate_readings is not None,
        )
        load = run_load(
            plan,
            BrokerLogin(
                rig.gateway.host, rig.gateway.port, rig.gateway.username, rig.gateway.password
            ),
            processes=rig.publishers,
            rate_msgs=None if rate_readings is None else rate_readings / per_message,
            client_prefix=f"bench-load-{tag}",
        )
        started = load.finished_at - load.seconds
        finished = pool.wait_committed(total)
    finally:
        reports = pool.finish()
    lost, duplicated = verify(url, total)
    latencies = np.concatenate([np.asarray(r["latencies"]) for r in reports])
    return {
        "readings": total,
        "messages": load.messages,
        "publisher_reconnects": load.reconnects,
        "refused_by_broker": load.refused,
        "unrouted_by_broker": load.unrouted,
        "rate": total / (finished - started),
        "lost": lost,
        "duplicated": duplicated,
        "latency_p50_s": float(np.percentile(latencies, 50)) if len(latencies) else None,
        "latency_p99_s": float(np.percentile(latencies, 99)) if len(latencies) else None,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in reports),
        "cpu_s": {
            "publishers": round(load.cpu_s, 2),
            "workers": round(sum(r["cpu_s"] for r in reports), 2),
        },
        "worker_stats": [r["stats"] for r in reports],
        "worker_reports": [{k: r[k] for k in ("commit_s", "batches", "cpu_s")} for r in reports],
    }


def run(config: BenchConfig, progress: Any = print) -> Result:
    """Run every measurement against private local services; returns the figures."""
    ctx = mp.get_context("spawn")
    home = Path(tempfile.mkdtemp(prefix="prognos-bench-"))
    home.chmod(0o755)
    services = LocalServices(home, durable=True, topic_prefix=PREFIX)  # access control on
    result = Result()
    try:
        endpoints = services.start()
        url, ids = fresh_database(endpoints.database_url, "prognos_bench", config.machines)
        rig = Rig(
            ctx=ctx,
            url=url,
            ingest=MqttAddress.parse(endpoints.mqtt_url),
            gateway=MqttAddress.parse(services.mosquitto.gateway_url),
            machines=sorted(ids),
            publishers=config.publishers,
        )
        progress("ceiling: the writer COPYing into the hypertable ...")
        truncate(url)
        result.ceiling = measure_ceiling(url, ids, config.ceiling_rows)
        truncate(url)
        progress("the same without the unique index (the cost of deduplication) ...")
        result.ceiling_plain_index = measure_plain_index(url, ids, config.ceiling_rows)
        progress("decoding alone (protocol v1 JSON, one core) ...")
        result.decode = measure_decode(url, rig.machines)
        progress("naive: one INSERT per reading, autocommit ...")
        result.naive = measure_naive(url, ids, config.naive_seconds)
        progress("end to end: batched messages (50 readings), one worker ...")
        batched = end_to_end(
            rig, config.batched_readings, samples=10, channels=5, workers=1, tag="batched"
        )
        result.end_to_end = batched["rate"]
        progress("end to end: single-reading messages, two workers ...")
        single = end_to_end(
            rig, config.single_readings, samples=1, channels=1, workers=2, tag="single"
        )
        result.end_to_end_single_2_workers = single["rate"]
        half = result.end_to_end / 2
        progress(f"latency at half the batched rate ({half:,.0f} readings/s) ...")
        latency = end_to_end(
            rig,
            int(half * config.latency_seconds),
            samples=10,
            channels=5,
            workers=1,
            tag="latency",
            rate_readings=half,
        )
        result.lost = batched["lost"] + single["lost"] + latency["lost"]
        result.duplicated = batched["duplicated"] + single["duplicated"] + latency["duplicated"]
        result.latency_p50_s = latency["latency_p50_s"] or 0.0
        result.latency_p99_s = latency["latency_p99_s"] or 0.0
        result.latency_rate = latency["rate"]
        result.peak_rss_mb = max(batched["peak_rss_mb"], single["peak_rss_mb"])
        result.details = {
            "batched": batched,
            "single": single,
            "latency": latency,
            "config": config.__dict__,
        }
        return result
    finally:
        with contextlib.suppress(Exception):
            services.stop()
        shutil.rmtree(home, ignore_errors=True)


def report(result: Result, *, as_json: bool) -> str:
    figures = {
        "ceiling": round(result.ceiling),
        "ceiling_without_dedupe": round(result.ceiling_plain_index),
        "naive": round(result.naive),
        "end_to_end": round(result.end_to_end),
        "end_to_end_single_2_workers": round(result.end_to_end_single_2_workers),
        "lost": result.lost,
        "duplicated": result.duplicated,
        "latency_p50_s": round(result.latency_p50_s, 4),
        "latency_p99_s": round(result.latency_p99_s, 4),
        "latency_at_readings_per_s": round(result.latency_rate),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "decode_only": round(result.decode),
        **result.ratios(),
    }
    if as_json:
        return json.dumps(figures)
    width = max(len(k) for k in figures)
    return "\n".join(
        f"{k:<{width}}  {v:,}" if isinstance(v, int) else f"{k:<{width}}  {v}"
        for k, v in figures.items()
    )

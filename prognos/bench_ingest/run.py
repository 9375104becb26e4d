"""One benchmark run: every phase against private services, the figures and their report."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from device_sim.load import BrokerLogin, LoadPlan, run_load
from prognos.bench_ingest.database import (
    CHANNELS,
    PREFIX,
    fresh_database,
    measure_ceiling,
    measure_decode,
    measure_naive,
    measure_plain_index,
    truncate,
    verify,
)
from prognos.bench_ingest.workers import start_workers
from prognos.localservices import LocalServices
from prognos.settings import MqttAddress


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

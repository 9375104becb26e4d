"""``prognos bench score``: machines scored per minute (docs/benchmarks.md).

Two measurements in one run, the Python side pinned to one core:

* in memory (models/bench.py): the latest hour of N machines scored all at once by the
  family model, against a naive loop scoring one machine at a time;
* end to end: a private PostgreSQL + TimescaleDB is started, the same kind of fleet is
  registered, its minute rollups loaded, a model trained and registered, and one run of
  the scoring job reads the window (time_bucket over ``readings_1m``), scores every
  machine and upserts the health rows.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from models import bench, synthetic
from models.scoring import ScoringJob, ScoringSettings
from models.training import TrainSettings, train
from prognos import db, migrations
from prognos.bench_ingest import with_dbname
from prognos.localservices import LocalServices

HISTORY_MACHINES = 200
HISTORY_HOURS = 12


def register_fleet(conn: psycopg.Connection[Any], machines: int) -> dict[str, int]:
    """One family (concrete_pump), one model with the synthetic pump's channels, and
    machines with ids 1..machines; returns channel code -> channel id."""
    conn.execute("INSERT INTO equipment_families VALUES ('concrete_pump', 'Concrete pump')")
    (model,) = conn.execute(
        "INSERT INTO equipment_models (code, family, name) "
        "VALUES ('HBT-62', 'concrete_pump', 'pump') RETURNING id"
    ).fetchone() or (0,)
    ids = {}
    for code in [*bench.CODES, "operating_hours"]:
        (cid,) = conn.execute(
            "INSERT INTO channels (model_id, code, name, unit) VALUES (%s, %s, %s, '-') RETURNING id",
            (model, code, code),
        ).fetchone() or (0,)
        ids[code] = int(cid)
    (customer,) = conn.execute(
        "INSERT INTO customers (code, name) VALUES ('C1', 'c') RETURNING id"
    ).fetchone() or (0,)
    conn.execute(
        "INSERT INTO equipment (id, serial_number, model_id, customer_id, latitude, longitude,"
        " commissioned_on, warranty_end) OVERRIDING SYSTEM VALUE"
        " SELECT i, 'CP-' || lpad(i::text, 6, '0'), %s, %s, 28, 113, '2025-01-01', '2027-01-01'"
        " FROM generate_series(1, %s) AS i",
        (model, customer, machines),
    )
    return ids


def load_rollups(conn: psycopg.Connection[Any], frame: pd.DataFrame, ids: dict[str, int]) -> None:
    """Aggregates as minute rollups (``readings_1m``), in one COPY."""
    rows = pd.DataFrame(
        {
            "bucket": frame["bucket"],
            "equipment_id": frame["equipment_id"],
            "channel_id": frame["channel"].map(ids),
            "min": frame["min"],
            "max": frame["max"],
            "mean": frame["mean"],
            "count": frame["count"],
            "last": frame["mean"],
            "last_time": frame["bucket"],
        }
    )
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY readings_1m (bucket, equipment_id, channel_id, min, max, mean, count, last,"
            " last_time) FROM STDIN (FORMAT CSV)"
        ) as copy,
    ):
        copy.write(rows.to_csv(index=False, header=False, date_format="%Y-%m-%dT%H:%M:%SZ"))


def end_to_end(admin_url: str, machines: int, progress: Any) -> dict[str, Any]:
    name = "prognos_bench_score"
    with psycopg.connect(with_dbname(admin_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin_url, name)
    start = pd.Timestamp(bench.NOW) - pd.Timedelta(hours=HISTORY_HOURS + 1)
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn)
        ids = register_fleet(conn, machines)
        progress(f"loading {HISTORY_HOURS} h of rollups of {HISTORY_MACHINES} machines ...")
        history = synthetic.fleet(HISTORY_MACHINES, 60, windows=HISTORY_HOURS, seed=1, start=start)
        load_rollups(conn, history, ids)
        progress(f"loading the latest hour of {machines:,} machines ...")
        latest = synthetic.fleet(
            machines,
            60,
            seed=1,
            noise_seed=7,
            faults=bench.faults_for(machines),
            start=pd.Timestamp(bench.NOW) - pd.Timedelta(hours=1),
        )
        load_rollups(conn, latest, ids)
        conn.execute("ANALYZE readings_1m")
        progress("training and registering the model ...")
        started = time.perf_counter()
        settings = TrainSettings(days=HISTORY_HOURS / 24, source="rollup")
        train(conn, settings, now=bench.NOW - timedelta(hours=1))
        train_s = time.perf_counter() - started
    pool = db.make_pool(url, size=2, name="bench-score")
    try:
        job = ScoringJob(pool, ScoringSettings(window_s=3600, bucket_s=60, source="rollup"))
        progress(f"one scoring run over {machines:,} machines ...")
        started = time.perf_counter()
        report = job.run_once(bench.NOW)
        run_s = time.perf_counter() - started
    finally:
        pool.close()
    return {
        "machines": machines,
        "bucket_rows_read": len(latest),
        "health_rows_written": report.scored,
        "anomalous": report.anomalous,
        "run_seconds": round(run_s, 2),
        "machines_per_min": round(report.scored / run_s * 60),
        "train_seconds": round(train_s, 1),
    }


def main(*, quick: bool = False, as_json: bool = False) -> int:
    progress = (lambda _m: None) if as_json else (lambda m: print(m, flush=True))
    memory_machines = 2_000 if quick else 10_000
    db_machines = 1_000 if quick else 10_000
    result: dict[str, Any] = {"target_machines_per_min": 10_000}
    result["in_memory"] = bench.run(memory_machines, progress=progress)
    home = Path(tempfile.mkdtemp(prefix="prognos-bench-score-"))
    home.chmod(0o755)
    services = LocalServices(home, durable=True)
    try:
        endpoints = services.start(postgres=True, mosquitto=False)
        with threadpool_limits(limits=1):
            result["end_to_end"] = end_to_end(endpoints.database_url, db_machines, progress)
    finally:
        services.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result) if as_json else report(result))
    return 0


def report(result: dict[str, Any]) -> str:
    mem, e2e = result["in_memory"], result["end_to_end"]
    return "\n".join(
        [
            f"target: {result['target_machines_per_min']:,} machines scored per minute on one core",
            f"in memory, {mem['machines']:,} machines (CPU {mem['cpu']}):",
            f"  vectorised: {mem['vectorised_machines_per_min']:>10,} machines/min "
            f"({mem['vectorised_seconds']} s for all)",
            f"  naive loop: {mem['naive_machines_per_min']:>10,} machines/min "
            f"(one at a time, {mem['naive_machines']} machines): {mem['speedup']}x",
            f"  {mem['anomalous']} anomalous of {mem['machines']:,} ({mem['faulty']} with a fault); "
            f"same statistics both ways: {mem['same_statistics']}",
            f"end to end, {e2e['machines']:,} machines (read {e2e['bucket_rows_read']:,} rollup "
            f"rows, score, upsert {e2e['health_rows_written']:,} health rows):",
            f"  {e2e['machines_per_min']:>10,} machines/min ({e2e['run_seconds']} s per run; "
            f"training took {e2e['train_seconds']} s)",
        ]
    )

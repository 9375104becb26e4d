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
    with_dbname,
)
from prognos.bench_ingest.run import BenchConfig, Result, Rig, end_to_end, report, run

__all__ = [
    "CHANNELS",
    "PREFIX",
    "BenchConfig",
    "Result",
    "Rig",
    "end_to_end",
    "fresh_database",
    "measure_ceiling",
    "measure_decode",
    "measure_naive",
    "measure_plain_index",
    "report",
    "run",
    "truncate",
    "verify",
    "with_dbname",
]

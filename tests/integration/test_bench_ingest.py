"""``prognos bench ingest`` runs end to end at a tiny size and proves what it reports.

Not a timed test: the figures are not checked, only that every phase ran, that each
published reading was found stored exactly once, and that the report has its keys.
"""

from __future__ import annotations

import json

from prognos.bench_ingest import BenchConfig, report, run


def test_the_benchmark_runs_every_phase_and_loses_nothing() -> None:
    config = BenchConfig(
        machines=20,
        ceiling_rows=20_000,
        naive_seconds=0.3,
        batched_readings=20_000,
        single_readings=4_000,
        latency_seconds=1.0,
    )
    result = run(config, progress=lambda _message: None)
    figures = json.loads(report(result, as_json=True))
    for key in ("ceiling", "naive", "end_to_end", "end_to_end_single_2_workers", "decode_only"):
        assert figures[key] > 0, key
    assert (figures["lost"], figures["duplicated"]) == (0, 0)
    for phase in ("batched", "single", "latency"):
        details = result.details[phase]
        assert details["refused_by_broker"] == 0
        assert details["unrouted_by_broker"] == 0
    assert 0 < figures["latency_p50_s"] <= figures["latency_p99_s"]
    assert figures["peak_rss_mb"] > 0
    assert {"end_to_end_over_ceiling", "end_to_end_over_naive"} <= figures.keys()

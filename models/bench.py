"""The scoring benchmark's in-memory part: the vectorised scorer against a naive loop.

A family model is trained on a synthetic fleet's healthy history; then the latest
one-hour window (60 one-minute buckets of 8 channels) of ``machines`` machines, 2 % of
them with a fault, is scored twice on one core: all machines at once (what the scoring
job does) and one machine at a time (the baseline). Both produce the same health rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from models import synthetic
from models.family import FamilyModel, TrainingConfig, train_family
from models.health import assemble
from models.injection import MACHINE_MODES, SENSOR_MODES, Injected

CODES = [c.code for c in synthetic.PUMP]
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
NO_HISTORY = pd.DataFrame(columns=["equipment_id", "hour", "statistic"])


def one_core() -> int:
    """Pin this process to one CPU; returns the CPU."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def trained_model(history_machines: int = 200, seed: int = 1) -> FamilyModel:
    history = synthetic.fleet(history_machines, 60, windows=12, seed=seed)
    model, _ = train_family("bench", history, CODES, TrainingConfig(injections=600))
    return model


def faults_for(machines: int, share: float = 0.02, seed: int = 2) -> dict[int, Injected]:
    rng = np.random.default_rng(seed)
    picked = rng.choice(np.arange(1, machines + 1), size=int(machines * share), replace=False)
    modes = MACHINE_MODES + SENSOR_MODES
    out = {}
    for m in picked:
        mode = modes[int(rng.integers(len(modes)))]
        channel = CODES[int(rng.integers(len(CODES)))] if mode in SENSOR_MODES else None
        out[int(m)] = Injected(mode, float(rng.uniform(0.5, 1.0)), channel)
    return out


def score_all(model: FamilyModel, window: pd.DataFrame) -> pd.DataFrame:
    return assemble(model.score(window), model, 1, NOW, NO_HISTORY)


def score_each(model: FamilyModel, parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([score_all(model, part) for part in parts], ignore_index=True)


def run(
    machines: int,
    *,
    baseline_machines: int = 300,
    history_machines: int = 200,
    pin: bool = True,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Machines scored per minute, vectorised and one at a time, on one core (``pin``:
    this process stays pinned to it afterwards)."""
    cpu = one_core() if pin else -1
    with threadpool_limits(limits=1):
        progress(
            f"training a family model on {history_machines} machines x 12 hours of "
            "synthetic history ..."
        )
        model = trained_model(history_machines)
        progress(f"building the latest hour of {machines:,} machines ...")
        window = synthetic.fleet(machines, 60, seed=1, noise_seed=7, faults=faults_for(machines))
        progress("scoring all machines at once ...")
        started = time.perf_counter()
        rows = score_all(model, window)
        vectorised_s = time.perf_counter() - started
        sample = min(baseline_machines, machines)
        groups = window[window["equipment_id"] <= sample].groupby("equipment_id", sort=True)
        parts = [part for _, part in groups]
        progress(f"scoring {sample} machines one at a time (baseline) ...")
        started = time.perf_counter()
        each = score_each(model, parts)
        naive_s = time.perf_counter() - started
    same = rows[rows["equipment_id"] <= sample].reset_index(drop=True)
    agree = bool(np.allclose(same["statistic"], each["statistic"]))
    vectorised = machines / vectorised_s * 60
    naive = sample / naive_s * 60
    return {
        "machines": machines,
        "cpu": cpu,
        "bucket_rows": len(window),
        "vectorised_machines_per_min": round(vectorised),
        "vectorised_seconds": round(vectorised_s, 2),
        "naive_machines_per_min": round(naive),
        "naive_machines": sample,
        "speedup": round(vectorised / naive, 1),
        "anomalous": int(rows["anomalous"].sum()),
        "faulty": int(machines * 0.02),
        "same_statistics": agree,
    }

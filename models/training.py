"""``prognos train``: fit every family's model from stored history, and register it.

History is read per family in batches of machines (so a family of thousands of machines
never sits in memory at once): the first batch fits the load model and is where failure
modes are injected for the classifier; every batch adds its window features. The new
version is saved with its metadata (data range, channels, features, metrics, settings,
library versions) and marked active.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from models import registry, store
from models.errors import ModelsError, NotEnoughDataError
from models.family import TrainingConfig, fit_load_model, train_from_features
from models.features import feature_names, window_features

Progress = Callable[[str], None]
# machine -> time ranges its history must not be learned from (a service record: the
# machine was broken or being repaired, or a sensor was replaced)
Exclusions = Mapping[int, Sequence[tuple[datetime, datetime]]]


@dataclass(frozen=True)
class TrainSettings:
    days: float = 7.0
    window_s: float = 3600.0
    bucket_s: float = 60.0
    source: str = "rollup"
    batch_machines: int = 100


@dataclass(frozen=True)
class Outcome:
    family: str
    version: int | None  # None: not trained
    message: str


def train(
    conn: psycopg.Connection[Any],
    settings: TrainSettings,
    *,
    families: list[str] | None = None,
    now: datetime | None = None,
    config: TrainingConfig | None = None,
    progress: Progress = lambda _msg: None,
    exclude: Exclusions | None = None,
) -> list[Outcome]:
    """Train the families asked for (default: every family with machines).

    Windows of a machine that overlap one of its ``exclude`` ranges are left out.
    """
    end = now or datetime.now(UTC)
    start = end - timedelta(days=settings.days)
    catalog = store.catalog(conn)
    wanted = families or sorted(f for f, fam in catalog.items() if fam.machines)
    outcomes = []
    for family in wanted:
        if family not in catalog:
            outcomes.append(Outcome(family, None, f"unknown family {family!r}"))
            continue
        try:
            version, message = _train_one(
                conn,
                catalog[family],
                start=start,
                end=end,
                settings=settings,
                config=config or TrainingConfig(),
                progress=progress,
                exclude=exclude or {},
            )
        except ModelsError as exc:
            version, message = None, str(exc)
        progress(f"{family}: {message}")
        outcomes.append(Outcome(family, version, message))
    return outcomes


def _train_one(
    conn: psycopg.Connection[Any],
    family: store.Family,
    *,
    start: datetime,
    end: datetime,
    settings: TrainSettings,
    config: TrainingConfig,
    progress: Progress,
    exclude: Exclusions,
) -> tuple[int, str]:
    if not family.machines:
        raise NotEnoughDataError(f"{family.code} has no machines")
    if not family.channels:
        raise NotEnoughDataError(f"{family.code}: its models share no health channel")
    batches = [
        family.machines[i : i + settings.batch_machines]
        for i in range(0, len(family.machines), settings.batch_machines)
    ]
    sample: pd.DataFrame | None = None
    parts = []
    load_model = None
    first, last = None, None
    for number, machines in enumerate(batches, start=1):
        history = store.window_aggregates(
            conn,
            start,
            end,
            bucket_s=settings.bucket_s,
            window_s=settings.window_s,
            machines=machines,
            source=settings.source,
        )
        progress(
            f"{family.code}: batch {number}/{len(batches)}: {len(machines)} machines, "
            f"{len(history)} bucket rows"
        )
        history = drop_excluded(history, start, settings.window_s, exclude)
        if history.empty:
            continue
        if load_model is None:
            load_model = fit_load_model(history, family.channels)
            sample = history
        parts.append(window_features(history, load_model))
        low, high = history["bucket"].min(), history["bucket"].max()
        first = low if first is None else min(first, low)
        last = high if last is None else max(last, high)
    if load_model is None or sample is None:
        raise NotEnoughDataError(
            f"{family.code}: no readings between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} "
            f"UTC in {'readings_1m' if settings.source == 'rollup' else 'readings'}"
        )
    model, metrics = train_from_features(
        family.code, load_model, pd.concat(parts), sample, config=config, progress=progress
    )
    metadata = {
        "family": family.code,
        "data_range": [
            first.isoformat() if first is not None else None,
            last.isoformat() if last is not None else None,
        ],
        "requested_range": [start.isoformat(), end.isoformat()],
        "channels": model.channels,
        "load_channel": model.load_model.load,
        "features": feature_names(model.channels),
        "metrics": metrics,
        "settings": asdict(settings),
        "config": asdict(config),
    }
    version = registry.save(conn, model, metadata, activate=True)
    return version, (
        f"version {version} active ({metrics['windows']} windows of {metrics['machines']} "
        f"machines, alarm threshold {metrics['alarm_threshold']:.2f})"
    )


def drop_excluded(
    history: pd.DataFrame, start: datetime, window_s: float, exclude: Exclusions
) -> pd.DataFrame:
    """``history`` without the windows that overlap their machine's excluded ranges."""
    if not exclude or history.empty:
        return history
    machine = history["equipment_id"].to_numpy()
    low = start.timestamp() + history["window"].to_numpy() * window_s
    high = low + window_s
    drop = np.zeros(len(history), dtype=bool)
    for equipment_id, ranges in exclude.items():
        mine = machine == equipment_id
        if not mine.any():
            continue
        for first, last in ranges:
            drop |= mine & (low < last.timestamp()) & (high > first.timestamp())
    return history[~drop].reset_index(drop=True)


def schedule_retraining(
    scheduler: Any, pool: Any, settings: TrainSettings, interval_s: float
) -> None:
    """Retrain every family every ``interval_s`` seconds (job id ``model_retraining``)."""
    log = logging.getLogger(__name__)

    def retrain() -> None:
        try:
            with pool.connection() as conn:
                for outcome in train(conn, settings, progress=log.info):
                    log.info("retraining %s: %s", outcome.family, outcome.message)
        except Exception:
            log.exception("model retraining failed")

    scheduler.add_job(
        retrain,
        "interval",
        id="model_retraining",
        seconds=interval_s,
        max_instances=1,
        coalesce=True,
    )

"""Wiring of the health models into the platform: settings to jobs, jobs to the scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from models import scoring, training
from models.scoring import ScoringJob
from prognos.model_alerts import ModelAlertJob
from prognos.settings import Settings

__all__ = ["ScoringJob", "catch_up_rollups", "schedule", "scoring_settings", "train_settings"]

log = logging.getLogger(__name__)


def scoring_settings(settings: Settings) -> scoring.ScoringSettings:
    m = settings.models
    return scoring.ScoringSettings(window_s=m.window_s, bucket_s=m.bucket_s, source=m.source)


def train_settings(settings: Settings, days: float | None = None) -> training.TrainSettings:
    m = settings.models
    return training.TrainSettings(
        days=days or m.training_days, window_s=m.window_s, bucket_s=m.bucket_s, source=m.source
    )


def catch_up_rollups(conn: psycopg.Connection[Any], progress: Callable[[str], None]) -> None:
    """Training reads the minute rollups: bring them up to date first, so that history
    written without a running platform (``prognos sim --backfill``) is seen."""
    from ingest.rollups import refresh_rollups  # noqa: PLC0415

    done = refresh_rollups(conn, max_batches=None)
    if done["busy"]:
        progress("the rollup job of a running platform is refreshing the rollups")
    elif done["minutes"]:
        progress(f"brought the rollups up to date: {done['minutes']:,} minutes of readings")


def schedule(scheduler: Any, pool: ConnectionPool, settings: Settings) -> ScoringJob | None:
    """Score every machine every ``score_interval_s`` and turn persistent anomalies into
    model alerts after each run; retrain on schedule if configured."""
    m = settings.models
    job = None
    if m.scoring_enabled:
        listeners = [ModelAlertJob(pool, step_s=m.alert_step_s)] if m.alerts_enabled else []
        job = scoring.schedule(
            scheduler, pool, scoring_settings(settings), m.score_interval_s, listeners
        )
    if m.retrain_interval_s is not None:
        training.schedule_retraining(
            scheduler, pool, train_settings(settings), m.retrain_interval_s
        )
        log.info("models are retrained every %.0f s", m.retrain_interval_s)
    return job

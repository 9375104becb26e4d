"""The scoring job: every machine's health from its latest window, on a schedule.

One run reads the latest window of the whole fleet in one query (``time_bucket``
aggregates), scores each family's machines together with the family's active model
(vectorised: no loop over machines), adds each machine's remaining useful life from
its recent hourly statistic, and upserts the rows into ``health`` in one transaction.
Models are cached and reloaded when the active version changes; a family whose model
cannot be loaded (no active version, trained under other library versions) is skipped
with a logged error and the others are still scored. After each run the job's listeners
get its report (prognos/model_alerts.py turns persistent anomalies into alerts).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from psycopg_pool import ConnectionPool

from models import registry, store
from models.errors import ModelsError, SamplingMismatchError
from models.family import FamilyModel
from models.health import assemble

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringSettings:
    window_s: float = 3600.0
    bucket_s: float = 60.0
    source: str = "rollup"
    history_h: float = 72.0  # statistic history the RUL trend is fitted on
    horizon_h: float = 720.0  # RUL beyond this is reported as this


@dataclass
class RunReport:
    at: datetime
    scored: int = 0
    anomalous: int = 0
    families: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    # per family, machines left out for their sampling: their readings a bucket
    missampled: dict[str, dict[int, float]] = field(default_factory=dict)
    anomalous_machines: list[int] = field(default_factory=list)


Listener = Callable[[RunReport], None]


class ScoringJob:
    """Scores the fleet; ``run_once`` is what the scheduler calls."""

    def __init__(
        self, pool: ConnectionPool, settings: ScoringSettings, listeners: Sequence[Listener] = ()
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.listeners = list(listeners)
        self._models: dict[str, tuple[int, FamilyModel]] = {}
        self._lock = threading.Lock()
        self._refused: dict[str, int] = {}  # family: the model version it last refused
        self._missampled: dict[str, set[int]] = {}  # family: machines last left out
        self.runs = 0
        self.scored = 0
        self.last: RunReport | None = None

    def _refresh_models(self, conn: Any, report: RunReport) -> None:
        active = registry.active_versions(conn)
        for family in list(self._models):
            if family not in active:
                del self._models[family]
        for family, version in active.items():
            cached = self._models.get(family)
            if cached is not None and cached[0] == version:
                continue
            try:
                model, number, _meta = registry.load(conn, family, version)
            except ModelsError as exc:
                self._models.pop(family, None)
                report.skipped[family] = str(exc)
                log.error("health scoring skips %s: %s", family, exc)
                continue
            self._models[family] = (number, model)
            log.info("health scoring uses %s model v%d", family, number)

    def _refuse(self, report: RunReport, family: str, version: int, exc: Exception) -> None:
        """A family the job cannot score this run: in the report every run, in the log
        once per model version (until it scores again)."""
        report.skipped[family] = str(exc)
        if self._refused.get(family) != version:
            self._refused[family] = version
            log.error("health scoring skips %s: %s", family, exc)

    def _leave_out(
        self, report: RunReport, family: str, model: FamilyModel, machines: dict[int, float]
    ) -> None:
        """Machines not scored for their sampling: in the report every run, in the log
        whenever the set changes."""
        if machines:
            report.missampled[family] = machines
        if set(machines) != self._missampled.get(family, set()):
            self._missampled[family] = set(machines)
            if machines:
                listed = ", ".join(f"{m} ({r:.3g})" for m, r in sorted(machines.items()))
                log.warning(
                    "health scoring leaves out %d %s machines whose telemetry has far more or "
                    "fewer readings a bucket than the model's history (%.3g): %s",
                    len(machines),
                    family,
                    model.readings_per_bucket,
                    listed,
                )

    def run_once(self, now: datetime | None = None) -> RunReport:
        with self._lock:
            return self._run(now)

    def _run(self, now: datetime | None) -> RunReport:
        s = self.settings
        moment = now or datetime.now(UTC)
        # the window ends on a bucket boundary, so a second run in the same bucket
        # replaces its rows instead of adding near-duplicates
        end = datetime.fromtimestamp(moment.timestamp() // s.bucket_s * s.bucket_s, UTC)
        report = RunReport(at=end)
        with self.pool.connection() as conn:
            self._refresh_models(conn, report)
            if not self._models:
                self.last = report
                return report
            catalog = store.catalog(conn)
            start = end - timedelta(seconds=s.window_s)
            aggregates = store.window_aggregates(
                conn, start, end, bucket_s=s.bucket_s, window_s=s.window_s, source=s.source
            )
            rows = []
            for family, (version, model) in self._models.items():
                members = catalog[family].machines if family in catalog else []
                part = aggregates[aggregates["equipment_id"].isin(members)]
                if part.empty:
                    continue
                try:
                    scores, missampled = model.score_sampled(part)
                except SamplingMismatchError as exc:
                    self._refuse(report, family, version, exc)
                    continue
                self._refused.pop(family, None)
                self._leave_out(report, family, model, missampled)
                if scores.empty:
                    continue
                machines = scores.index.get_level_values("equipment_id").tolist()
                history = store.statistic_history(
                    conn, machines, end - timedelta(hours=s.history_h), end
                )
                health = assemble(scores, model, version, end, history, horizon_h=s.horizon_h)
                rows.append(health)
                report.families[family] = len(health)
                report.anomalous += int(health["anomalous"].sum())
                report.anomalous_machines += health.loc[
                    health["anomalous"], "equipment_id"
                ].tolist()
            if rows:
                report.scored = store.write_health(conn, pd.concat(rows, ignore_index=True))
        self.runs += 1
        self.scored += report.scored
        self.last = report
        log.info(
            "health scored",
            extra={"machines": report.scored, "anomalous": report.anomalous, "at": end.isoformat()},
        )
        for listener in self.listeners:
            try:
                listener(report)
            except Exception:  # a broken listener never stops scoring
                log.exception("a listener of the scoring job failed")
        return report


def schedule(
    scheduler: Any,
    pool: ConnectionPool,
    settings: ScoringSettings,
    interval_s: float,
    listeners: Sequence[Listener] = (),
) -> ScoringJob:
    """Register the scoring job on an APScheduler 3 scheduler (job id ``health_scoring``);
    ``listeners`` are called with each run's report (the model-alert rule is one)."""
    job = ScoringJob(pool, settings, listeners)
    scheduler.add_job(
        _logged(job.run_once),
        "interval",
        id="health_scoring",
        seconds=interval_s,
        max_instances=1,
        coalesce=True,
    )
    return job


def _logged(run: Any) -> Any:
    def wrapper() -> None:
        try:
            run()
        except Exception:
            log.exception("health scoring failed")

    return wrapper

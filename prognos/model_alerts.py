"""Model alerts: after each scoring run, persistent anomalies open alerts and work orders.

The scoring job (models/scoring.py) calls ``ModelAlertJob`` with its report. The job
reads the recent health of the machines that are anomalous now or have a model alert
open (``models.store.recent_health``: at most one row per ``step_s``, the same cadence
``prognos eval sim`` replays), lets the pure rule (alerts/model_rule.py) decide, and
applies the decisions, each in its own transaction:

* open: the alert (rule ``model``, its cause, grade, explanation, likely mode, component
  and part numbers from the parts catalogue), then, as for the threshold rule
  (prognos/pipeline.py ``dispatch``), ``alert.opened``, the routed work order and
  ``work_order.created``;
* close: the alert is closed and ``alert.closed`` recorded, with why: the machine read
  healthy long enough, or a work order of the machine was resolved (a repair; the rule
  then needs the anomaly to persist again before it opens a new alert).

Opening relies on the one-open-alert-per-cause index, so two processes running the job
at once open one alert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import ConnectionPool

from alerts import model_store
from alerts.model_rule import (
    HealthRows,
    ModelAlert,
    ModelAlertPolicy,
    Transition,
    decide,
)
from alerts.outbox import emit
from fieldservice.sla import SlaPolicy
from models import store
from models.replay import ALERT_STEP_S
from models.scoring import RunReport
from prognos.pipeline import dispatch

log = logging.getLogger(__name__)

LOOKBACK_S = 86_400.0  # health history the rule reads per machine


class ModelAlertJob:
    """Turns each scoring run into model alerts; call it with the run's report."""

    def __init__(
        self,
        pool: ConnectionPool,
        policy: ModelAlertPolicy | None = None,
        *,
        sla: SlaPolicy | None = None,
        step_s: float = ALERT_STEP_S,
    ) -> None:
        self.pool = pool
        self.policy = policy or ModelAlertPolicy()
        self.sla = sla or SlaPolicy()
        self.step_s = step_s
        self.opened = 0
        self.closed = 0

    def __call__(self, report: RunReport) -> None:
        self.run(report.at, report.anomalous_machines)

    def run(self, at: datetime, anomalous: Iterable[int]) -> list[Transition]:
        """Decide at ``at`` for the machines anomalous now and those with an open alert."""
        with self.pool.connection() as conn:
            open_now = model_store.open_causes(conn)
            machines = sorted(set(anomalous) | {c.equipment_id for c in open_now})
            if not machines:
                return []
            frame = store.recent_health(
                conn, machines, at - timedelta(seconds=LOOKBACK_S), at, step_s=self.step_s
            )
            channel_ids = model_store.channel_ids(conn, machines)
            opened_at = {cause: when for cause, (_, when) in open_now.items()}
            # repairs since the oldest open alert, so one resolved while the job was down
            # still closes it
            since = min([at - timedelta(seconds=LOOKBACK_S), *opened_at.values()])
            fixed = model_store.repairs(conn, machines, since)
        rows = HealthRows.from_columns(**{c: frame[c].to_numpy() for c in frame.columns})
        transitions = decide(rows, opened_at, self.policy, fixed)
        for transition in transitions:
            if transition.action == "open" and transition.alert is not None:
                self._open(transition.alert, channel_ids)
            elif transition.action == "close" and transition.cause in open_now:
                self._close(open_now[transition.cause][0], transition)
        return transitions

    def _open(self, alert: ModelAlert, channel_ids: dict[tuple[int, str], int]) -> None:
        channel_id = channel_ids.get((alert.equipment_id, alert.channel or ""))
        with self.pool.connection() as conn, conn.transaction():
            parts = model_store.likely_parts(conn, alert.equipment_id, alert.part_prefixes)
            details: dict[str, Any] = {
                **alert.details,
                "component": alert.component,
                "parts": parts,
            }
            message = alert.message + (f"; likely parts {', '.join(parts)}" if parts else "")
            row = model_store.insert(
                conn, alert, channel_id=channel_id, details=details, message=message
            )
            if row is None:
                return  # open already (another process got there first)
            order = dispatch(conn, row, now=datetime.now(UTC), sla=self.sla)
        self.opened += 1
        log.info(
            "model alert opened",
            extra={
                "alert_id": row.id,
                "equipment_id": row.equipment_id,
                "cause": row.cause,
                "grade": row.grade,
                "work_order": order.number,
            },
        )

    def _close(self, alert_id: int, transition: Transition) -> None:
        if transition.repair is not None:
            what = "the machine" if transition.repair.channel is None else "the sensor"
            because = f"repaired: a work order of {what} was resolved"
        elif transition.superseded:
            because = (
                f"superseded: the machine ran on for over "
                f"{self.policy.renew_critical_s / 3600:g} h after it opened, and a new "
                "episode of the same failure mode opened its own alert"
            )
        else:
            because = (
                f"health under {self.policy.clear_ratio:g} of the alarm level for "
                f"{self.policy.clear_s / 3600:g} h of operation"
            )
        reason = {"closed_because": because, "cleared_at": transition.at.isoformat()}
        with self.pool.connection() as conn, conn.transaction():
            closed = model_store.close(conn, alert_id, reason)
            if closed is None:
                return
            emit(conn, "alert.closed", "alert", closed.id, closed.as_event())
        self.closed += 1
        log.info("model alert closed", extra={"alert_id": alert_id})

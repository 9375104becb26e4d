"""From a committed batch of readings to alerts, work orders and outbox events.

The ingest worker calls an ``AlertPipeline`` after each batch commits (and before the
batch's messages are acknowledged). For every machine and channel that left its valid
range, one transaction opens the alert, opens and routes its work order, and records
``alert.opened`` and ``work_order.created`` in the outbox. A redelivered batch finds the
alert already open and does nothing more. ``dispatch`` is that alert-to-work-order step,
shared with the model-alert job (prognos/model_alerts.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from alerts.outbox import emit
from alerts.rules import ChannelLimit, LimitArrays, ReadingLike, evaluate_thresholds
from alerts.store import Alert, load_limits, open_alert
from fieldservice.dispatch import open_work_order
from fieldservice.domain import WorkOrder
from fieldservice.sla import SlaPolicy
from ingest.batch import Reading, ReadingBatch, from_us

log = logging.getLogger(__name__)


def dispatch(
    conn: psycopg.Connection[Any], alert: Alert, *, now: datetime, sla: SlaPolicy
) -> WorkOrder:
    """An alert just opened: record ``alert.opened``, open and route its work order and
    record ``work_order.created``, all in the caller's transaction (every rule does this)."""
    emit(conn, "alert.opened", "alert", alert.id, alert.as_event())
    order = open_work_order(
        conn,
        equipment_id=alert.equipment_id,
        grade=alert.grade,
        fault_description=alert.message,
        source="alert",
        now=now,
        alert_id=alert.id,
        sla=sla,
    )
    emit(conn, "work_order.created", "work_order", order.id, order.as_event())
    return order


class AlertPipeline:
    def __init__(
        self, pool: ConnectionPool, *, sla: SlaPolicy | None = None, limits_refresh_s: float = 30.0
    ) -> None:
        self.pool = pool
        self.sla = sla or SlaPolicy()
        self.limits_refresh_s = limits_refresh_s
        self._limits: dict[int, ChannelLimit] = {}
        self._arrays = LimitArrays({})
        self._loaded_at = -1e9
        self._lock = threading.Lock()
        self.opened = 0

    def limits(self) -> dict[int, ChannelLimit]:
        with self._lock:
            if time.monotonic() - self._loaded_at > self.limits_refresh_s:
                with self.pool.connection() as conn:
                    self._limits = load_limits(conn)
                self._arrays = LimitArrays(self._limits)
                self._loaded_at = time.monotonic()
            return self._limits

    def __call__(self, readings: ReadingBatch | Sequence[ReadingLike]) -> None:
        limits = self.limits()
        if isinstance(readings, ReadingBatch):
            # Screen the whole batch with NumPy; only the few violations become objects.
            readings.freeze()
            outside = self._arrays.outside(readings.channel_id, readings.value)
            if not outside.any():
                return
            rows = np.flatnonzero(outside)
            readings = [
                Reading(
                    from_us(int(readings.time_us[i])),
                    int(readings.equipment_id[i]),
                    int(readings.channel_id[i]),
                    float(readings.value[i]),
                )
                for i in rows
            ]
        for candidate in evaluate_thresholds(readings, limits):
            now = datetime.now(UTC)
            with self.pool.connection() as conn, conn.transaction():
                alert = open_alert(conn, candidate)
                if alert is None:
                    continue  # already open: a redelivery, or the fault persists
                order = dispatch(conn, alert, now=now, sla=self.sla)
            self.opened += 1
            log.info(
                "alert opened",
                extra={
                    "alert_id": alert.id,
                    "work_order": order.number,
                    "station_id": order.station_id,
                    "equipment_id": alert.equipment_id,
                },
            )

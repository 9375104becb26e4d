"""Backfill: months of history written straight into the database, fast.

The same physics and faults as a live run, stepped as fast as NumPy goes, with the
readings of each step turned into columns and written through the ingest path's writer
(``ingest.writer.BatchWriter``: binary COPY, stored once each, rollups marked), so
models can be trained without waiting. Backfill over MQTT instead is the runner at
``speed = inf`` (see ``prognos sim --backfill DAYS --via mqtt``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from numpy.typing import NDArray

from device_sim.errors import BackfillError
from device_sim.faults import FaultEvent
from device_sim.fleet import Fleet
from device_sim.physics import FleetPhysics
from ingest.batch import ReadingBatch
from ingest.catalog import load_catalog
from ingest.errors import StorageError
from ingest.writer import BatchWriter

Progress = Callable[[float, int, float], None]  # (fraction done, rows written, seconds)


@dataclass(frozen=True)
class BackfillResult:
    start: datetime
    end: datetime
    steps: int
    rows: int
    seconds: float
    faults: list[FaultEvent]
    before_stored: bool = False  # it ends where readings already stored begin

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def window(days: float, interval_s: float, end: datetime | None = None) -> tuple[datetime, int]:
    """The start and number of steps of a backfill of ``days`` ending at ``end`` (now)."""
    end = end or datetime.now(UTC)
    whole = int(end.timestamp() // interval_s * interval_s)
    steps = int(days * 86_400 // interval_s)
    return datetime.fromtimestamp(whole - steps * interval_s, UTC), steps


def _before_stored(
    url: str,
    ids: dict[str, tuple[NDArray[np.int32], NDArray[np.int16]]],
    end: datetime,
    days: float,
) -> datetime | None:
    """Just before the oldest stored reading of these machines in the ``days`` to ``end``."""
    machines = sorted({int(e) for equipment, _ in ids.values() for e in equipment})
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT min(time) FROM readings WHERE equipment_id = ANY(%s) AND time > %s",
            (machines, end - timedelta(days=days)),
        ).fetchone()
    oldest = row[0] if row else None
    return oldest - timedelta(microseconds=1) if oldest is not None and oldest <= end else None


def _ids(fleet: Fleet, url: str) -> dict[str, tuple[NDArray[np.int32], NDArray[np.int16]]]:
    """Per model: equipment ids (in physics row order) and channel ids (in channel order)."""
    with psycopg.connect(url) as conn:
        catalog = load_catalog(conn)
    missing = [m.serial for m in fleet.machines if catalog.get(m.serial) is None]
    if missing:
        raise BackfillError(
            f"{len(missing)} machines are not in the database (first: {missing[0]}): "
            "run `prognos seed --fleet FILE` first"
        )
    out: dict[str, tuple[NDArray[np.int32], NDArray[np.int16]]] = {}
    for code, model in fleet.models.items():
        machines = [m for m in fleet.machines if m.model == code]
        if not machines:
            continue
        spec = catalog.equipment[machines[0].serial]
        try:
            channels = np.array([spec.channels[c.code].id for c in model.channels], np.int16)
        except KeyError as exc:
            raise BackfillError(f"model {code} lacks channel {exc} in the database") from None
        equipment = np.array([catalog.equipment[m.serial].id for m in machines], np.int32)
        out[code] = (equipment, channels)
    return out


def backfill_db(
    fleet: Fleet,
    url: str,
    *,
    days: float,
    interval_s: float = 60.0,
    end: datetime | None = None,
    batch_rows: int = 200_000,
    progress: Progress | None = None,
    before_stored: bool = False,
) -> BackfillResult:
    """Write ``days`` of readings ending at ``end`` (now) for every machine of ``fleet``.

    With ``before_stored``, the history ends just before the oldest reading the fleet's
    machines already have in those days (a demo that ran first, live telemetry): two
    simulated histories of the same machine never interleave."""
    ids = _ids(fleet, url)
    stored = _before_stored(url, ids, end or datetime.now(UTC), days) if before_stored else None
    start, steps = window(days, interval_s, stored or end)
    physics = FleetPhysics(fleet, start)
    writer = BatchWriter(url)
    columns: list[
        tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int16], NDArray[np.float64]]
    ] = []
    pending = rows = 0
    began = time.monotonic()
    last_report = began

    def flush() -> None:
        nonlocal pending, rows
        if not columns:
            return
        batch = ReadingBatch.from_columns(*(np.concatenate(c) for c in zip(*columns, strict=True)))
        columns.clear()
        try:
            rows += writer.write(batch).inserted
        except StorageError as exc:
            raise BackfillError(f"backfill stopped: {exc}") from exc
        pending = 0

    try:
        for step in range(steps + 1):
            at = start + timedelta(seconds=step * interval_s)
            time_us = round(at.timestamp() * 1_000_000)
            for group in physics.step(at):
                if not len(group.rows):
                    continue
                equipment, channels = ids[group.model.code]
                values = group.values[group.rows]
                keep = ~np.isnan(values)
                n = int(keep.sum())
                columns.append(
                    (
                        np.full(n, time_us, np.int64),
                        np.broadcast_to(equipment[group.rows][:, None], values.shape)[keep],
                        np.broadcast_to(channels[None, :], values.shape)[keep],
                        values[keep],
                    )
                )
                pending += n
            if pending >= batch_rows:
                flush()
            now = time.monotonic()
            if progress is not None and now - last_report >= 1.0:
                last_report = now
                progress(step / max(steps, 1), rows + pending, now - began)
        flush()
    finally:
        writer.close()
    seconds = time.monotonic() - began
    if progress is not None:
        progress(1.0, rows, seconds)
    end_at = start + timedelta(seconds=steps * interval_s)
    faults = physics.plan.overlapping(start.timestamp(), end_at.timestamp())
    return BackfillResult(start, end_at, steps + 1, rows, seconds, faults, stored is not None)

"""The ground truth of a simulation: every injected fault, to a CSV file and a table.

Both hold the same columns (docs/simulator.md): the fault's id, machine, mode, whether
it is a sensor fault, the channels where it shows, component and parts, onset, failure
and repair times, shape, grade, where it came from and the fleet seed. Writing is
idempotent (rows are keyed by the fault id), so a rerun of the same seed adds nothing.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from device_sim.faults import FaultEvent

COLUMNS = (
    "fault_id",
    "serial_number",
    "model",
    "family",
    "mode",
    "is_sensor_fault",
    "channels",
    "component",
    "parts",
    "onset_at",
    "failure_at",
    "repaired_at",
    "shape",
    "grade",
    "source",
    "seed",
)


def _at(epoch_s: float) -> datetime | None:
    return None if math.isinf(epoch_s) else datetime.fromtimestamp(epoch_s, UTC)


def row(event: FaultEvent, seed: int) -> dict[str, Any]:
    """One fault as a row of the truth table (Python values)."""
    return {
        "fault_id": event.fault_id,
        "serial_number": event.serial,
        "model": event.model,
        "family": event.family,
        "mode": event.mode,
        "is_sensor_fault": event.sensor,
        "channels": list(event.channels),
        "component": event.component,
        "parts": list(event.parts),
        "onset_at": _at(event.onset),
        "failure_at": _at(event.failure),
        "repaired_at": _at(event.repaired),
        "shape": event.shape,
        "grade": event.grade,
        "source": event.source,
        "seed": seed,
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, list):
        return ";".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TruthFile:
    """Appends faults to a CSV export (header once; each fault id once per file)."""

    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.seed = seed
        self._seen: set[str] = set()
        if path.exists() and path.stat().st_size:
            with path.open(newline="") as fh:
                self._seen = {r["fault_id"] for r in csv.DictReader(fh)}

    def write(self, events: Iterable[FaultEvent]) -> int:
        new = [e for e in events if e.fault_id not in self._seen]
        if not new:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="") as fh:
            out = csv.writer(fh)
            if fresh:
                out.writerow(COLUMNS)
            for e in new:
                r = row(e, self.seed)
                out.writerow([_cell(r[c]) for c in COLUMNS])
        self._seen.update(e.fault_id for e in new)
        return len(new)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


_UPSERT = f"""INSERT INTO sim_fault_truth ({", ".join(COLUMNS)}, equipment_id)
    SELECT {", ".join(f"%({c})s" for c in COLUMNS)},
           (SELECT id FROM equipment WHERE serial_number = %(serial_number)s)
    ON CONFLICT (fault_id) DO UPDATE SET
        failure_at = EXCLUDED.failure_at, repaired_at = EXCLUDED.repaired_at,
        equipment_id = EXCLUDED.equipment_id"""


def write_db(conn: psycopg.Connection[Any], events: Sequence[FaultEvent], seed: int) -> int:
    """Upsert ``events`` into sim_fault_truth in one transaction; returns how many."""
    if not events:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_UPSERT.encode(), [row(e, seed) for e in events])
    return len(events)


class TruthDb:
    """Writes faults to the database over its own connection (a thin adapter)."""

    def __init__(self, url: str, seed: int) -> None:
        self.url = url
        self.seed = seed

    def write(self, events: Sequence[FaultEvent]) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return write_db(conn, events, self.seed)

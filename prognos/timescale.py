"""Which TimescaleDB edition the server runs, and so which features the platform uses.

The Apache-2 edition has hypertables, ``time_bucket``, chunks and ``drop_chunks``; the
Timescale-licensed (community) edition adds compression, continuous aggregates and
retention/job policies. Where a feature is missing the platform runs its own scheduled
job instead; it never skips the work silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimescaleEdition:
    version: str
    license: str  # "apache" or "timescale"

    @property
    def licensed(self) -> bool:
        return self.license == "timescale"

    @property
    def compression(self) -> bool:
        return self.licensed

    @property
    def continuous_aggregates(self) -> bool:
        return self.licensed

    @property
    def policies(self) -> bool:
        return self.licensed

    def describe(self) -> str:
        on = [
            name
            for name in ("compression", "continuous_aggregates", "policies")
            if getattr(self, name)
        ]
        off = [
            name
            for name in ("compression", "continuous_aggregates", "policies")
            if not getattr(self, name)
        ]
        text = f"TimescaleDB {self.version} ({self.license} licence): hypertables, time_bucket, drop_chunks on"
        if on:
            text += "; " + ", ".join(on) + " on"
        if off:
            text += "; " + ", ".join(off) + " off (not licensed in this edition)"
        return text


def detect(conn: psycopg.Connection[Any]) -> TimescaleEdition:
    row = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    if row is None:
        raise RuntimeError("the timescaledb extension is not installed in this database")
    license_row = conn.execute("SHOW timescaledb.license").fetchone()
    license_name = str(license_row[0]) if license_row else "apache"
    return TimescaleEdition(version=str(row[0]), license=license_name)


def log_edition(conn: psycopg.Connection[Any]) -> TimescaleEdition:
    edition = detect(conn)
    log.info(
        edition.describe(),
        extra={"timescaledb_version": edition.version, "timescaledb_license": edition.license},
    )
    return edition

"""Ordered SQL migrations, applied once each and recorded in ``schema_migrations``.

Files are ``prognos/sql/NNNN_name.sql``; each runs in its own transaction. A
migration already applied whose file has changed since is an error, never re-run. An
advisory lock makes concurrent starts (several workers) apply each migration once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from prognos.errors import MigrationError

log = logging.getLogger(__name__)

_LOCK_KEY = 0x70726F67  # "prog"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    """The migrations shipped with the package, in order."""
    found: list[Migration] = []
    for entry in resources.files("prognos.sql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


def migrate(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply the pending migrations; returns those applied now."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {
            int(row[0]): str(row[1])
            for row in conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        }
        shipped = available()
        unknown = sorted(set(applied) - {m.version for m in shipped})
        if unknown:
            raise MigrationError(
                f"the database has migrations this code does not know ({unknown}): "
                "it was migrated by a newer Prognos; run that version"
            )
        done: list[Migration] = []
        for migration in shipped:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed after it "
                        "was applied: add a new migration instead of editing an applied one"
                    )
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
            done.append(migration)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))

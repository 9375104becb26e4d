"""The model registry in the database (table ``model_versions``, migration 0020).

Versions count up per family; saving takes a row lock on the family so two trainings
never get the same number; at most one version per family is active (a partial unique
index), and activating one deactivates the others in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from models import artefacts
from models.errors import NoActiveModelError, RegistryError
from models.family import FamilyModel


@dataclass(frozen=True)
class Version:
    family: str
    version: int
    created_at: datetime
    active: bool
    metadata: dict[str, Any]


def _retrain(family: str) -> str:
    return f"prognos train --family {family}"


def save(
    conn: psycopg.Connection[Any],
    model: FamilyModel,
    metadata: dict[str, Any],
    *,
    activate: bool = True,
) -> int:
    """Store a new version of the model's family; returns its number."""
    blob, sha, meta = artefacts.dump(model)
    meta = {**metadata, **meta}
    with conn.transaction():
        row = conn.execute(
            "SELECT code FROM equipment_families WHERE code = %s FOR UPDATE", (model.family,)
        ).fetchone()
        if row is None:
            raise RegistryError(f"unknown equipment family {model.family!r}")
        (version,) = conn.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE family = %s",
            (model.family,),
        ).fetchone() or (1,)
        if activate:
            conn.execute(
                "UPDATE model_versions SET active = false WHERE family = %s", (model.family,)
            )
        conn.execute(
            """INSERT INTO model_versions (family, version, active, artefact, sha256, metadata)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (model.family, version, activate, blob, sha, Jsonb(meta)),
        )
    return int(version)


def activate(conn: psycopg.Connection[Any], family: str, version: int) -> None:
    with conn.transaction():
        found = conn.execute(
            "SELECT 1 FROM model_versions WHERE family = %s AND version = %s", (family, version)
        ).fetchone()
        if found is None:
            raise RegistryError(f"{family} has no model version {version}")
        conn.execute("UPDATE model_versions SET active = false WHERE family = %s", (family,))
        conn.execute(
            "UPDATE model_versions SET active = true WHERE family = %s AND version = %s",
            (family, version),
        )


def active_versions(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """family -> its active version number."""
    rows = conn.execute("SELECT family, version FROM model_versions WHERE active").fetchall()
    return {str(f): int(v) for f, v in rows}


def versions(conn: psycopg.Connection[Any], family: str | None = None) -> list[Version]:
    rows = conn.execute(
        """SELECT family, version, created_at, active, metadata FROM model_versions
           WHERE %(family)s::text IS NULL OR family = %(family)s
           ORDER BY family, version""",
        {"family": family},
    ).fetchall()
    return [Version(str(f), int(v), c, bool(a), dict(m)) for f, v, c, a, m in rows]


def load(
    conn: psycopg.Connection[Any], family: str, version: int | None = None
) -> tuple[FamilyModel, int, dict[str, Any]]:
    """The family's active model (or the version given), checked and unpickled."""
    if version is None:
        row = conn.execute(
            "SELECT version, artefact, sha256, metadata FROM model_versions "
            "WHERE family = %s AND active",
            (family,),
        ).fetchone()
        if row is None:
            raise NoActiveModelError(
                f"no active model for {family}: train one with `{_retrain(family)}`"
            )
    else:
        row = conn.execute(
            "SELECT version, artefact, sha256, metadata FROM model_versions "
            "WHERE family = %s AND version = %s",
            (family, version),
        ).fetchone()
        if row is None:
            raise RegistryError(f"{family} has no model version {version}")
    number, blob, sha, meta = row
    model = artefacts.load(
        bytes(blob),
        str(sha),
        dict(meta),
        what=f"{family} model v{number}",
        retrain=_retrain(family),
    )
    if not isinstance(model, FamilyModel):
        raise RegistryError(f"{family} model v{number} is not a family model")
    return model, int(number), dict(meta)

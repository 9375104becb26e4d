"""Machine credentials in the database: issue, rotate, disable, and list as accounts.

A secret is generated here and returned once; only its hash is stored
(``device_credentials``, migration 0003). ``device_accounts`` turns the registry into
the broker accounts that ingest/broker_access.py renders into Mosquitto's files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from ingest.broker_access import Account, device_account, hash_password, new_password


@dataclass(frozen=True)
class IssuedCredential:
    serial: str
    username: str
    password: str  # the secret, known only to the caller from now on


def provision(
    conn: psycopg.Connection[Any],
    *,
    serials: Sequence[str] | None = None,
    rotate: bool = False,
) -> list[IssuedCredential]:
    """Issue secrets to machines that have none (or, with ``rotate``, new ones to all).

    ``serials`` limits it to those machines; an unknown serial number raises KeyError.
    Returns what was issued, in serial-number order.
    """
    rows = conn.execute(
        """SELECT e.id, e.serial_number, c.equipment_id IS NOT NULL
           FROM equipment e LEFT JOIN device_credentials c ON c.equipment_id = e.id
           WHERE %(all)s OR e.serial_number = ANY(%(serials)s)
           ORDER BY e.serial_number""",
        {"all": serials is None, "serials": list(serials or [])},
    ).fetchall()
    if serials is not None:
        missing = sorted(set(serials) - {r[1] for r in rows})
        if missing:
            raise KeyError(f"no machine with serial number {', '.join(missing)}")
    issued: list[IssuedCredential] = []
    with conn.transaction():
        for equipment_id, serial, has_one in rows:
            if has_one and not rotate:
                continue
            password = new_password()
            conn.execute(
                """INSERT INTO device_credentials (equipment_id, password_hash)
                   VALUES (%s, %s)
                   ON CONFLICT (equipment_id) DO UPDATE
                   SET password_hash = EXCLUDED.password_hash, issued_at = now(),
                       rotations = device_credentials.rotations + 1""",
                (equipment_id, hash_password(password)),
            )
            issued.append(IssuedCredential(serial, serial, password))
    return issued


def set_enabled(conn: psycopg.Connection[Any], serial: str, enabled: bool) -> None:
    """Let a machine connect again, or refuse it from the next broker reload."""
    row = conn.execute(
        """UPDATE device_credentials c SET enabled = %s FROM equipment e
           WHERE c.equipment_id = e.id AND e.serial_number = %s RETURNING e.id""",
        (enabled, serial),
    ).fetchone()
    if row is None:
        raise KeyError(f"machine {serial!r} has no credentials")


def device_accounts(conn: psycopg.Connection[Any], prefix: str) -> list[Account]:
    """The broker accounts of every machine whose credentials are enabled."""
    rows = conn.execute(
        """SELECT e.serial_number, c.password_hash
           FROM device_credentials c JOIN equipment e ON e.id = c.equipment_id
           WHERE c.enabled ORDER BY e.serial_number"""
    ).fetchall()
    return [device_account(prefix, serial, password_hash) for serial, password_hash in rows]

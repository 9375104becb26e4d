"""Machine credentials and the local broker: issue them, keep them in step.

A machine's secret is issued once (ingest/broker_accounts.py) and handed to whoever
runs the machine: a real device's installer, or, for simulated machines, the local
credentials file (``$PROGNOS_HOME/devices/credentials.csv``: serial,username,password,
readable by its owner only) that the simulator reads. The broker's password file and
ACL are regenerated from the registry whenever it changes (``BrokerAccessJob``) and
the local broker reloads them.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from psycopg_pool import ConnectionPool

from ingest.broker_accounts import IssuedCredential, device_accounts, provision
from prognos.localservices import LocalMosquitto
from prognos.settings import Settings

log = logging.getLogger(__name__)

Credentials = dict[str, tuple[str, str]]  # serial -> (username, password)


def local_credentials_path(settings: Settings) -> Path:
    return settings.sim.credentials_file or settings.home / "devices" / "credentials.csv"


def read_credentials(path: Path) -> Credentials:
    """The CSV of serial,username,password (empty if there is no file yet)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return {r["serial"]: (r["username"], r["password"]) for r in csv.DictReader(io.StringIO(text))}


def write_credentials(path: Path, credentials: Mapping[str, tuple[str, str]]) -> None:
    """Replace the file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["serial", "username", "password"])
    for serial in sorted(credentials):
        writer.writerow([serial, *credentials[serial]])
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(out.getvalue())
    os.replace(tmp, path)


def merge_issued(path: Path, issued: list[IssuedCredential]) -> None:
    known = read_credentials(path)
    known.update({c.serial: (c.username, c.password) for c in issued})
    write_credentials(path, known)


def ensure_simulated_credentials(conn: psycopg.Connection[Any], path: Path) -> int:
    """Give every registered machine a secret that the local credentials file holds.

    Machines without credentials get new ones; machines whose secret the file does not
    know (it was issued elsewhere, or the file was lost) get a new one too. A machine
    that was disabled stays disabled. Returns how many were issued.
    """
    known = read_credentials(path)
    serials = [
        str(row[0])
        for row in conn.execute(
            """SELECT e.serial_number FROM equipment e
               LEFT JOIN device_credentials c ON c.equipment_id = e.id
               WHERE c.equipment_id IS NULL OR NOT e.serial_number = ANY(%s)""",
            (list(known),),
        ).fetchall()
    ]
    if not serials:
        return 0
    issued = provision(conn, serials=serials, rotate=True)
    merge_issued(path, issued)
    log.info("issued broker credentials to %d simulated machines", len(issued))
    return len(issued)


def sync_broker(conn: psycopg.Connection[Any], broker: LocalMosquitto, prefix: str) -> bool:
    """Write the registry's machine accounts into the local broker's files (reload if changed)."""
    changed = broker.sync_devices(device_accounts(conn, prefix))
    if changed:
        log.info("broker accounts updated from the registry")
    return changed


class BrokerAccessJob:
    """Keeps the local broker's accounts in step with the registry (a scheduler job)."""

    def __init__(self, pool: ConnectionPool, broker: LocalMosquitto, prefix: str) -> None:
        self.pool = pool
        self.broker = broker
        self.prefix = prefix
        self.syncs = 0

    def run_once(self) -> None:
        try:
            with self.pool.connection(timeout=10) as conn:
                if sync_broker(conn, self.broker, self.prefix):
                    self.syncs += 1
        except Exception:
            log.exception("syncing the broker's accounts failed; retrying on the next run")


def schedule(
    scheduler: BackgroundScheduler,
    pool: ConnectionPool,
    broker: LocalMosquitto,
    prefix: str,
    interval_s: float,
) -> BrokerAccessJob:
    job = BrokerAccessJob(pool, broker, prefix)
    scheduler.add_job(
        job.run_once,
        "interval",
        id="broker-access",
        seconds=interval_s,
        max_instances=1,
        coalesce=True,
    )
    return job

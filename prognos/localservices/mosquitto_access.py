"""The local broker's password file and ACL, and the service accounts behind them.

The broker has two service accounts of the platform's own, created with random
passwords the first time (kept in ``accounts.json``, readable by the caller only):
``prognos-ingest`` reads all telemetry and ``$SYS``, ``prognos-gateway`` may publish
any machine's telemetry (load generators, edge gateways). Machine accounts come from
the registry (ingest/broker_accounts.py); the last set written is kept in
``devices.json`` so the broker starts with it before the database is reachable.
Files are replaced atomically and only when their content changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ingest.broker_access import (
    Account,
    gateway_account,
    hash_password,
    ingest_account,
    new_password,
    render_acl,
    render_password_file,
)
from prognos.localservices.base import RunAs

INGEST_USER = "prognos-ingest"
GATEWAY_USER = "prognos-gateway"


class BrokerAccessFiles:
    def __init__(self, root: Path, run_as: RunAs, topic_prefix: str) -> None:
        self.root = root
        self.run_as = run_as
        self.topic_prefix = topic_prefix
        self.passwd = root / "passwd"
        self.acl = root / "acl"
        self.accounts_file = root / "accounts.json"
        self.devices_file = root / "devices.json"

    # ------------------------------------------------------------------ service accounts
    def _service_secrets(self) -> dict[str, dict[str, str]]:
        try:
            stored = json.loads(self.accounts_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            stored = {}
        changed = False
        for user in (INGEST_USER, GATEWAY_USER):
            if user not in stored:
                password = new_password()
                stored[user] = {"password": password, "hash": hash_password(password)}
                changed = True
        if changed:
            self.root.mkdir(parents=True, exist_ok=True)
            _write_private(self.accounts_file, json.dumps(stored, indent=2) + "\n")
        return {k: dict(v) for k, v in stored.items()}

    def password_of(self, user: str) -> str:
        return self._service_secrets()[user]["password"]

    def service_accounts(self) -> list[Account]:
        secrets = self._service_secrets()
        prefix = self.topic_prefix
        return [
            ingest_account(prefix, INGEST_USER, secrets[INGEST_USER]["hash"]),
            gateway_account(prefix, GATEWAY_USER, secrets[GATEWAY_USER]["hash"]),
        ]

    # ------------------------------------------------------------------ machine accounts
    def stored_devices(self) -> list[Account]:
        try:
            rows = json.loads(self.devices_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        return [
            Account(r["username"], r["password_hash"], tuple(r["read"]), tuple(r["write"]))
            for r in rows
        ]

    def write(self, devices: Sequence[Account] | None = None) -> bool:
        """Write the files for the service accounts and ``devices`` (None: the last set).

        Returns True when the broker must reload them (a file changed).
        """
        if devices is not None:
            rows = [
                {
                    "username": a.username,
                    "password_hash": a.password_hash,
                    "read": list(a.read),
                    "write": list(a.write),
                }
                for a in devices
            ]
            _write_private(self.devices_file, json.dumps(rows) + "\n")
        accounts = [
            *self.service_accounts(),
            *(devices if devices is not None else self.stored_devices()),
        ]
        changed = _write_private(self.passwd, render_password_file(accounts), self.run_as)
        changed |= _write_private(self.acl, render_acl(accounts), self.run_as)
        return changed


def _write_private(path: Path, text: str, owner: RunAs | None = None) -> bool:
    """Atomically write ``text`` (mode 0600, owned by ``owner``); False if unchanged."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    if owner is not None:
        owner.chown(tmp)
    os.replace(tmp, path)
    return True

"""``prognos devices``: machine credentials for the MQTT broker.

- ``provision``: issue secrets to machines without one (``--rotate``: to all named), and
  write them to a CSV (serial,username,password, mode 0600) or standard output: the
  only time a secret is shown;
- ``disable`` / ``enable``: refuse a machine at CONNECT from the next reload, or allow it
  again;
- ``broker-files``: Mosquitto's password file and ACL for an external broker, rendered
  from the registry (plus the ingest account, if its hash is given).

With the local broker running, every change is applied to it at once (reload).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Any

import psycopg

from ingest.broker_access import (
    AccessError,
    hash_password,
    ingest_account,
    render_acl,
    render_password_file,
)
from ingest.broker_accounts import device_accounts, provision, set_enabled
from prognos import db, device_access
from prognos.endpoints import resolve
from prognos.errors import ConfigurationError
from prognos.localservices import LocalServices
from prognos.runner import prepare_database
from prognos.settings import Settings


def _apply_locally(settings: Settings, conn: psycopg.Connection[Any]) -> None:
    if settings.mqtt_url is not None:
        return  # an external broker: its operator installs `prognos devices broker-files`
    broker = LocalServices(settings.home, topic_prefix=settings.topic_prefix).mosquitto
    if broker.is_running() and broker.secure:
        changed = device_access.sync_broker(conn, broker, settings.topic_prefix)
        print("local broker reloaded" if changed else "local broker already up to date")


def cmd_provision(settings: Settings, args: argparse.Namespace) -> int:
    url = resolve(settings, need_mqtt=False).database_url
    prepare_database(url)
    with db.connect(url, autocommit=True) as conn:
        try:
            issued = provision(conn, serials=args.serial or None, rotate=args.rotate)
        except KeyError as exc:
            raise ConfigurationError(str(exc.args[0])) from None
        if args.out is not None:
            device_access.merge_issued(args.out, issued)
            print(f"{len(issued)} secrets issued, written to {args.out} (mode 0600)")
        else:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(["serial", "username", "password"])
            for c in issued:
                writer.writerow([c.serial, c.username, c.password])
        _apply_locally(settings, conn)
    return 0


def cmd_enable(settings: Settings, args: argparse.Namespace) -> int:
    url = resolve(settings, need_mqtt=False).database_url
    with db.connect(url, autocommit=True) as conn:
        for serial in args.serial:
            try:
                set_enabled(conn, serial, args.enabled)
            except KeyError as exc:
                raise ConfigurationError(str(exc.args[0])) from None
        print(f"{len(args.serial)} machines {'enabled' if args.enabled else 'disabled'}")
        _apply_locally(settings, conn)
    return 0


def cmd_broker_files(settings: Settings, args: argparse.Namespace) -> int:
    url = resolve(settings, need_mqtt=False).database_url
    with db.connect(url) as conn:
        accounts = device_accounts(conn, settings.topic_prefix)
    if args.ingest_user:
        if not args.ingest_password_hash and not os.environ.get("PROGNOS_INGEST_PASSWORD"):
            raise ConfigurationError(
                "--ingest-user needs --ingest-password-hash, or PROGNOS_INGEST_PASSWORD set"
            )
        password_hash = args.ingest_password_hash or hash_password(
            os.environ["PROGNOS_INGEST_PASSWORD"]
        )
        try:
            accounts.append(ingest_account(settings.topic_prefix, args.ingest_user, password_hash))
        except AccessError as exc:
            raise ConfigurationError(str(exc)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("passwd", render_password_file(accounts)),
        ("acl", render_acl(accounts)),
    ):
        path: Path = args.out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    print(
        f"wrote {args.out / 'passwd'} and {args.out / 'acl'} ({len(accounts)} accounts): "
        "point Mosquitto's password_file and acl_file at them and send it SIGHUP"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``prognos devices ...`` to the ``prognos`` parser."""
    text = "machine credentials for the MQTT broker"
    devices = sub.add_parser("devices", help=text, description=text)
    verbs = devices.add_subparsers(dest="verb", metavar="VERB", required=True)

    text = "issue secrets to machines (shown once: keep the output)"
    p = verbs.add_parser("provision", help=text, description=text)
    p.set_defaults(func=cmd_provision)
    p.add_argument("--serial", action="append", help="only this machine (repeatable)")
    p.add_argument("--rotate", action="store_true", help="issue new secrets to those that have one")
    p.add_argument("--out", type=Path, help="merge into this CSV (mode 0600) instead of stdout")

    for verb, enabled, text in (
        ("disable", False, "refuse machines at CONNECT (from the next broker reload)"),
        ("enable", True, "let disabled machines connect again"),
    ):
        p = verbs.add_parser(verb, help=text, description=text)
        p.set_defaults(func=cmd_enable, enabled=enabled)
        p.add_argument("serial", nargs="+", help="serial numbers")

    text = "write Mosquitto's password file and ACL for an external broker"
    p = verbs.add_parser("broker-files", help=text, description=text)
    p.set_defaults(func=cmd_broker_files)
    p.add_argument("--out", type=Path, required=True, help="directory to write passwd and acl to")
    p.add_argument("--ingest-user", help="also the ingest account, with this user name")
    p.add_argument(
        "--ingest-password-hash",
        help="its $7$ hash (mosquitto_passwd format); or set PROGNOS_INGEST_PASSWORD",
    )

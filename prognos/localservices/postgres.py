"""A private PostgreSQL cluster with TimescaleDB preloaded, on a free loopback port.

PostgreSQL refuses to run as root, so when the caller is root the cluster runs as the
``postgres`` system user (or ``PROGNOS_PG_USER``), which owns its data directory.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from prognos.errors import ConfigurationError, ServiceError
from prognos.localservices.base import RunAs, free_port, port_is_free, service_root

log = logging.getLogger(__name__)

DB_NAME = "prognos"
MIN_PG_MAJOR = 15
DB_USER = "prognos"


def find_pg_bindir() -> Path:
    """The bin directory of the newest PostgreSQL 15+ that has TimescaleDB installed."""
    override = os.environ.get("PROGNOS_PG_BINDIR")
    candidates: list[Path] = [Path(override)] if override else []
    if not override:
        candidates += sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
        pg_config = shutil.which("pg_config")
        if pg_config:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=False
            )
            if out.returncode == 0:
                candidates.append(Path(out.stdout.strip()))
    seen_without_ext: list[str] = []
    for bindir in candidates:
        if not (bindir / "postgres").exists() or not (bindir / "initdb").exists():
            continue
        if _pg_major(bindir) < MIN_PG_MAJOR:
            continue
        sharedir = _pg_sharedir(bindir)
        if sharedir and (sharedir / "extension" / "timescaledb.control").exists():
            return bindir
        seen_without_ext.append(str(bindir))
    if seen_without_ext:
        raise ConfigurationError(
            "PostgreSQL found but without the TimescaleDB extension ("
            + ", ".join(seen_without_ext)
            + "): run scripts/bootstrap.sh (make demo / make test do) to install it"
        )
    raise ConfigurationError(
        "no PostgreSQL 15+ server found: run scripts/bootstrap.sh (make demo / make test do) "
        "or set PROGNOS_DATABASE_URL to an external server with TimescaleDB"
    )


def _pg_major(bindir: Path) -> int:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    match = re.search(r"\(PostgreSQL\) (\d+)", out.stdout)
    return int(match[1]) if match else 0


def _pg_sharedir(bindir: Path) -> Path | None:
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        out = subprocess.run(
            [str(pg_config), "--sharedir"], capture_output=True, text=True, check=False
        )
        if out.returncode == 0:
            return Path(out.stdout.strip())
    version = bindir.parent.name  # Debian layout: /usr/lib/postgresql/15/bin
    debian = Path("/usr/share/postgresql") / version
    return debian if debian.exists() else None


class LocalPostgres:
    """A private PostgreSQL cluster with TimescaleDB preloaded, on a free loopback port."""

    def __init__(self, home: Path, *, durable: bool = True) -> None:
        self.run_as = RunAs.unprivileged("PROGNOS_PG_USER", "postgres")
        self.root = service_root(home, "postgres", self.run_as)
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        self.logfile = self.root / "postgres.log"
        self.durable = durable
        self._bindir: Path | None = None

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_pg_bindir()
        return self._bindir

    @property
    def password(self) -> str:
        return (self.root / "password").read_text().strip()

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    @property
    def url(self) -> str:
        return f"postgresql://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run_as.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args], cwd=self.root, check=check
        )

    def is_running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def _init(self) -> None:
        log.info("initialising PostgreSQL cluster in %s", self.data)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        if self.data.exists():
            shutil.rmtree(self.data)  # a half-made cluster from an interrupted init
        for d in (self.data, self.sockets):
            d.mkdir(mode=0o700)
            self.run_as.chown(d)
        self.run_as.chown(self.root)
        pwfile = self.root / "password"
        pwfile.write_text(secrets.token_urlsafe(18) + "\n")
        pwfile.chmod(0o600)
        self.run_as.chown(pwfile)
        self.run_as.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            cwd=self.root,
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'prognos.conf'\n")

    def _write_config(self, port: int) -> None:
        conf = {
            "port": str(port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.sockets}'",
            "shared_preload_libraries": "'timescaledb'",
            "timescaledb.telemetry_level": "off",
            "max_connections": "100",
            "shared_buffers": "'256MB'",
            "max_wal_size": "'2GB'",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
        }
        path = self.data / "prognos.conf"
        path.write_text("".join(f"{k} = {v}\n" for k, v in conf.items()))
        self.run_as.chown(path)
        (self.root / "port").write_text(f"{port}\n")

    def start(self) -> str:
        """Start the cluster (initialising it the first time); returns its URL."""
        if not (self.data / "PG_VERSION").exists() or not (self.root / "password").exists():
            self._init()
        if self.is_running():
            log.info("PostgreSQL already running on port %s", self.port)
            return self.url
        # Reuse the previous port when it is still free, so URLs stay stable.
        port_file = self.root / "port"
        port = int(port_file.read_text()) if port_file.exists() else 0
        if not port or not port_is_free(port):
            port = free_port()
        self._write_config(port)
        stale = self.data / "postmaster.pid"
        if stale.exists():  # left by a killed server; pg_ctl status said it is not running
            stale.unlink()
        proc = self._pg_ctl("-l", str(self.logfile), "-w", "-t", "60", "start", check=False)
        if proc.returncode != 0:
            tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise ServiceError(f"PostgreSQL did not start: {proc.stderr.strip()}\n{tail}")
        self._ensure_database()
        log.info("PostgreSQL running on 127.0.0.1:%s (data %s)", port, self.data)
        return self.url

    def _ensure_database(self) -> None:
        admin = f"postgresql://{DB_USER}:{self.password}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))

    def stop(self) -> None:
        if self.is_running():
            self._pg_ctl("-m", "fast", "-w", "-t", "60", "stop")
            log.info("PostgreSQL stopped")

    def kill(self) -> None:
        """Stop the server abruptly (immediate mode: no checkpoint), as a crash would."""
        if self.is_running():
            self._pg_ctl("-m", "immediate", "-w", "stop")

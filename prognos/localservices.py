"""Private PostgreSQL + TimescaleDB and Mosquitto instances, started on free ports.

``prognos up`` / ``down``, ``make demo`` and the test fixtures all use this module. Each
instance lives in a directory of its own (data, sockets, config, log, pid); the
machine's system services are never touched. PostgreSQL refuses to run as root, so
when the caller is root the cluster runs as the ``postgres`` system user (or
``PROGNOS_PG_USER``), which owns its data directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from prognos.errors import ConfigurationError, ServiceError

log = logging.getLogger(__name__)

DB_NAME = "prognos"
MIN_PG_MAJOR = 15
DB_USER = "prognos"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (connections lingering in TIME_WAIT
    after a restart do not count: servers bind with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise ServiceError(f"{what} did not accept connections on 127.0.0.1:{port} in {timeout_s}s")


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account a service runs as (None fields: the caller itself)."""

    uid: int | None = None
    gid: int | None = None
    name: str | None = None

    @classmethod
    def unprivileged(cls, env_var: str, default_user: str) -> RunAs:
        if os.geteuid() != 0:
            return cls()
        name = os.environ.get(env_var, default_user)
        try:
            pw = pwd.getpwnam(name)
        except KeyError as exc:
            raise ConfigurationError(
                f"running as root, so the service must run as an unprivileged user, and user "
                f"{name!r} does not exist: install the PostgreSQL and Mosquitto packages "
                f"(scripts/bootstrap.sh) or set {env_var} to an existing user"
            ) from exc
        return cls(uid=pw.pw_uid, gid=pw.pw_gid, name=name)

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    def can_traverse(self, path: Path) -> bool:
        """Whether this account may reach ``path`` (x permission on every parent)."""
        if self.uid is None:
            return True
        for parent in [path, *path.parents]:
            if not parent.exists():
                continue
            st = parent.stat()
            if st.st_uid == self.uid:
                ok = bool(st.st_mode & stat.S_IXUSR)
            elif st.st_gid == self.gid:
                ok = bool(st.st_mode & stat.S_IXGRP)
            else:
                ok = bool(st.st_mode & stat.S_IXOTH)
            if not ok:
                return False
        return True

    def run(
        self, args: list[str], *, cwd: Path, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.uid is not None:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        if self.name:
            env.update(HOME=str(cwd), USER=self.name, LOGNAME=self.name)
        proc = subprocess.run(  # type: ignore[call-overload]
            args, cwd=cwd, env=env, capture_output=True, text=True, check=False, **kwargs
        )
        if check and proc.returncode != 0:
            raise ServiceError(
                f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc  # type: ignore[no-any-return]


def _service_root(home: Path, name: str, run_as: RunAs) -> Path:
    """Where a service keeps its files: under ``home``, unless its user cannot reach it."""
    wanted = home / name
    if run_as.can_traverse(home):
        return wanted
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    fallback = Path("/var/lib/prognos") / digest / name
    log.info(
        "service directory moved: %s is not reachable by user %s, using %s",
        wanted,
        run_as.name,
        fallback,
        extra={"service": name},
    )
    return fallback


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
        self.root = _service_root(home, "postgres", self.run_as)
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


MIN_MOSQUITTO = (2, 0, 12)


def mosquitto_version(binary: Path) -> tuple[int, ...] | None:
    """The version a Mosquitto binary reports (``mosquitto -h``), or None."""
    try:
        out = subprocess.run(
            [str(binary), "-h"], capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"mosquitto version (\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    return tuple(int(g) for g in match.groups()) if match else None


def find_mosquitto() -> Path:
    """The Mosquitto broker to run locally.

    ``PROGNOS_MOSQUITTO_BIN`` wins; then the patched build that scripts/bootstrap.sh
    installs in /opt/prognos/mosquitto (``PROGNOS_MOSQUITTO_PREFIX``); then, with a
    warning, the machine's own if it is 2.0.12 or later: it loses the ingest workers'
    shared subscription over a broker restart (scripts/build-mosquitto.sh says why).
    """
    override = os.environ.get("PROGNOS_MOSQUITTO_BIN")
    if override:
        if not Path(override).exists():
            raise ConfigurationError(f"PROGNOS_MOSQUITTO_BIN={override} does not exist")
        return Path(override)
    prefix = Path(os.environ.get("PROGNOS_MOSQUITTO_PREFIX", "/opt/prognos/mosquitto"))
    private = prefix / "sbin" / "mosquitto"
    if private.exists() and (prefix / "PATCHES").exists():
        return private
    system = Path(shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    version = mosquitto_version(system) if system.exists() else None
    if version is not None and version >= MIN_MOSQUITTO:
        log.warning(
            "using %s (%s) without the platform's patch: after a broker restart, messages "
            "for the ingest workers' share group are dropped until the workers subscribe "
            "again; run scripts/bootstrap.sh to build the patched broker",
            system,
            ".".join(map(str, version)),
        )
        return system
    found = f"{system} ({'.'.join(map(str, version))})" if version else "none"
    raise ConfigurationError(
        f"no suitable Mosquitto (found: {found}; 2.0.12 or later is needed): run "
        "scripts/bootstrap.sh (make demo / make test do), which builds the patched one, "
        "or set PROGNOS_MQTT_URL to an external broker"
    )


class LocalMosquitto:
    """A private Mosquitto broker with persistence, listening on loopback only."""

    def __init__(self, home: Path, *, autosave_interval_s: int = 30) -> None:
        # Started as root, Mosquitto drops to this user itself (the "user" option).
        self.run_as = RunAs.unprivileged("PROGNOS_MQTT_USER", "mosquitto")
        self.root = _service_root(home, "mosquitto", self.run_as)
        self.data = self.root / "data"
        self.conf = self.root / "mosquitto.conf"
        self.pidfile = self.root / "mosquitto.pid"
        self.logfile = self.root / "mosquitto.log"
        self.autosave_interval_s = autosave_interval_s

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"mosquitto" not in cmdline.read_bytes():
            return None  # the pid was reused by another program
        return pid

    def is_running(self) -> bool:
        return self._pid() is not None

    def _write_config(self, port: int) -> None:
        user = self.run_as.name or pwd.getpwuid(os.geteuid()).pw_name
        lines = [
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.data}/",
            f"autosave_interval {self.autosave_interval_s}",
            # The default (1000) silently drops QoS 1 messages for a lagging subscriber
            # while publishers still get PUBACKs. This bound is the backlog the broker may
            # hold per client (a few GB at worst); drops beyond it are watched through
            # $SYS/broker/publish/messages/dropped.
            "max_queued_messages 5000000",
            "max_inflight_messages 0",
            "sys_interval 5",
            "set_tcp_nodelay true",
            f"pid_file {self.pidfile}",
            f"log_dest file {self.logfile}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            f"user {user}",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        (self.root / "port").write_text(f"{port}\n")

    def start(self) -> str:
        binary = find_mosquitto()
        if self.is_running():
            log.info("Mosquitto already running on port %s", self.port)
            return self.url
        self.data.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.data, *self.data.iterdir()):
            self.run_as.chown(path)
        port_file = self.root / "port"
        port = int(port_file.read_text()) if port_file.exists() else 0
        if not port or not port_is_free(port):
            port = free_port()
        self._write_config(port)
        proc = subprocess.run(
            [str(binary), "-d", "-c", str(self.conf)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise ServiceError(f"mosquitto did not start: {proc.stderr.strip()}")
        try:
            wait_for_port(port, 15, "Mosquitto")
        except ServiceError as exc:
            tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise ServiceError(f"{exc}\n{tail}") from exc
        log.info("Mosquitto running on 127.0.0.1:%s", port)
        return self.url

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 15) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        log.info("Mosquitto stopped")


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    mqtt_url: str


class LocalServices:
    """Both local services, with their URLs recorded in ``home/services.json``."""

    def __init__(self, home: Path, *, durable: bool = True) -> None:
        self.home = home
        self.postgres = LocalPostgres(home, durable=durable)
        self.mosquitto = LocalMosquitto(home)
        self.state_file = home / "services.json"

    def start(self, *, postgres: bool = True, mosquitto: bool = True) -> Endpoints:
        self.home.mkdir(parents=True, exist_ok=True)
        state = self._read_state()
        if postgres:
            state["database_url"] = self.postgres.start()
        if mosquitto:
            state["mqtt_url"] = self.mosquitto.start()
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        self.state_file.chmod(0o600)
        return Endpoints(state.get("database_url", ""), state.get("mqtt_url", ""))

    def stop(self) -> None:
        errors: list[str] = []
        for service in (self.mosquitto, self.postgres):
            try:
                service.stop()
            except ServiceError as exc:
                errors.append(str(exc))
        self.state_file.unlink(missing_ok=True)
        if errors:
            raise ServiceError("; ".join(errors))

    def _read_state(self) -> dict[str, str]:
        try:
            data = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {k: str(v) for k, v in data.items()}

    def running_endpoints(self) -> dict[str, str]:
        """URLs of the local services that are running now (keys as in Endpoints)."""
        out: dict[str, str] = {}
        if self.postgres.is_running():
            out["database_url"] = self.postgres.url
        if self.mosquitto.is_running():
            out["mqtt_url"] = self.mosquitto.url
        return out

"""A private Mosquitto broker with persistence, listening on loopback only."""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ingest.broker_access import Account
from prognos.errors import ConfigurationError, ServiceError
from prognos.localservices.base import (
    RunAs,
    free_port,
    port_is_free,
    service_root,
    wait_for_port,
)
from prognos.localservices.mosquitto_access import GATEWAY_USER, INGEST_USER, BrokerAccessFiles

log = logging.getLogger(__name__)

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

    def __init__(
        self,
        home: Path,
        *,
        secure: bool = True,
        topic_prefix: str = "prognos/v1",
        autosave_interval_s: int = 30,
        max_queued_messages: int = 5_000_000,
        sys_interval_s: int = 5,
    ) -> None:
        # Started as root, Mosquitto drops to this user itself (the "user" option).
        self.run_as = RunAs.unprivileged("PROGNOS_MQTT_USER", "mosquitto")
        self.root = service_root(home, "mosquitto", self.run_as)
        self.data = self.root / "data"
        self.conf = self.root / "mosquitto.conf"
        self.pidfile = self.root / "mosquitto.pid"
        self.logfile = self.root / "mosquitto.log"
        self.secure = secure
        self.autosave_interval_s = autosave_interval_s
        self.max_queued_messages = max_queued_messages
        self.sys_interval_s = sys_interval_s
        self.access = BrokerAccessFiles(self.root, self.run_as, topic_prefix)

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    def url_for(self, user: str | None) -> str:
        """The broker's URL with a service account's login (None: anonymous)."""
        if user is None:
            return f"mqtt://127.0.0.1:{self.port}"
        return f"mqtt://{user}:{self.access.password_of(user)}@127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """What the platform connects with: the ingest account, when the broker is secure."""
        return self.url_for(INGEST_USER if self.secure else None)

    @property
    def gateway_url(self) -> str:
        """A login that may publish any machine's telemetry (load generators, gateways)."""
        return self.url_for(GATEWAY_USER if self.secure else None)

    def sync_devices(self, devices: Sequence[Account]) -> bool:
        """Install the machines' accounts; reloads a running broker if anything changed."""
        if not self.secure:
            return False
        changed = self.access.write(devices)
        if changed and self.is_running():
            self.reload()
        return changed

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password file and ACL again."""
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)
            log.info("Mosquitto reloads its accounts")

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
            *self._access_lines(),
            "persistence true",
            f"persistence_location {self.data}/",
            f"autosave_interval {self.autosave_interval_s}",
            # The default (1000) silently drops QoS 1 messages for a lagging subscriber
            # while publishers still get PUBACKs. This bound is the backlog the broker may
            # hold per client (a few GB at worst); drops beyond it are watched through
            # $SYS/broker/publish/messages/dropped.
            f"max_queued_messages {self.max_queued_messages}",
            "max_queued_bytes 0",
            "max_inflight_messages 0",
            f"sys_interval {self.sys_interval_s}",
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

    def _access_lines(self) -> list[str]:
        if not self.secure:
            return ["allow_anonymous true"]
        self.access.write()  # the service accounts and the machines last synced
        return [
            "allow_anonymous false",
            f"password_file {self.access.passwd}",
            f"acl_file {self.access.acl}",
        ]

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

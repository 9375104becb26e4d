"""What the local services share: free ports, waiting for a port, running as a user."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from prognos.errors import ConfigurationError, ServiceError

log = logging.getLogger(__name__)


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


def service_root(home: Path, name: str, run_as: RunAs) -> Path:
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

"""Database connections: a bounded wait for the server, and the shared pool."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from prognos.errors import ServiceError

log = logging.getLogger(__name__)


def wait_for_database(url: str, *, timeout_s: float = 60.0) -> None:
    """Return once the server accepts a connection; raise ServiceError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    attempt = 0
    while True:
        attempt += 1
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() + delay > deadline:
                raise ServiceError(
                    f"database not reachable after {attempt} attempts: {exc}"
                ) from exc
            log.warning("database not reachable yet (attempt %d): %s", attempt, exc)
            time.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not crypto
            delay = min(delay * 2, 5.0)


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(url, **kwargs)


def make_pool(url: str, *, size: int = 8, name: str = "prognos") -> ConnectionPool:
    """A pool that checks connections before handing them out and reconnects after outages."""
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        name=name,
        open=False,
        check=ConnectionPool.check_connection,
        reconnect_timeout=0,  # keep trying: the database may be down for a while
    )
    pool.open(wait=True, timeout=60)
    return pool

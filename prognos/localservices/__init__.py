"""Private PostgreSQL + TimescaleDB and Mosquitto instances, started on free ports.

``prognos up`` / ``down``, ``make demo``, the benchmarks and the test fixtures all use
this package. Each instance lives in a directory of its own (data, sockets, config,
log, pid); the machine's system services are never touched.
"""

from prognos.localservices.base import RunAs, free_port, port_is_free, wait_for_port
from prognos.localservices.mosquitto import LocalMosquitto, find_mosquitto, mosquitto_version
from prognos.localservices.postgres import DB_NAME, DB_USER, LocalPostgres, find_pg_bindir
from prognos.localservices.services import Endpoints, LocalServices

__all__ = [
    "DB_NAME",
    "DB_USER",
    "Endpoints",
    "LocalMosquitto",
    "LocalPostgres",
    "LocalServices",
    "RunAs",
    "find_mosquitto",
    "find_pg_bindir",
    "free_port",
    "mosquitto_version",
    "port_is_free",
    "wait_for_port",
]

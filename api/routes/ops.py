"""Operations: ``/health`` for load balancers and supervisors, ``/metrics`` for Prometheus.

Both the full API and the ingest-only process (``prognos ingest``) serve these two
routes. ``/health`` answers 503 when the database is unreachable or, in a process that
runs ingest, when the broker connection is down, so a supervisor can tell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from psycopg_pool import ConnectionPool, PoolTimeout

from api.schemas import Health

StatusProvider = Callable[[], dict[str, Any]]

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health)
def health(request: Request, response: Response) -> Health:
    state = request.app.state
    database = True
    try:
        with state.pool.connection(timeout=1) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, PoolTimeout):
        database = False
    platform = state.status() if state.status else None
    broker = platform.get("broker_connected") if platform else None
    ok = database and broker is not False
    if not ok:
        response.status_code = 503
    return Health(
        status="ok" if ok else "degraded",
        database=database,
        broker=broker,
        timescaledb=state.timescaledb,
        platform=platform,
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    registry: CollectorRegistry | None = request.app.state.registry
    body = generate_latest(registry) if registry is not None else b""
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def configure(
    app: FastAPI,
    pool: ConnectionPool,
    *,
    status: StatusProvider | None = None,
    timescaledb: str | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Give ``app`` the state the operations routes read, and the routes."""
    app.state.pool = pool
    app.state.status = status
    app.state.timescaledb = timescaledb
    app.state.registry = registry
    app.include_router(router)


def create_ops_app(
    pool: ConnectionPool,
    *,
    status: StatusProvider | None = None,
    timescaledb: str | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """An app with only ``/health`` and ``/metrics``, for processes without the API."""
    app = FastAPI(title="Prognos operations", version="0.1.0", docs_url=None, redoc_url=None)
    configure(app, pool, status=status, timescaledb=timescaledb, registry=registry)
    return app

"""The FastAPI application: routers, health, the dashboard page."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from psycopg_pool import ConnectionPool, PoolTimeout

from api.routes import alerts, equipment, network, work_orders
from api.schemas import Health

StatusProvider = Callable[[], dict[str, Any]]


def create_app(
    pool: ConnectionPool,
    *,
    status: StatusProvider | None = None,
    timescaledb: str | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Prognos",
        version="0.1.0",
        description="Machines, readings, alerts and work orders of the Prognos platform.",
    )
    app.state.pool = pool
    for router in (equipment.router, alerts.router, work_orders.router, network.router):
        app.include_router(router)

    @app.get("/health", response_model=Health, tags=["operations"])
    def health(request: Request, response: Response) -> Health:
        ok = True
        try:
            with request.app.state.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout):
            ok = False
            response.status_code = 503
        return Health(
            status="ok" if ok else "degraded",
            database=ok,
            timescaledb=timescaledb,
            platform=status() if status else None,
        )

    page = resources.files("api").joinpath("static/index.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> str:
        return page

    return app

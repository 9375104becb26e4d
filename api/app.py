"""The FastAPI application: routers, health, the dashboard page."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from api.routes import alerts, equipment, fleet, model_versions, network, ops, work_orders
from api.routes.ops import StatusProvider


def create_app(
    pool: ConnectionPool,
    *,
    status: StatusProvider | None = None,
    timescaledb: str | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Prognos",
        version="0.1.0",
        description="Machines, readings, health, alerts and work orders of the Prognos platform.",
    )
    ops.configure(app, pool, status=status, timescaledb=timescaledb, registry=registry)
    for router in (
        equipment.router,
        fleet.router,
        model_versions.router,
        alerts.router,
        work_orders.router,
        network.router,
    ):
        app.include_router(router)

    page = resources.files("api").joinpath("static/index.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> str:
        return page

    return app

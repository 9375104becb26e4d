"""The platform in one process: ingest, alert pipeline, webhooks, scheduler, API, simulator.

``Platform.start()`` brings the parts up in dependency order and ``stop()`` takes them
down in reverse, flushing the ingest batch and acknowledging what was committed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from alerts.webhooks import WebhookDispatcher
from api.app import create_app
from api.routes.ops import create_ops_app
from device_sim.devices import DeviceConfig
from device_sim.fleet import Fleet
from device_sim.runner import SimConfig
from device_sim.session import Simulation, load_credentials
from device_sim.truth import TruthDb
from ingest import metrics as ingest_metrics
from ingest import retention, rollups
from ingest.broker_watch import BrokerWatch
from ingest.protocol import Limits
from ingest.worker import IngestWorker, WorkerConfig
from prognos import db, device_access, migrations, timescale
from prognos.endpoints import Resolved
from prognos.localservices import LocalMosquitto, free_port, port_is_free
from prognos.metrics import PlatformCollector
from prognos.pipeline import AlertPipeline
from prognos.seed import seed
from prognos.settings import Settings

log = logging.getLogger(__name__)


def worker_config(settings: Settings, endpoints: Resolved) -> WorkerConfig:
    ing = settings.ingest
    return WorkerConfig(
        database_url=endpoints.database_url,
        mqtt_host=endpoints.mqtt.host,
        mqtt_port=endpoints.mqtt.port,
        mqtt_username=endpoints.mqtt.username,
        mqtt_password=endpoints.mqtt.password,
        topic_prefix=settings.topic_prefix,
        client_id=ing.client_id,
        share_group=ing.share_group,
        batch_size=ing.batch_size,
        batch_age_s=ing.batch_age_ms / 1000.0,
        session_expiry_s=ing.session_expiry_s,
        receive_maximum=ing.receive_maximum,
        queue_messages=ing.inbox_messages,
        limits=Limits(
            max_payload_bytes=ing.max_payload_bytes,
            max_future=timedelta(seconds=ing.max_future_s),
            max_past=timedelta(seconds=ing.max_past_s),
        ),
    )


def prepare_database(url: str) -> timescale.TimescaleEdition:
    """Wait for the server, apply pending migrations, log the TimescaleDB edition."""
    db.wait_for_database(url)
    with db.connect(url) as conn:
        applied = migrations.migrate(conn)
        if applied:
            log.info("applied %d migration(s)", len(applied))
        return timescale.log_edition(conn)


def serve_in_thread(app: Any, name: str, host: str, port: int) -> tuple[str, Callable[[], None]]:
    """Serve an ASGI app with uvicorn on a daemon thread; its URL once it has started
    (or after 10 s), and the function that stops it."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    return f"http://{host}:{port}", stop


@dataclass
class Platform:
    settings: Settings
    endpoints: Resolved
    fleet: Fleet | None = None  # run the simulator for this fleet
    seed_fleet: Fleet | None = None  # load this fleet's registry before ingest starts
    with_api: bool = True
    with_ingest: bool = True
    webhook_urls: list[str] = field(default_factory=list)
    webhook_secret: str = ""
    api_url: str = ""
    ops_url: str = ""
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    broker_watch: BrokerWatch | None = None
    pool: ConnectionPool | None = None
    worker: IngestWorker | None = None
    pipeline: AlertPipeline | None = None
    dispatcher: WebhookDispatcher | None = None
    rollup_job: rollups.RollupJob | None = None
    retention_job: retention.RetentionJob | None = None
    with_models: bool = True  # score machines on a schedule (the health models)
    scoring_job: Any = None  # models.scoring.ScoringJob, when with_models
    local_broker: LocalMosquitto | None = None  # ours to configure: machine accounts
    access_job: device_access.BrokerAccessJob | None = None
    _parts: list[tuple[str, Any]] = field(default_factory=list)

    def start(self) -> None:
        edition = prepare_database(self.endpoints.database_url)
        if self.seed_fleet is not None:
            with db.connect(self.endpoints.database_url) as conn:
                counts = seed(conn, self.seed_fleet)
            log.info("fleet loaded", extra=counts)
        self.pool = db.make_pool(self.endpoints.database_url, size=self.settings.db_pool_size)
        self._parts.append(("database pool", self.pool.close))
        self._prepare_broker_access()

        if self.with_ingest:
            self.pipeline = AlertPipeline(self.pool)
            config = worker_config(self.settings, self.endpoints)
            self.worker = IngestWorker(config, [self.pipeline])
            self.broker_watch = BrokerWatch(
                config.mqtt_host,
                config.mqtt_port,
                client_id=f"{config.client_id}-sys",
                username=config.mqtt_username,
                password=config.mqtt_password,
            )
            self.broker_watch.start()
            self._parts.append(("broker watch", self.broker_watch.stop))
            ingest_metrics.register(self.registry, self.worker, self.broker_watch)
            self.worker.start()
            if not self.worker.wait_connected(30):
                log.warning("ingest not connected to the broker yet; it keeps retrying")
            self._parts.append(("ingest worker", self.worker.stop))

        http = httpx.Client(timeout=self.settings.webhooks.timeout_s)
        self._parts.append(("webhook client", http.close))
        dispatcher = self.dispatcher = WebhookDispatcher(
            self.pool,
            http,
            urls=self.webhook_urls,
            secret=self.webhook_secret,
            max_attempts=self.settings.webhooks.max_attempts,
            retry_base_s=self.settings.webhooks.retry_base_s,
        )
        # A job that starts late (the process was busy) runs late, once, rather than being
        # skipped: these are maintenance jobs, and each run catches up on what is pending.
        scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        scheduler.add_job(
            dispatcher.run_once,
            "interval",
            id="webhooks",
            seconds=self.settings.webhooks.poll_interval_s,
            max_instances=1,
            coalesce=True,
        )
        self._schedule_rollups(scheduler, edition)
        if self.local_broker is not None and self.local_broker.secure:
            self.access_job = device_access.schedule(
                scheduler,
                self.pool,
                self.local_broker,
                self.settings.topic_prefix,
                self.settings.ingest.access_sync_s,
            )
        if self.with_models:
            # Imported here: scikit-learn and pandas stay out of processes that do not score.
            from prognos import health_jobs  # noqa: PLC0415

            self.scoring_job = health_jobs.schedule(scheduler, self.pool, self.settings)
        scheduler.start()
        self._parts.append(("scheduler", lambda: scheduler.shutdown(wait=True)))

        self.registry.register(PlatformCollector(self.status))
        if self.with_api:
            self._start_api(edition.describe())
        elif self.with_ingest:
            self._start_ops(edition.describe())

        if self.fleet is not None:
            self._start_sim(self.fleet)

    def _prepare_broker_access(self) -> None:
        """On the local broker: the simulated machines' secrets, and every machine's account."""
        broker = self.local_broker
        if broker is None or not broker.secure:
            return
        with db.connect(self.endpoints.database_url) as conn:
            if self.fleet is not None:  # the simulator runs the machines: it holds their secrets
                device_access.ensure_simulated_credentials(
                    conn, device_access.local_credentials_path(self.settings)
                )
            device_access.sync_broker(conn, broker, self.settings.topic_prefix)

    def _start_api(self, edition: str) -> None:
        assert self.pool is not None  # noqa: S101
        app = create_app(self.pool, timescaledb=edition, status=self.status, registry=self.registry)
        self.api_url = self._serve(app, "api", self.settings.api.host, self.settings.api.port)

    def _start_ops(self, edition: str) -> None:
        """/health and /metrics for a process that runs ingest without the API."""
        assert self.pool is not None  # noqa: S101
        app = create_ops_app(
            self.pool, timescaledb=edition, status=self.status, registry=self.registry
        )
        ops = self.settings.ops
        self.ops_url = self._serve(app, "operations", ops.host, ops.port)
        log.info("health and metrics at %s/health and %s/metrics", self.ops_url, self.ops_url)

    def _serve(self, app: Any, name: str, host: str, port: int) -> str:
        if port == 0 or not port_is_free(port):
            chosen = free_port()
            if port:
                log.warning("%s port %d is taken; using %d", name, port, chosen)
            port = chosen
        url, stop_server = serve_in_thread(app, name, host, port)
        self._parts.append((name, stop_server))
        return url

    def _start_sim(self, fleet: Fleet) -> None:
        sim = self.settings.sim
        simulation = Simulation.create(
            fleet,
            self.endpoints.mqtt.host,
            self.endpoints.mqtt.port,
            SimConfig(
                interval_s=sim.interval_s,
                samples_per_message=sim.samples_per_message,
                speed=sim.speed,
            ),
            DeviceConfig(
                prefix=self.settings.topic_prefix,
                username=self.endpoints.mqtt.username,
                password=self.endpoints.mqtt.password,
                buffer_samples=sim.buffer_samples,
            ),
            credentials=self._sim_credentials(),
            truth=[TruthDb(self.endpoints.database_url, fleet.seed)],
        )
        simulation.start_thread()
        self._parts.append(("simulator", simulation.stop))

    def _sim_credentials(self) -> dict[str, tuple[str, str]] | None:
        if self.settings.sim.credentials_file is not None:
            return load_credentials(self.settings.sim.credentials_file)
        if self.local_broker is not None and self.local_broker.secure:
            return device_access.read_credentials(
                device_access.local_credentials_path(self.settings)
            )
        return None

    def _schedule_rollups(
        self, scheduler: BackgroundScheduler, edition: timescale.TimescaleEdition
    ) -> None:
        """Rollups and retention; safe in every process (they share an advisory lock)."""
        assert self.pool is not None  # noqa: S101
        if self.settings.rollups.enabled:
            self.rollup_job = rollups.schedule(
                scheduler,
                self.pool,
                edition,
                self.settings.rollups.interval_s,
                max_buckets=self.settings.rollups.max_buckets,
                max_batches=self.settings.rollups.max_batches,
            )
        kept = self.settings.retention
        if kept.enabled:
            self.retention_job = retention.schedule(
                scheduler, self.pool, kept.policy(), kept.interval_s
            )
            if (
                kept.raw_days is not None
                and self.settings.ingest.max_past_s > kept.raw_days * 86400
            ):
                log.info(
                    "ingest accepts readings up to %.0f days old but raw readings are kept %d "
                    "days: a reading sent again after its raw chunk was dropped is counted "
                    "again in the rollups (docs/rollups.md)",
                    self.settings.ingest.max_past_s / 86400,
                    kept.raw_days,
                )

    def status(self) -> dict[str, Any]:
        """What the running platform did since start (for status lines and /health)."""
        out: dict[str, Any] = {}
        if self.worker is not None:
            out["ingest"] = {
                **self.worker.stats.snapshot(),
                "unacknowledged": self.worker.unacknowledged,
            }
            out["broker_connected"] = self.worker.connected
        if self.broker_watch is not None:
            out["broker"] = self.broker_watch.snapshot()
        if self.pipeline is not None:
            out["alerts_opened"] = self.pipeline.opened
        if self.rollup_job is not None:
            out["rollups"] = dict(self.rollup_job.totals)
        if self.retention_job is not None:
            out["retention_chunks_dropped"] = self.retention_job.chunks_dropped
        if self.scoring_job is not None:
            out["health_scored"] = self.scoring_job.scored
            last = self.scoring_job.last
            # families the last run could not score, and why (other library versions,
            # telemetry sampled far from the model's history)
            out["health_skipped"] = dict(last.skipped) if last is not None else {}
            # machines left out for telemetry sampled unlike their model's history
            out["health_missampled"] = (
                {f: sorted(m) for f, m in last.missampled.items()} if last is not None else {}
            )
        if self.dispatcher is not None:
            out["webhooks_delivered"] = self.dispatcher.delivered
            out["webhook_failed_attempts"] = self.dispatcher.failed_attempts
        return out

    def stop(self) -> None:
        for name, stop in reversed(self._parts):
            try:
                stop()
            except Exception:
                log.exception("stopping the %s failed", name)
        self._parts.clear()

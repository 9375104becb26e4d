"""The ``prognos`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from alerts.receiver import WebhookReceiver
from device_sim.fleet import load_fleet
from ingest.worker import IngestWorker
from prognos import bench_ingest, bench_sim, cli_devices, cli_models, db, logs, sim_command
from prognos.endpoints import resolve
from prognos.errors import ConfigurationError, PrognosError
from prognos.localservices import LocalServices
from prognos.runner import Platform, prepare_database, worker_config
from prognos.seed import seed
from prognos.settings import Settings

log = logging.getLogger("prognos")


def _wait_for_signal(tick: Callable[[], None] | None = None, every_s: float = 10.0) -> None:
    """Block until SIGINT or SIGTERM, calling ``tick`` every ``every_s`` seconds."""
    stop = threading.Event()

    def handler(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop.wait(every_s):
        if tick is not None:
            tick()


def status_line(status: dict[str, Any]) -> str:
    """The line a running platform prints every few seconds, from ``Platform.status``."""
    parts = []
    if "ingest" in status:
        ing = status["ingest"]
        quarantined = sum(ing["quarantined"].values())
        parts.append(
            f"{ing['stored']} readings stored from {ing['received']} messages"
            f" ({quarantined} quarantined, {ing['duplicates']} duplicates)"
        )
    if "alerts_opened" in status:
        parts.append(f"{status['alerts_opened']} alerts opened")
    if "webhooks_delivered" in status:
        parts.append(f"{status['webhooks_delivered']} webhooks delivered")
    if "health_scored" in status:
        parts.append(f"{status['health_scored']} health scores")
    if status.get("health_skipped"):
        families = ", ".join(sorted(status["health_skipped"]))
        parts.append(f"health not scored for {families} (the log says why)")
    left_out = sum(len(m) for m in status.get("health_missampled", {}).values())
    if left_out:
        parts.append(f"{left_out} machines not scored, sampled unlike their model's history")
    return "status: " + "; ".join(parts)


def redact(url: str) -> str:
    """A URL without its password (user names stay: they say which account is used)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# ---------------------------------------------------------------- commands
def cmd_up(settings: Settings, _args: argparse.Namespace) -> int:

    services = LocalServices(settings.home, topic_prefix=settings.topic_prefix)
    endpoints = services.start(
        postgres=settings.database_url is None, mosquitto=settings.mqtt_url is None
    )
    print(f"database: {redact(settings.database_url or endpoints.database_url)}")
    print(f"broker:   {redact(settings.mqtt_url or endpoints.mqtt_url)}")
    return 0


def cmd_down(settings: Settings, _args: argparse.Namespace) -> int:

    LocalServices(settings.home).stop()
    print("local services stopped")
    return 0


def cmd_status(settings: Settings, _args: argparse.Namespace) -> int:

    running = LocalServices(settings.home).running_endpoints()
    database = settings.database_url or running.get("database_url")
    broker = settings.mqtt_url or running.get("mqtt_url")
    print(f"database: {redact(database) if database else 'local one not running'}")
    print(f"broker:   {redact(broker) if broker else 'local one not running'}")
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:

    prepare_database(resolve(settings, need_mqtt=False).database_url)
    print("schema up to date")
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:

    url = resolve(settings, need_mqtt=False).database_url
    prepare_database(url)
    with db.connect(url) as conn:
        counts = seed(conn, load_fleet(args.fleet or settings.sim.fleet_file))
    print("seeded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def cmd_sim(settings: Settings, args: argparse.Namespace) -> int:
    return sim_command.run(settings, args)


def _run_platform(
    settings: Settings,
    *,
    fleet_file: Path | None,
    sim: bool,
    api: bool,
    ingest: bool,
    demo: bool,
    models: bool = True,
) -> int:

    services = LocalServices(settings.home, topic_prefix=settings.topic_prefix)
    started_here = False
    if demo and (settings.database_url is None or settings.mqtt_url is None):
        before = services.running_endpoints()
        services.start(postgres=settings.database_url is None, mosquitto=settings.mqtt_url is None)
        started_here = not before
    receiver: WebhookReceiver | None = None
    platform: Platform | None = None
    try:
        endpoints = resolve(settings, need_mqtt=sim or ingest)
        fleet = load_fleet(fleet_file or settings.sim.fleet_file) if (sim or demo) else None
        urls = list(settings.webhooks.urls)
        secret = settings.webhooks.secret.get_secret_value()
        if urls and not secret:
            raise ConfigurationError("PROGNOS_WEBHOOKS__SECRET must be set when webhook URLs are")
        if not urls and demo:
            secret = secret or secrets.token_hex(16)
            receiver = WebhookReceiver(secret=secret).start()
            urls = [receiver.url]
        if demo and models and fleet is not None and settings.models.scoring_enabled:
            # Imported here: scikit-learn and pandas stay out of processes that do not score.
            from prognos import demo_models  # noqa: PLC0415

            demo_models.prepare(endpoints.database_url, fleet, settings)
        platform = Platform(
            settings,
            endpoints,
            fleet=fleet if sim else None,
            seed_fleet=fleet if demo else None,
            with_api=api,
            with_ingest=ingest,
            webhook_urls=urls,
            webhook_secret=secret,
            local_broker=services.mosquitto if settings.mqtt_url is None else None,
            with_models=models,
        )
        platform.start()
        print("\nPrognos is running." + (" (simulated fleet on)" if sim else ""))
        if platform.api_url:
            print(f"  dashboard:  {platform.api_url}/")
            print(f"  API docs:   {platform.api_url}/docs")
        if receiver is not None:
            print(f"  webhooks:   {receiver.url} (built-in demo receiver)")
        print(f"  database:   {endpoints.database_url.split('@')[-1]}")
        print(f"  broker:     {endpoints.mqtt.host}:{endpoints.mqtt.port}")
        print("Press Ctrl-C to stop.\n", flush=True)
        _wait_for_signal(
            lambda: print(status_line(platform.status()), flush=True) if platform else None
        )
        print("\nstopping…", flush=True)
    finally:
        if platform is not None:
            platform.stop()
        if receiver is not None:
            receiver.stop()
        if started_here:
            services.stop()
    print("stopped")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    return _run_platform(
        settings, fleet_file=args.fleet, sim=not args.no_sim, api=True, ingest=True, demo=args.demo
    )


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """An ingest worker: ingest, the alert pipeline and webhooks; scoring runs elsewhere."""
    if args.retire:
        return _retire(settings)
    return _run_platform(
        settings, fleet_file=None, sim=False, api=False, ingest=True, demo=False, models=False
    )


def _retire(settings: Settings) -> int:
    endpoints = resolve(settings, need_mqtt=True)
    prepare_database(endpoints.database_url)
    config = dataclasses.replace(worker_config(settings, endpoints), retire=True)
    print(f"retiring {config.client_id} from share group {config.share_group} ...", flush=True)
    worker = IngestWorker(config)
    messages = worker.retire()
    print(
        f"retired: {messages} messages taken from its session "
        f"({worker.stats.stored} readings stored, {worker.stats.duplicates} already stored); "
        "the session is gone"
    )
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    if args.port is not None:
        settings.api.port = args.port
    if args.host is not None:
        settings.api.host = args.host
    return _run_platform(settings, fleet_file=None, sim=False, api=True, ingest=False, demo=False)


def cmd_bench(_settings: Settings, args: argparse.Namespace) -> int:
    if args.target == "sim":
        return bench_sim.main(quick=args.quick, as_json=args.json)
    if args.target == "score":
        return cli_models.bench_score(quick=args.quick, as_json=args.json)
    if args.target != "ingest":
        raise ConfigurationError(f"unknown benchmark {args.target!r}")
    config = bench_ingest.BenchConfig.quick() if args.quick else bench_ingest.BenchConfig()
    progress = (lambda _msg: None) if args.json else (lambda msg: print(msg, flush=True))
    result = bench_ingest.run(config, progress=progress)
    print(bench_ingest.report(result, as_json=args.json))
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prognos",
        description="Prognos: watch connected equipment, score its health, open and route work orders.",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="log format (default: text on a terminal, json otherwise)",
    )
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, func: Callable[[Settings, argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    add(
        "up",
        cmd_up,
        "start the local PostgreSQL+TimescaleDB and Mosquitto (unless external ones are configured)",
    )
    add("down", cmd_down, "stop the local services")
    add("status", cmd_status, "show which database and broker are in use")
    add("migrate", cmd_migrate, "apply pending schema migrations")
    p = add("seed", cmd_seed, "load a fleet file's machines and service network into the database")
    p.add_argument(
        "--fleet", type=Path, help="fleet file (TOML); default: examples/demo-fleet.toml"
    )
    p = add("sim", cmd_sim, "run the device simulator: publish the fleet's telemetry over MQTT")
    p.add_argument(
        "--fleet", type=Path, help="fleet file (TOML); default: examples/demo-fleet.toml"
    )
    p.add_argument("--speed", type=float, help="simulated seconds per real second")
    p.add_argument(
        "--duration", type=float, help="simulated seconds to run (default: until Ctrl-C)"
    )
    sim_command.add_arguments(p)
    p = add(
        "ingest",
        cmd_ingest,
        "run an ingest worker (MQTT -> TimescaleDB) with the alert pipeline and webhooks",
    )
    p.add_argument(
        "--retire",
        action="store_true",
        help="take this worker (PROGNOS_INGEST__CLIENT_ID) out of its share group for good: "
        "store what its session still holds, then end the session",
    )
    p = add("api", cmd_api, "run the HTTP API and dashboard")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8080)")
    p = add(
        "run", cmd_run, "run everything together: ingest, alerts, webhooks, API and the simulator"
    )
    p.add_argument(
        "--fleet", type=Path, help="fleet file (TOML); default: examples/demo-fleet.toml"
    )
    p.add_argument("--no-sim", action="store_true", help="do not run the simulator")
    p.add_argument(
        "--demo",
        action="store_true",
        help="start local services if needed, seed the fleet, receive webhooks locally; "
        "stop what it started on exit",
    )
    cli_models.register(sub)
    cli_devices.register(sub)
    p = add("bench", cmd_bench, "measure performance against private local services")
    p.add_argument("target", choices=["ingest", "sim", "score"], help="what to measure")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"prognos: invalid settings: {exc}", file=sys.stderr)
        return 2
    json_lines = (args.log_format == "json") if args.log_format else not sys.stderr.isatty()
    logs.configure(args.log_level or settings.log_level, json_lines=json_lines)
    try:
        return int(args.func(settings, args))
    except PrognosError as exc:
        print(f"prognos: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""``prognos sim``: live (real or accelerated time) or backfill, with the fault truth.

- live: every machine connects with its own MQTT identity and publishes in simulated
  time; with ``--speed`` above 1 and a ``--duration`` the run starts that long ago, so
  its timestamps end at about now;
- ``--backfill DAYS``: that many days up to now, as fast as possible, straight into the
  database through the ingest writer (``--via db``, the default) or over MQTT
  (``--via mqtt``, paced by the broker's acknowledgements), with progress.

The faults injected go to the truth CSV (``--truth``, default ``$PROGNOS_HOME/sim-truth.csv``)
and to the ``sim_fault_truth`` table.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
from pathlib import Path

from device_sim import backfill
from device_sim.devices import DeviceConfig
from device_sim.fleet import Fleet, load_fleet
from device_sim.load import BrokerLogin, FleetLoadPlan, run_load
from device_sim.runner import SimConfig
from device_sim.session import Simulation, TruthSink, live_start, load_credentials
from device_sim.truth import TruthDb, TruthFile
from prognos.endpoints import Resolved, resolve
from prognos.localservices import LocalServices
from prognos.runner import prepare_database
from prognos.settings import MqttAddress, Settings

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backfill",
        type=float,
        metavar="DAYS",
        help="write DAYS of history up to now, as fast as possible, then stop",
    )
    p.add_argument(
        "--via",
        choices=["db", "mqtt"],
        default="db",
        help="backfill into the database through the ingest writer (default) or over MQTT",
    )
    p.add_argument("--interval", type=float, help="simulated seconds between samples")
    p.add_argument(
        "--truth", type=Path, help="fault truth CSV (default: $PROGNOS_HOME/sim-truth.csv)"
    )
    p.add_argument(
        "--credentials", type=Path, help="CSV serial,username,password of per-machine MQTT logins"
    )
    p.add_argument(
        "--load",
        type=float,
        metavar="READINGS_PER_S",
        help="load mode: synthetic readings of the fleet's machines at this rate, from few "
        "processes over a gateway login, for --duration real seconds (default 60); prints "
        "the rate achieved",
    )
    p.add_argument(
        "--processes", type=int, default=2, help="load mode: publishing processes (default 2)"
    )
    p.add_argument(
        "--login",
        help="load mode: mqtt://user:password@host:port of a gateway account (default: the "
        "local broker's gateway account, else PROGNOS_MQTT_URL)",
    )


def _truth(
    settings: Settings, args: argparse.Namespace, fleet: Fleet, db_url: str
) -> list[TruthSink]:
    path = args.truth or settings.sim.truth_file or settings.home / "sim-truth.csv"
    print(f"fault truth: {path} and table sim_fault_truth")
    return [TruthFile(path, fleet.seed), TruthDb(db_url, fleet.seed)]


def _device_config(settings: Settings, endpoints: Resolved) -> DeviceConfig:
    return DeviceConfig(
        prefix=settings.topic_prefix,
        username=endpoints.mqtt.username,
        password=endpoints.mqtt.password,
        buffer_samples=settings.sim.buffer_samples,
    )


def _progress(fraction: float, rows: int, seconds: float) -> None:
    rate = rows / seconds if seconds > 0 else 0.0
    print(
        f"backfill {fraction:6.1%}: {rows:,} readings in {seconds:,.0f} s ({rate:,.0f}/s)",
        flush=True,
    )


def _backfill_db(settings: Settings, args: argparse.Namespace, fleet: Fleet) -> int:
    url = resolve(settings, need_mqtt=False).database_url
    prepare_database(url)
    interval = args.interval or settings.sim.backfill_interval_s
    print(
        f"backfilling {args.backfill:g} days of {len(fleet.machines)} machines every {interval:g} s"
    )
    result = backfill.backfill_db(
        fleet, url, days=args.backfill, interval_s=interval, progress=_progress, before_stored=True
    )
    for sink in _truth(settings, args, fleet, url):
        sink.write(result.faults)
    print(
        f"backfilled {result.start:%Y-%m-%d %H:%M} .. {result.end:%Y-%m-%d %H:%M} UTC: "
        f"{result.rows:,} readings ({result.rows_per_s:,.0f}/s), {len(result.faults)} faults"
    )
    if result.before_stored:
        print("(it ends where the readings already stored for these machines begin)")
    return 0


def _gateway(settings: Settings, args: argparse.Namespace) -> MqttAddress:
    if args.login:
        return MqttAddress.parse(args.login)
    if settings.mqtt_url is None:
        broker = LocalServices(settings.home, topic_prefix=settings.topic_prefix).mosquitto
        if broker.is_running():
            return MqttAddress.parse(broker.gateway_url)
    return resolve(settings, need_mqtt=True).mqtt


def _load(settings: Settings, args: argparse.Namespace, fleet: Fleet) -> int:
    duration = args.duration or 60.0
    login = _gateway(settings, args)
    plan = FleetLoadPlan.for_fleet(
        fleet,
        readings_per_s=args.load,
        duration_s=duration,
        samples_per_message=settings.sim.samples_per_message,
        prefix=settings.topic_prefix,
    )
    per_message = plan.readings / max(plan.messages_per_machine * len(plan.serials), 1)
    print(
        f"load: {args.load:,.0f} readings/s for {duration:g} s: {len(plan.serials)} machines, "
        f"{plan.readings:,} readings in {plan.messages_per_machine * len(plan.serials):,} "
        f"messages, from {args.processes} processes as {login.username or 'anonymous'}",
        flush=True,
    )
    report = run_load(
        plan,
        BrokerLogin(login.host, login.port, login.username, login.password),
        processes=args.processes,
        rate_msgs=args.load / per_message,
        client_prefix=f"prognos-load-{os.getpid()}",
    )
    print(
        f"achieved {report.readings_per_s:,.0f} readings/s "
        f"({report.readings_per_s / args.load:.0%} of the target) over {report.seconds:.1f} s; "
        f"{report.acked:,} messages acknowledged, {report.refused} refused, "
        f"{report.unrouted} found no subscriber, {report.reconnects} reconnects; "
        f"publishers used {report.cpu_s:.1f} CPU seconds"
    )
    return 0 if report.refused == 0 and report.unrouted == 0 else 1


def run(settings: Settings, args: argparse.Namespace) -> int:
    fleet = load_fleet(args.fleet or settings.sim.fleet_file)
    if args.load is not None:
        return _load(settings, args, fleet)
    if args.backfill is not None and args.via == "db":
        return _backfill_db(settings, args, fleet)
    endpoints = resolve(settings, need_mqtt=True)
    prepare_database(endpoints.database_url)
    if args.backfill is not None:
        interval = args.interval or settings.sim.backfill_interval_s
        config = SimConfig(
            interval, settings.sim.samples_per_message, math.inf, args.backfill * 86_400
        )
        start = live_start(2.0, config.duration_s)
    else:
        speed = args.speed or settings.sim.speed
        interval = args.interval or settings.sim.interval_s
        config = SimConfig(interval, settings.sim.samples_per_message, speed, args.duration)
        start = live_start(speed, args.duration)
    credentials_file = args.credentials or settings.sim.credentials_file
    sim = Simulation.create(
        fleet,
        endpoints.mqtt.host,
        endpoints.mqtt.port,
        config,
        _device_config(settings, endpoints),
        credentials=load_credentials(credentials_file) if credentials_file else None,
        start=start,
        truth=_truth(settings, args, fleet, endpoints.database_url),
    )
    signal.signal(signal.SIGINT, lambda *_: sim.runner.stop())
    signal.signal(signal.SIGTERM, lambda *_: sim.runner.stop())
    sim.start_thread()
    print(
        f"{len(fleet.machines)} machines connected; simulated time starts {start:%Y-%m-%d %H:%M} UTC"
    )

    def tick() -> None:
        done = f"{sim.progress():6.1%} " if args.backfill is not None else ""
        print(done + sim.status(), flush=True)

    sim.wait(tick, every_s=2.0 if args.backfill is not None else 10.0)
    sim.stop()
    print(
        f"published {sim.runner.messages} messages ({sim.runner.samples} samples of "
        f"{len(fleet.machines)} machines); {sim.devices.dropped} samples dropped"
    )
    return 0

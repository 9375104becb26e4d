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
import signal
from pathlib import Path

from device_sim import backfill
from device_sim.devices import DeviceConfig
from device_sim.fleet import Fleet, load_fleet
from device_sim.runner import SimConfig
from device_sim.session import Simulation, TruthSink, live_start, load_credentials
from device_sim.truth import TruthDb, TruthFile
from prognos.endpoints import Resolved, resolve
from prognos.runner import prepare_database
from prognos.settings import Settings

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
        fleet, url, days=args.backfill, interval_s=interval, progress=_progress
    )
    for sink in _truth(settings, args, fleet, url):
        sink.write(result.faults)
    print(
        f"backfilled {result.start:%Y-%m-%d %H:%M} .. {result.end:%Y-%m-%d %H:%M} UTC: "
        f"{result.rows:,} readings ({result.rows_per_s:,.0f}/s), {len(result.faults)} faults"
    )
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    fleet = load_fleet(args.fleet or settings.sim.fleet_file)
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

"""Running a simulation end to end: devices, runner, truth, status. Used by the CLI and
the platform; takes plain values (no settings object), so it is testable on its own."""

from __future__ import annotations

import csv
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from device_sim.devices import DeviceConfig, DeviceFleet
from device_sim.errors import SimError
from device_sim.faults import FaultEvent
from device_sim.fleet import Fleet
from device_sim.runner import FleetRunner, SimConfig

log = logging.getLogger(__name__)


class TruthSink(Protocol):
    def write(self, events: Sequence[FaultEvent]) -> int: ...


@dataclass
class TruthFanout:
    """Sends newly known faults to every sink; a failing sink is logged, not fatal."""

    sinks: list[TruthSink] = field(default_factory=list)
    written: int = 0

    def __call__(self, events: list[FaultEvent]) -> None:
        for sink in self.sinks:
            try:
                sink.write(events)
            except Exception:
                log.exception("could not record %d faults in %s", len(events), sink)
        self.written += len(events)


def load_credentials(path: Path) -> dict[str, tuple[str, str]]:
    """Per-machine MQTT credentials from a CSV file with columns serial,username,password."""
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise SimError(f"credentials file {path} does not exist") from None
    try:
        return {r["serial"]: (r["username"], r["password"]) for r in rows}
    except KeyError as exc:
        raise SimError(f"{path}: needs the columns serial,username,password ({exc})") from None


def live_start(speed: float, duration_s: float | None, now: datetime | None = None) -> datetime:
    """Where an accelerated run with a known length starts, so it ends at about now.

    Timestamps are simulated times; starting ``duration`` in the past keeps every one
    of them behind the wall clock (ingest refuses readings from the future).
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if speed > 1 and duration_s is not None:
        return now - timedelta(seconds=duration_s)
    return now


@dataclass
class Simulation:
    """A fleet publishing over MQTT, one identity per machine, on one thread."""

    fleet: Fleet
    devices: DeviceFleet
    runner: FleetRunner
    truth: TruthFanout
    thread: threading.Thread | None = None

    @classmethod
    def create(
        cls,
        fleet: Fleet,
        host: str,
        port: int,
        config: SimConfig,
        device_config: DeviceConfig,
        *,
        credentials: dict[str, tuple[str, str]] | None = None,
        start: datetime | None = None,
        truth: Sequence[TruthSink] = (),
    ) -> Simulation:
        devices = DeviceFleet(
            host,
            port,
            [m.serial for m in fleet.machines],
            device_config,
            credentials=credentials,
            seed=fleet.seed,
        )
        fanout = TruthFanout(list(truth))
        runner = FleetRunner(fleet, devices, config, start=start, on_faults=fanout)
        return cls(fleet, devices, runner, fanout)

    def start_thread(self, connect_timeout_s: float = 30.0) -> None:
        """Connect the machines and run in a background thread."""
        self.devices.start(connect_timeout_s)
        self.thread = threading.Thread(target=self.runner.run, name="simulator", daemon=True)
        self.thread.start()

    def status(self) -> str:
        s = self.devices.stats()
        at = self.runner.start + timedelta(seconds=self.runner.simulated_s)
        return (
            f"sim {at:%Y-%m-%d %H:%M} UTC: {self.runner.samples} samples; "
            f"{s['connected']}/{s['machines']} connected, {s['acked']} messages acknowledged, "
            f"{s['buffered']} samples buffered, {s['dropped']} dropped, "
            f"{self.truth.written} faults recorded"
        )

    def wait(self, tick: Callable[[], None] | None = None, every_s: float = 10.0) -> None:
        last = time.monotonic()
        while self.thread is not None and self.thread.is_alive():
            self.thread.join(0.5)
            if tick is not None and time.monotonic() - last >= every_s:
                last = time.monotonic()
                tick()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.runner.stop()
        if self.thread is not None:
            self.thread.join(timeout_s)
        self.devices.stop(timeout_s)

    def progress(self) -> float:
        total = self.runner.config.duration_s
        if not total or math.isinf(total):
            return 0.0
        return min(self.runner.simulated_s / total, 1.0)

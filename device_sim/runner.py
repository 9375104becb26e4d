"""Drive a fleet: sample every machine on a clock and publish in batches."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from device_sim.fleet import Fleet
from device_sim.physics import MachineModel, Sample
from device_sim.publisher import Publisher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimConfig:
    interval_s: float = 1.0  # simulated seconds between two samples of a machine
    samples_per_message: int = 5
    speed: float = 1.0  # simulated seconds per real second
    duration_s: float | None = None  # simulated seconds to run; None: until stopped


class FleetRunner:
    """Samples every machine each ``interval_s`` and publishes every few samples."""

    def __init__(
        self,
        fleet: Fleet,
        publisher: Publisher,
        config: SimConfig,
        *,
        start: datetime | None = None,
        on_publish: Callable[[str, list[Sample]], None] | None = None,
    ) -> None:
        self.fleet = fleet
        self.publisher = publisher
        self.config = config
        self.start = start or datetime.now(UTC)
        self.machines = [MachineModel(fleet, m, self.start) for m in fleet.machines]
        self.on_publish = on_publish
        self._stop = threading.Event()
        self.samples = 0
        self.messages = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        cfg = self.config
        buffers: dict[str, list[Sample]] = {m.machine.serial: [] for m in self.machines}
        seq = dict.fromkeys(buffers, 0)
        wall_start = time.monotonic()
        step = 0
        while not self._stop.is_set():
            elapsed = step * cfg.interval_s
            if cfg.duration_s is not None and elapsed > cfg.duration_s:
                break
            wait = wall_start + elapsed / cfg.speed - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            for machine in self.machines:
                serial = machine.machine.serial
                buffers[serial].append(machine.sample(elapsed))
                self.samples += 1
                if len(buffers[serial]) >= cfg.samples_per_message:
                    self._flush(serial, buffers, seq)
            step += 1
        for serial, pending in buffers.items():
            if pending:
                self._flush(serial, buffers, seq)
        log.info("simulator stopped", extra={"samples": self.samples, "messages": self.messages})

    def _flush(self, serial: str, buffers: dict[str, list[Sample]], seq: dict[str, int]) -> None:
        samples, buffers[serial] = buffers[serial], []
        seq[serial] += 1
        self.publisher.publish(serial, seq[serial], samples)
        self.messages += 1
        if self.on_publish is not None:
            self.on_publish(serial, samples)

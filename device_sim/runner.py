"""Drive a fleet on a clock: real time, accelerated time, or as fast as the sink takes it.

Every ``interval_s`` simulated seconds the physics gives each running machine one
sample, stamped with the simulated time; a machine's samples go to the sink in
batches of ``samples_per_message`` (as gateways batch), and a machine that stops
running flushes what it holds. ``speed`` is simulated seconds per real second
(``math.inf``: no waiting; the sink's backlog paces the run). The sink is a
device_sim.devices.DeviceFleet (one MQTT identity per machine, store and forward) or the
shared-connection Publisher. Newly known faults are reported to ``on_faults`` (the
ground truth) up to ``TRUTH_CHECK_S`` simulated seconds before they start.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from device_sim.faults import FaultEvent
from device_sim.fleet import Fleet
from device_sim.physics import FleetPhysics, Sample
from device_sim.publisher import Publisher

log = logging.getLogger(__name__)
TRUTH_CHECK_S = 600.0  # simulated seconds between looks for newly started faults


@dataclass(frozen=True)
class SimConfig:
    interval_s: float = 1.0  # simulated seconds between two samples of a machine
    samples_per_message: int = 5
    speed: float = 1.0  # simulated seconds per real second; math.inf: no waiting
    duration_s: float | None = None  # simulated seconds to run; None: until stopped


class SampleSink(Protocol):
    """Where batches of samples go; ``pump`` lets it work while the runner waits."""

    @property
    def backlog(self) -> int: ...

    def submit(self, serial: str, samples: Sequence[Sample]) -> None: ...

    def pump(self, timeout_s: float) -> None: ...


class PublisherSink:
    """The shared-connection Publisher as a sink (message counter per machine)."""

    backlog = 0

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.seq: dict[str, int] = {}

    def submit(self, serial: str, samples: Sequence[Sample]) -> None:
        self.seq[serial] = self.seq.get(serial, 0) + 1
        self.publisher.publish(serial, self.seq[serial], samples)

    def pump(self, timeout_s: float) -> None:
        time.sleep(timeout_s)


class FleetRunner:
    """Samples every running machine each ``interval_s`` and hands batches to the sink."""

    def __init__(
        self,
        fleet: Fleet,
        sink: Publisher | SampleSink,
        config: SimConfig,
        *,
        start: datetime | None = None,
        on_publish: Callable[[str, list[Sample]], None] | None = None,
        on_faults: Callable[[list[FaultEvent]], None] | None = None,
    ) -> None:
        self.fleet = fleet
        self.sink: SampleSink = PublisherSink(sink) if isinstance(sink, Publisher) else sink
        self.config = config
        self.start = start or datetime.now(UTC)
        self.physics = FleetPhysics(fleet, self.start)
        self.on_publish = on_publish
        self.on_faults = on_faults
        self.max_backlog = max(1000, 4 * config.samples_per_message * len(fleet.machines))
        self._stop = threading.Event()
        self._reported: set[str] = set()
        self.samples = 0
        self.messages = 0
        self.simulated_s = 0.0

    def stop(self) -> None:
        self._stop.set()

    def _wait_until(self, deadline: float) -> bool:
        """Let the sink work until the wall clock reaches ``deadline``; False if stopped."""
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self.sink.pump(min(left, 0.05))
        return False

    def _report_faults(self, until: datetime) -> None:
        if self.on_faults is None:
            return
        events = self.physics.plan.overlapping(self.start.timestamp(), until.timestamp())
        new = [e for e in events if e.fault_id not in self._reported]
        if new:
            self._reported.update(e.fault_id for e in new)
            self.on_faults(new)

    def _pace(self, wall_start: float, elapsed: float) -> bool:
        """Wait for the step's wall-clock time (or for sink room); False if stopped."""
        if math.isfinite(self.config.speed):
            return self._wait_until(wall_start + elapsed / self.config.speed)
        while self.sink.backlog > self.max_backlog and not self._stop.is_set():
            self.sink.pump(0.01)
        return not self._stop.is_set()

    def _sample(self, at: datetime, buffers: dict[str, list[Sample]]) -> None:
        sent: set[str] = set()
        for group in self.physics.step(at):
            for serial, sample in group.samples(at):
                sent.add(serial)
                pending = buffers.setdefault(serial, [])
                pending.append(sample)
                self.samples += 1
                if len(pending) >= self.config.samples_per_message:
                    self._flush(serial, buffers)
        for serial in [s for s, pending in buffers.items() if pending and s not in sent]:
            self._flush(serial, buffers)  # the machine stopped: its gateway sends what it has

    def run(self) -> None:
        cfg = self.config
        buffers: dict[str, list[Sample]] = {}
        wall_start = time.monotonic()
        step = 0
        next_truth = 0.0
        while not self._stop.is_set():
            elapsed = step * cfg.interval_s
            if cfg.duration_s is not None and elapsed > cfg.duration_s:
                break
            if not self._pace(wall_start, elapsed):
                break
            at = self.start + timedelta(seconds=elapsed)
            self._sample(at, buffers)
            if elapsed >= next_truth:  # faults are known a little before they start
                ahead = elapsed + TRUTH_CHECK_S
                if cfg.duration_s is not None:
                    ahead = min(ahead, cfg.duration_s)
                self._report_faults(self.start + timedelta(seconds=ahead))
                next_truth = elapsed + TRUTH_CHECK_S
            self.simulated_s = elapsed
            step += 1
            if not math.isfinite(cfg.speed) or step % 50 == 0:
                self.sink.pump(0.0)
        for serial, pending in buffers.items():
            if pending:
                self._flush(serial, buffers)
        self._report_faults(self.start + timedelta(seconds=self.simulated_s))
        log.info("simulator stopped", extra={"samples": self.samples, "messages": self.messages})

    def _flush(self, serial: str, buffers: dict[str, list[Sample]]) -> None:
        samples, buffers[serial] = buffers[serial], []
        self.sink.submit(serial, samples)
        self.messages += 1
        if self.on_publish is not None:
            self.on_publish(serial, samples)

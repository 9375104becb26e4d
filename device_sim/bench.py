"""Simulator benchmark: a large fleet at accelerated time against a real broker.

Measured in one run, on one fleet (every machine running, the worst case):

- ``target``: the samples per second the fleet must produce to keep its clock
  (machines x speed / interval);
- ``achieved``: what the runner produced and the broker acknowledged while keeping
  that clock, and the simulated speed it actually kept;
- ``ceiling``: the same fleet as fast as the broker acknowledges (speed = inf);
- ``physics``: the vectorised physics alone, and the ``baseline`` of the same physics
  stepped one machine at a time (a Python loop over machines).
"""

from __future__ import annotations

import dataclasses
import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from device_sim.devices import DeviceConfig, DeviceFleet
from device_sim.fleet import Fleet
from device_sim.physics import FleetPhysics
from device_sim.runner import FleetRunner, SimConfig


@dataclass(frozen=True)
class BenchConfig:
    speed: float = 1440.0  # one simulated day per real minute
    interval_s: float = 60.0
    samples_per_message: int = 5
    wall_s: float = 30.0  # real seconds at the target clock
    ceiling_steps: int = 240
    physics_steps: int = 200
    baseline_machines: int = 200
    baseline_steps: int = 20

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(wall_s=8.0, ceiling_steps=60, physics_steps=50, baseline_steps=5)


def always_running(fleet: Fleet) -> Fleet:
    """The fleet with every machine on a continuous schedule (the heaviest load)."""
    machines = tuple(dataclasses.replace(m, schedule="continuous") for m in fleet.machines)
    return dataclasses.replace(fleet, machines=machines)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def physics_rate(fleet: Fleet, steps: int, interval_s: float, start: datetime) -> float:
    physics = FleetPhysics(fleet, start)
    began = time.perf_counter()
    samples = 0
    for i in range(steps):
        samples += sum(len(g.rows) for g in physics.step(start + timedelta(seconds=i * interval_s)))
    return samples / (time.perf_counter() - began)


def baseline_rate(
    fleet: Fleet, machines: int, steps: int, interval_s: float, start: datetime
) -> float:
    """The same physics, one machine per FleetPhysics, stepped in a Python loop."""
    singles = [
        FleetPhysics(dataclasses.replace(fleet, machines=(m,), faults=(), scheduled=()), start)
        for m in fleet.machines[:machines]
    ]
    began = time.perf_counter()
    samples = 0
    for i in range(steps):
        at = start + timedelta(seconds=i * interval_s)
        for p in singles:
            samples += sum(len(g.rows) for g in p.step(at))
    return samples / (time.perf_counter() - began)


def _run(
    fleet: Fleet, host: str, port: int, config: SimConfig, *, prefix: str, start: datetime
) -> dict[str, Any]:
    devices = DeviceFleet(
        host,
        port,
        [m.serial for m in fleet.machines],
        DeviceConfig(prefix=prefix, client_id_prefix=f"bench-{time.time_ns()}-"),
        seed=fleet.seed,
    )
    devices.start(60)
    runner = FleetRunner(fleet, devices, config, start=start)
    cpu0, began = _cpu(), time.monotonic()
    runner.run()
    drained = devices.drain(60)
    wall = time.monotonic() - began
    cpu = _cpu() - cpu0
    stats = devices.stats()
    devices.stop()
    return {
        "samples": runner.samples,
        "wall_s": round(wall, 2),
        "samples_per_s": round(runner.samples / wall),
        "simulated_speed": round((runner.simulated_s + config.interval_s) / wall, 1),
        "cpu_cores": round(cpu / wall, 2),
        "messages_acked": stats["acked"],
        "dropped": stats["dropped"],
        "all_acknowledged": drained,
    }


def run(
    fleet: Fleet,
    host: str,
    port: int,
    config: BenchConfig,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    fleet = always_running(fleet)
    n = len(fleet.machines)
    duration = config.wall_s * config.speed
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=duration + 3600)
    progress(f"physics: {n} machines, {config.physics_steps} steps")
    physics = physics_rate(fleet, config.physics_steps, config.interval_s, start)
    progress(f"baseline: {config.baseline_machines} machines one at a time")
    baseline = baseline_rate(
        fleet, config.baseline_machines, config.baseline_steps, config.interval_s, start
    )
    target = n * config.speed / config.interval_s
    progress(f"at the target clock: {n} machines, speed {config.speed:g}, {config.wall_s:g} s")
    at_target = _run(
        fleet,
        host,
        port,
        SimConfig(config.interval_s, config.samples_per_message, config.speed, duration),
        prefix="prognos-bench-sim/v1",
        start=start,
    )
    progress(f"ceiling: {config.ceiling_steps} steps as fast as acknowledged")
    ceiling = _run(
        fleet,
        host,
        port,
        SimConfig(
            config.interval_s,
            config.samples_per_message,
            math.inf,
            (config.ceiling_steps - 1) * config.interval_s,
        ),
        prefix="prognos-bench-sim/v1",
        start=start,
    )
    return {
        "machines": n,
        "speed": config.speed,
        "interval_s": config.interval_s,
        "target_samples_per_s": round(target),
        "achieved_samples_per_s": at_target["samples_per_s"],
        "achieved_over_target": round(at_target["samples_per_s"] / target, 3),
        "at_target": at_target,
        "ceiling": ceiling,
        "physics_samples_per_s": round(physics),
        "baseline_samples_per_s": round(baseline),
        "physics_over_baseline": round(physics / baseline, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }

"""Load mode: many machines' telemetry from few processes, at a target rate, over QoS 1.

A plan says what to publish: ``LoadPlan`` gives every reading a unique value (its index
in the plan) so that a consumer can prove each one was stored exactly once (the ingest
benchmark and fault tests); ``FleetLoadPlan`` publishes a fleet's machines with their
own models' channels and values inside each channel's valid range, timed by the wall
clock (``prognos sim --load``). ``run_load`` spreads the machines over processes, each
with a ``LoadPublisher`` (device_sim/load_publisher.py), paces them to a rate and
reports what was published, acknowledged, refused and unrouted, and the rate achieved.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import resource
import time
from dataclasses import dataclass
from typing import Any, Protocol

from device_sim import mqtt_wire as wire
from device_sim.fleet import Fleet
from device_sim.load_publisher import LoadCounters, LoadError, LoadPublisher

__all__ = [
    "BrokerLogin",
    "FleetLoadPlan",
    "LoadCounters",
    "LoadError",
    "LoadPlan",
    "LoadPublisher",
    "LoadReport",
    "Plan",
    "publish_plan",
    "run_load",
]


class Plan(Protocol):
    """What a load publishes: rounds over machines, one message per machine a round."""

    @property
    def serials(self) -> tuple[str, ...]: ...

    @property
    def messages_per_machine(self) -> int: ...

    def topic(self, serial: str) -> bytes: ...

    def payload(self, round_: int, machine: int) -> bytes: ...

    def readings_of(self, machine: int) -> int: ...


@dataclass(frozen=True)
class LoadPlan:
    """Messages for ``serials``: ``messages_per_machine`` rounds over the machines.

    Every reading's value is its index in the whole plan (0, 1, 2, ...), so a consumer
    can prove that each one was stored exactly once. Sample times are ``base_ms`` plus
    ``interval_ms`` per sample of a machine, or, when ``live`` is set, the wall-clock
    time of publishing (for latency measurements).
    """

    serials: tuple[str, ...]
    channels: tuple[str, ...]
    messages_per_machine: int
    samples_per_message: int = 1
    base_ms: int = 0
    interval_ms: int = 1
    prefix: str = "prognos/v1"
    live: bool = False

    @property
    def readings_per_message(self) -> int:
        return self.samples_per_message * len(self.channels)

    @property
    def messages(self) -> int:
        return self.messages_per_machine * len(self.serials)

    @property
    def readings(self) -> int:
        return self.messages * self.readings_per_message

    def readings_of(self, machine: int) -> int:
        return self.readings_per_message

    def topic(self, serial: str) -> bytes:
        return wire.topic_bytes(f"{self.prefix.rstrip('/')}/{serial}/telemetry")

    def payload(self, round_: int, machine: int) -> bytes:
        """Protocol v1 JSON of machine ``machine``'s message in round ``round_``."""
        serial = self.serials[machine]
        first = (round_ * len(self.serials) + machine) * self.readings_per_message
        n = self.samples_per_message
        if self.live:
            now_us = time.time_ns() // 1000
            times = [_iso_us(now_us + s) for s in range(n)]
        else:
            t0 = self.base_ms + round_ * n * self.interval_ms
            times = [str(t0 + s * self.interval_ms) for s in range(n)]
        width = len(self.channels)
        samples = ",".join(
            f'{{"t":{times[s]},"values":{{{self._values(first + s * width)}}}}}' for s in range(n)
        )
        return f'{{"v":1,"device":"{serial}","samples":[{samples}]}}'.encode()

    def _values(self, first: int) -> str:
        return ",".join(f'"{code}":{float(first + c)!r}' for c, code in enumerate(self.channels))


@dataclass(frozen=True)
class FleetLoadPlan:
    """A fleet's machines, each publishing its own model's channels.

    Values stay inside each channel's valid range (a slow wave around its nominal
    value), so ingest stores them and no alert opens. A machine's samples are
    ``interval_ms`` apart from ``start_ms`` on, which at the planned rate keeps them
    with the wall clock, and never repeat.
    """

    serials: tuple[str, ...]
    channels: tuple[tuple[tuple[str, float, float, float], ...], ...]  # code, low, mid, high
    messages_per_machine: int
    samples_per_message: int = 5
    interval_ms: int = 1000
    start_ms: int = 0
    prefix: str = "prognos/v1"

    @classmethod
    def for_fleet(
        cls,
        fleet: Fleet,
        *,
        readings_per_s: float,
        duration_s: float,
        samples_per_message: int = 5,
        prefix: str = "prognos/v1",
    ) -> FleetLoadPlan:
        """Enough rounds to publish ``readings_per_s`` for ``duration_s``."""
        channels = []
        for machine in fleet.machines:
            model = fleet.model_of(machine)
            channels.append(
                tuple(
                    (c.code, c.valid[0], min(max(c.nominal, c.valid[0]), c.valid[1]), c.valid[1])
                    for c in model.channels
                )
            )
        per_round = samples_per_message * sum(len(c) for c in channels)
        rounds = max(1, math.ceil(readings_per_s * duration_s / max(per_round, 1)))
        interval_ms = max(1, int(duration_s * 1000 / (rounds * samples_per_message)))
        return cls(
            serials=tuple(m.serial for m in fleet.machines),
            channels=tuple(channels),
            messages_per_machine=rounds,
            samples_per_message=samples_per_message,
            interval_ms=interval_ms,
            start_ms=time.time_ns() // 1_000_000 - interval_ms * samples_per_message,
            prefix=prefix,
        )

    @property
    def readings(self) -> int:
        return self.messages_per_machine * sum(
            self.readings_of(k) for k in range(len(self.serials))
        )

    def readings_of(self, machine: int) -> int:
        return self.samples_per_message * len(self.channels[machine])

    def topic(self, serial: str) -> bytes:
        return wire.topic_bytes(f"{self.prefix.rstrip('/')}/{serial}/telemetry")

    def payload(self, round_: int, machine: int) -> bytes:
        n = self.samples_per_message
        samples = []
        for s in range(n):
            step = round_ * n + s  # the machine's sample number: its times never repeat
            t = self.start_ms + step * self.interval_ms
            phase = step / 50.0 + machine
            values = ",".join(
                f'"{code}":{round(mid + (min(high - mid, mid - low) * 0.2) * math.sin(phase), 3)!r}'
                for code, low, mid, high in self.channels[machine]
            )
            samples.append(f'{{"t":{t},"values":{{{values}}}}}')
        serial = self.serials[machine]
        return f'{{"v":1,"device":"{serial}","samples":[{",".join(samples)}]}}'.encode()


def _iso_us(us: int) -> str:
    seconds, micro = divmod(us, 1_000_000)
    return f'"{time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))}.{micro:06d}Z"'


@dataclass
class LoadReport:
    messages: int
    readings: int
    acked: int
    refused: int
    unrouted: int  # acknowledged "no matching subscribers": nobody was subscribed
    reconnects: int
    resent: int
    seconds: float  # from the first publish to the last PUBACK
    cpu_s: float
    finished_at: float = 0.0  # time.monotonic() (one clock for every process on a host)

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


def publish_plan(
    publisher: LoadPublisher,
    plan: Plan,
    machines: range,
    *,
    rate_msgs: float | None = None,
    ack_timeout_s: float = 300.0,
) -> LoadReport:
    """Publish the plan's messages of ``machines`` (indexes), paced to ``rate_msgs``."""
    topics = [plan.topic(plan.serials[k]) for k in machines]
    cpu_before = cpu_seconds()
    started = time.monotonic()
    sent = readings = 0
    for round_ in range(plan.messages_per_machine):
        for i, k in enumerate(machines):
            publisher.publish(topics[i], plan.payload(round_, k))
            sent += 1
            readings += plan.readings_of(k)
            if rate_msgs is not None:
                while (ahead := started + sent / rate_msgs - time.monotonic()) > 0:
                    publisher.pump(ahead)  # sends what is queued while it waits
    if not publisher.flush(ack_timeout_s):
        raise LoadError(
            f"{publisher.counters.outstanding} messages not acknowledged in {ack_timeout_s}s"
        )
    c = publisher.counters
    return LoadReport(
        messages=sent,
        readings=readings,
        acked=c.acked,
        refused=c.refused,
        unrouted=c.unrouted,
        reconnects=c.reconnects,
        resent=c.resent,
        seconds=time.monotonic() - started,
        cpu_s=cpu_seconds() - cpu_before,
        finished_at=time.monotonic(),
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- several processes
@dataclass(frozen=True)
class BrokerLogin:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


def _load_process(  # noqa: PLR0917 - a process target takes positional arguments
    login: BrokerLogin,
    client_id: str,
    plan: Plan,
    machines: range,
    rate_msgs: float | None,
    ready: Any,
    go: Any,
    done: Any,
) -> None:
    publisher = LoadPublisher(
        login.host,
        login.port,
        client_id=client_id,
        username=login.username,
        password=login.password,
    )
    try:
        publisher.connect()
    except LoadError as exc:
        ready.put(str(exc))
        return
    ready.put("")
    go.wait()
    try:
        done.put(publish_plan(publisher, plan, machines, rate_msgs=rate_msgs))
    except LoadError as exc:
        done.put(str(exc))
    finally:
        publisher.close()


def run_load(
    plan: Plan,
    login: BrokerLogin,
    *,
    processes: int = 2,
    rate_msgs: float | None = None,
    client_prefix: str = "prognos-load",
) -> LoadReport:
    """Publish ``plan`` from ``processes`` processes (machines split between them).

    The processes connect first and start together, so the clock measures publishing,
    not Python start-up. ``seconds`` runs from the start to the last PUBACK.
    """
    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Queue(), ctx.Event(), ctx.Queue()
    n = len(plan.serials)
    share = -(-n // processes)
    parts = [range(i, min(i + share, n)) for i in range(0, n, share)]
    procs = [
        ctx.Process(
            target=_load_process,
            args=(
                login,
                f"{client_prefix}-{i}",
                plan,
                part,
                None if rate_msgs is None else rate_msgs * len(part) / n,
                ready,
                go,
                done,
            ),
            daemon=True,
        )
        for i, part in enumerate(parts)
    ]
    for proc in procs:
        proc.start()
    try:
        errors = [ready.get(timeout=60) for _ in procs]
        if any(errors):
            raise LoadError("; ".join(e for e in errors if e))
        started = time.monotonic()
        go.set()
        reports = [done.get(timeout=900) for _ in procs]
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    failures = [r for r in reports if isinstance(r, str)]
    if failures:
        raise LoadError("; ".join(failures))
    finished = max(r.finished_at for r in reports)
    return LoadReport(
        messages=sum(r.messages for r in reports),
        readings=sum(r.readings for r in reports),
        acked=sum(r.acked for r in reports),
        refused=sum(r.refused for r in reports),
        unrouted=sum(r.unrouted for r in reports),
        reconnects=sum(r.reconnects for r in reports),
        resent=sum(r.resent for r in reports),
        seconds=finished - started,
        cpu_s=sum(r.cpu_s for r in reports),
        finished_at=finished,
    )

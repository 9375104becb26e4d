"""Fleet files: the machines to simulate and the service network that looks after them.

A fleet file is TOML (examples/demo-fleet.toml, examples/fleet-1000.toml; the format
is documented in docs/simulator.md). Machines are listed explicitly (``[[equipment]]``
with ``[[models]]``, ``[[customers]]``) or generated (``[[fleet]]``: family, count,
regions, dates, packages), or both; the service network likewise (``[[stations]]`` ...
or ``[network]``). ``[simulation]`` sets the default duty schedule, ``[fault_rates]``
the random faults per machine-month, ``[[faults]]`` schedules faults. Every
cross-reference is checked on load; the same file and seed give the same fleet.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from device_sim import faultfile, generate, netgen
from device_sim.errors import FleetFileError
from device_sim.families import BUILTIN_MODELS, FAMILY_NAMES, THERMAL_TAU_S, kind_of
from device_sim.faultfile import FaultDef, ScheduledFault
from device_sim.network import (
    DepotDef,
    PartDef,
    StationDef,
    StockDef,
    TechnicianDef,
    parse_network,
)

__all__ = [
    "ChannelDef",
    "DepotDef",
    "FaultDef",
    "Fleet",
    "MachineDef",
    "ModelDef",
    "PartDef",
    "ScheduledFault",
    "StationDef",
    "StockDef",
    "TechnicianDef",
    "load_fleet",
    "parse_fleet",
]

SCHEDULES = ("shifts", "two_shifts", "continuous")


@dataclass(frozen=True)
class ChannelDef:
    code: str
    name: str
    unit: str
    nominal: float  # midpoint between the reading at idle and at full load
    swing: float  # half the span between idle and full load
    noise: float  # standard deviation of sensor noise
    valid: tuple[float, float]
    physical: tuple[float, float]
    grade: str = "major"
    kind: str = "generic"  # what it measures (device_sim.families.KINDS)
    tau_s: float = 0.0  # first-order lag behind the load (thermal channels)
    decimals: int = 3  # resolution the device reports

    @property
    def idle(self) -> float:
        return self.nominal - self.swing

    @property
    def full(self) -> float:
        return self.nominal + self.swing


@dataclass(frozen=True)
class ModelDef:
    code: str
    family: str
    name: str
    channels: tuple[ChannelDef, ...]


@dataclass(frozen=True)
class MachineDef:
    serial: str
    model: str
    customer: str
    latitude: float
    longitude: float
    commissioned: date
    warranty_end: date
    package: str = "none"
    region: str = ""
    mobile: bool = False  # drives between job sites
    schedule: str | None = None  # None: the fleet's default


@dataclass(frozen=True)
class Fleet:
    seed: int
    families: dict[str, str]
    models: dict[str, ModelDef]
    customers: dict[str, str]
    machines: tuple[MachineDef, ...]
    stations: tuple[StationDef, ...] = ()
    technicians: tuple[TechnicianDef, ...] = ()
    parts: tuple[PartDef, ...] = ()
    depots: tuple[DepotDef, ...] = ()
    stock: tuple[StockDef, ...] = ()
    faults: tuple[FaultDef, ...] = field(default=())
    scheduled: tuple[ScheduledFault, ...] = ()
    fault_rates: dict[str, float] = field(default_factory=dict)  # per machine-month
    schedule: str = "shifts"

    def model_of(self, machine: MachineDef) -> ModelDef:
        return self.models[machine.model]

    def schedule_of(self, machine: MachineDef) -> str:
        return machine.schedule or self.schedule


def _req(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise FleetFileError(f"{where}: missing key {key!r}")
    return table[key]


def _pair(value: Any, where: str) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2):
        raise FleetFileError(f"{where}: expected [min, max], got {value!r}")
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise FleetFileError(f"{where}: min {low} > max {high}")
    return low, high


def parse_channel(c: dict[str, Any], where: str) -> ChannelDef:
    code = str(_req(c, "code", where))
    where = f"{where} channel {code}"
    if "idle" in c or "full" in c:
        idle, full = float(_req(c, "idle", where)), float(_req(c, "full", where))
        nominal, swing = (idle + full) / 2, (full - idle) / 2
    else:
        nominal, swing = float(_req(c, "nominal", where)), float(c.get("swing", 0.0))
    try:
        kind = kind_of(code, c.get("kind"))
    except ValueError as exc:
        raise FleetFileError(f"{where}: {exc}") from None
    return ChannelDef(
        code=code,
        name=str(c.get("name", code)),
        unit=str(_req(c, "unit", where)),
        nominal=nominal,
        swing=swing,
        noise=float(c.get("noise", 0.0)),
        valid=_pair(_req(c, "valid", where), f"{where} valid"),
        physical=_pair(_req(c, "physical", where), f"{where} physical"),
        grade=str(c.get("grade", "major")),
        kind=kind,
        tau_s=float(c.get("tau_s", THERMAL_TAU_S.get(kind, 0.0))),
        decimals=int(c.get("decimals", 3)),
    )


def parse_model(code: str, m: dict[str, Any], where: str) -> ModelDef:
    return ModelDef(
        code,
        str(_req(m, "family", where)),
        str(m.get("name", code)),
        tuple(parse_channel(c, where) for c in _req(m, "channels", where)),
    )


def _machines(data: dict[str, Any], source: str) -> list[MachineDef]:
    out = []
    for e in data.get("equipment", []):
        where = f"{source} equipment {e.get('serial')!r}"
        schedule = e.get("schedule")
        if schedule is not None and schedule not in SCHEDULES:
            raise FleetFileError(f"{where}: schedule must be one of {SCHEDULES}")
        out.append(
            MachineDef(
                serial=str(_req(e, "serial", where)),
                model=str(_req(e, "model", where)),
                customer=str(_req(e, "customer", where)),
                latitude=float(_req(e, "lat", where)),
                longitude=float(_req(e, "lon", where)),
                commissioned=_req(e, "commissioned", where),
                warranty_end=_req(e, "warranty_end", where),
                package=str(e.get("package", "none")),
                region=str(e.get("region", "")),
                mobile=bool(e.get("mobile", False)),
                schedule=schedule,
            )
        )
    return out


def parse_fleet(data: dict[str, Any], source: str = "<fleet>") -> Fleet:
    seed = int(data.get("seed", 0))
    families = {
        str(_req(f, "code", f"{source} families")): str(f.get("name", f["code"]))
        for f in data.get("families", [])
    }
    models = {
        str(_req(m, "code", f"{source} models")): parse_model(
            str(m["code"]), m, f"{source} model {m.get('code')!r}"
        )
        for m in data.get("models", [])
    }
    customers = {
        str(_req(c, "code", f"{source} customers")): str(c.get("name", c["code"]))
        for c in data.get("customers", [])
    }
    machines = _machines(data, source)
    simulation = data.get("simulation", {})
    generated = generate.generate_machines(
        data.get("fleet", []),
        seed,
        source,
        models,
        int(simulation.get("machines_per_customer", 8)),
    )
    for code in sorted(generated.models - set(models)):
        models[code] = parse_model(code, BUILTIN_MODELS[code], f"{source} built-in model {code}")
    for family in {m.family for m in models.values()}:
        families.setdefault(family, FAMILY_NAMES.get(family, family))
    customers.update(generated.customers)
    machines += generated.machines
    serials = [m.serial for m in machines]
    if len(set(serials)) != len(serials):
        twice = sorted({s for s in serials if serials.count(s) > 1})
        raise FleetFileError(f"{source}: serial numbers used twice: {twice[:5]}")
    for model in models.values():
        if model.family not in families:
            raise FleetFileError(f"{source} model {model.code!r}: unknown family {model.family!r}")
    for m in machines:
        if m.model not in models:
            raise FleetFileError(f"{source} equipment {m.serial!r}: unknown model {m.model!r}")
        if m.customer not in customers:
            raise FleetFileError(
                f"{source} equipment {m.serial!r}: unknown customer {m.customer!r}"
            )
    network = parse_network(data, source)
    if "network" in data:
        made = netgen.generate_network(
            data["network"], machines, {c: models[c].family for c in models}, seed, source
        )
        network = network.merged(made, source)
    schedule = str(simulation.get("schedule", "shifts"))
    if schedule not in SCHEDULES:
        raise FleetFileError(f"{source} [simulation]: schedule must be one of {SCHEDULES}")
    kinds = {m.serial: {c.code: c.kind for c in models[m.model].channels} for m in machines}
    excursions, scheduled = faultfile.parse_faults(data.get("faults", []), kinds, source)
    return Fleet(
        seed=seed,
        families=families,
        models=models,
        customers=customers,
        machines=tuple(machines),
        stations=network.stations,
        technicians=network.technicians,
        parts=network.parts,
        depots=network.depots,
        stock=network.stock,
        faults=excursions,
        scheduled=scheduled,
        fault_rates=faultfile.parse_rates(data.get("fault_rates", {}), source),
        schedule=schedule,
    )


def load_fleet(path: Path) -> Fleet:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise FleetFileError(f"fleet file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise FleetFileError(f"fleet file {path} is not valid TOML: {exc}") from None
    return parse_fleet(data, str(path))

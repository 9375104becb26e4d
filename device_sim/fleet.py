"""Fleet files: the machines to simulate and the service network that looks after them.

A fleet file is TOML (see examples/demo-fleet.toml) with these tables:
``families``, ``models`` (each with ``channels``), ``customers``, ``equipment``,
``stations``, ``technicians``, ``parts``, ``depots``, ``stock`` and ``faults``. Every
cross-reference (a machine's model, a technician's station, ...) is checked on load.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from device_sim.errors import FleetFileError


@dataclass(frozen=True)
class ChannelDef:
    code: str
    name: str
    unit: str
    nominal: float
    swing: float  # amplitude of the duty-cycle variation around nominal
    noise: float  # standard deviation of sensor noise
    valid: tuple[float, float]
    physical: tuple[float, float]
    grade: str = "major"


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


@dataclass(frozen=True)
class StationDef:
    code: str
    name: str
    tier: int
    city: str
    region: str
    latitude: float
    longitude: float
    skills: tuple[str, ...]
    rating: float = 4.0


@dataclass(frozen=True)
class TechnicianDef:
    code: str
    station: str
    name: str
    level: str
    certifications: tuple[str, ...]


@dataclass(frozen=True)
class PartDef:
    part_number: str
    name: str
    part_class: str
    families: tuple[str, ...]


@dataclass(frozen=True)
class DepotDef:
    code: str
    name: str
    kind: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class StockDef:
    location: str  # a depot code or a station code
    part: str
    on_hand: int
    safety_stock: int
    reorder_point: int


@dataclass(frozen=True)
class FaultDef:
    """An excursion: from ``after_s`` simulated seconds, ``channel`` moves to ``value``."""

    serial: str
    channel: str
    after_s: float
    value: float
    ramp_s: float = 0.0
    duration_s: float | None = None


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

    def model_of(self, machine: MachineDef) -> ModelDef:
        return self.models[machine.model]


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


def parse_fleet(data: dict[str, Any], source: str = "<fleet>") -> Fleet:
    families = {
        str(_req(f, "code", f"{source} families")): str(f.get("name", f["code"]))
        for f in data.get("families", [])
    }
    models: dict[str, ModelDef] = {}
    for m in data.get("models", []):
        where = f"{source} model {m.get('code')!r}"
        family = str(_req(m, "family", where))
        if family not in families:
            raise FleetFileError(f"{where}: unknown family {family!r}")
        channels = tuple(
            ChannelDef(
                code=str(_req(c, "code", where)),
                name=str(c.get("name", c["code"])),
                unit=str(_req(c, "unit", where)),
                nominal=float(_req(c, "nominal", where)),
                swing=float(c.get("swing", 0.0)),
                noise=float(c.get("noise", 0.0)),
                valid=_pair(_req(c, "valid", where), f"{where} channel {c['code']} valid"),
                physical=_pair(_req(c, "physical", where), f"{where} channel {c['code']} physical"),
                grade=str(c.get("grade", "major")),
            )
            for c in _req(m, "channels", where)
        )
        models[str(m["code"])] = ModelDef(
            str(m["code"]), family, str(m.get("name", m["code"])), channels
        )
    customers = {
        str(_req(c, "code", f"{source} customers")): str(c.get("name", c["code"]))
        for c in data.get("customers", [])
    }
    machines = []
    for e in data.get("equipment", []):
        where = f"{source} equipment {e.get('serial')!r}"
        if e.get("model") not in models:
            raise FleetFileError(f"{where}: unknown model {e.get('model')!r}")
        if e.get("customer") not in customers:
            raise FleetFileError(f"{where}: unknown customer {e.get('customer')!r}")
        machines.append(
            MachineDef(
                serial=str(_req(e, "serial", where)),
                model=str(e["model"]),
                customer=str(e["customer"]),
                latitude=float(_req(e, "lat", where)),
                longitude=float(_req(e, "lon", where)),
                commissioned=_req(e, "commissioned", where),
                warranty_end=_req(e, "warranty_end", where),
                package=str(e.get("package", "none")),
            )
        )
    stations = tuple(
        StationDef(
            code=str(s["code"]),
            name=str(s["name"]),
            tier=int(s["tier"]),
            city=str(s["city"]),
            region=str(s["region"]),
            latitude=float(s["lat"]),
            longitude=float(s["lon"]),
            skills=tuple(s.get("skills", ())),
            rating=float(s.get("rating", 4.0)),
        )
        for s in data.get("stations", [])
    )
    station_codes = {s.code for s in stations}
    technicians = []
    for t in data.get("technicians", []):
        if t.get("station") not in station_codes:
            raise FleetFileError(
                f"{source} technician {t.get('code')!r}: unknown station {t.get('station')!r}"
            )
        technicians.append(
            TechnicianDef(
                str(t["code"]),
                str(t["station"]),
                str(t["name"]),
                str(t["level"]),
                tuple(t.get("certifications", ())),
            )
        )
    parts = tuple(
        PartDef(
            str(p["part_number"]), str(p["name"]), str(p["class"]), tuple(p.get("families", ()))
        )
        for p in data.get("parts", [])
    )
    depots = tuple(
        DepotDef(str(d["code"]), str(d["name"]), str(d["kind"]), float(d["lat"]), float(d["lon"]))
        for d in data.get("depots", [])
    )
    locations = station_codes | {d.code for d in depots}
    part_numbers = {p.part_number for p in parts}
    stock = []
    for s in data.get("stock", []):
        if s.get("location") not in locations or s.get("part") not in part_numbers:
            raise FleetFileError(f"{source} stock {s!r}: unknown location or part")
        stock.append(
            StockDef(
                str(s["location"]),
                str(s["part"]),
                int(s["on_hand"]),
                int(s.get("safety_stock", 0)),
                int(s.get("reorder_point", 0)),
            )
        )
    serials = {m.serial for m in machines}
    faults = []
    for f in data.get("faults", []):
        where = f"{source} fault {f!r}"
        serial = str(_req(f, "serial", where))
        if serial not in serials:
            raise FleetFileError(f"{where}: unknown machine {serial!r}")
        model = models[next(m.model for m in machines if m.serial == serial)]
        if f.get("channel") not in {c.code for c in model.channels}:
            raise FleetFileError(f"{where}: model {model.code} has no channel {f.get('channel')!r}")
        faults.append(
            FaultDef(
                serial,
                str(f["channel"]),
                float(_req(f, "after_s", where)),
                float(_req(f, "value", where)),
                float(f.get("ramp_s", 0.0)),
                None if f.get("duration_s") is None else float(f["duration_s"]),
            )
        )
    return Fleet(
        seed=int(data.get("seed", 0)),
        families=families,
        models=models,
        customers=customers,
        machines=tuple(machines),
        stations=stations,
        technicians=tuple(technicians),
        parts=parts,
        depots=depots,
        stock=tuple(stock),
        faults=tuple(faults),
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

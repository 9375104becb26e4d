"""The service network of a fleet file: stations, technicians, parts, depots and stock.

Explicit entries (``[[stations]]``, ``[[technicians]]``, ``[[parts]]``, ``[[depots]]``,
``[[stock]]``) are read here; a ``[network]`` table asks device_sim.netgen to generate
one around real cities instead (or as well).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from device_sim.errors import FleetFileError

LEVELS = ("junior", "intermediate", "senior")
PART_CLASSES = ("critical", "common", "consumable")
DEPOT_KINDS = ("central_warehouse", "regional_depot")


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
class Network:
    stations: tuple[StationDef, ...] = ()
    technicians: tuple[TechnicianDef, ...] = ()
    parts: tuple[PartDef, ...] = ()
    depots: tuple[DepotDef, ...] = ()
    stock: tuple[StockDef, ...] = ()

    def merged(self, other: Network, source: str) -> Network:
        """Both networks together; a code defined twice is an error."""
        out = Network(
            self.stations + other.stations,
            self.technicians + other.technicians,
            self.parts + tuple(p for p in other.parts if p.part_number not in self.part_numbers),
            self.depots + other.depots,
            self.stock + other.stock,
        )
        for what, codes in (
            ("station", [s.code for s in out.stations]),
            ("technician", [t.code for t in out.technicians]),
            ("depot or station", [d.code for d in out.depots] + [s.code for s in out.stations]),
        ):
            twice = sorted({c for c in codes if codes.count(c) > 1})
            if twice:
                raise FleetFileError(f"{source}: {what} codes defined twice: {twice[:5]}")
        return out

    @property
    def part_numbers(self) -> set[str]:
        return {p.part_number for p in self.parts}


def _get(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise FleetFileError(f"{where}: missing key {key!r}")
    return table[key]


def parse_network(data: dict[str, Any], source: str) -> Network:
    """The explicit service-network entries of a fleet file, cross-references checked."""
    stations = []
    for s in data.get("stations", []):
        where = f"{source} station {s.get('code')!r}"
        tier = int(_get(s, "tier", where))
        if tier not in (1, 2, 3):
            raise FleetFileError(f"{where}: tier must be 1, 2 or 3, got {tier}")
        stations.append(
            StationDef(
                code=str(_get(s, "code", where)),
                name=str(_get(s, "name", where)),
                tier=tier,
                city=str(_get(s, "city", where)),
                region=str(_get(s, "region", where)),
                latitude=float(_get(s, "lat", where)),
                longitude=float(_get(s, "lon", where)),
                skills=tuple(s.get("skills", ())),
                rating=float(s.get("rating", 4.0)),
            )
        )
    station_codes = {s.code for s in stations}
    technicians = []
    for t in data.get("technicians", []):
        where = f"{source} technician {t.get('code')!r}"
        if t.get("station") not in station_codes:
            raise FleetFileError(f"{where}: unknown station {t.get('station')!r}")
        if t.get("level") not in LEVELS:
            raise FleetFileError(f"{where}: level must be one of {LEVELS}")
        technicians.append(
            TechnicianDef(
                str(_get(t, "code", where)),
                str(t["station"]),
                str(_get(t, "name", where)),
                str(t["level"]),
                tuple(t.get("certifications", ())),
            )
        )
    parts = tuple(
        PartDef(
            str(_get(p, "part_number", f"{source} parts")),
            str(_get(p, "name", f"{source} part {p.get('part_number')!r}")),
            str(_get(p, "class", f"{source} part {p.get('part_number')!r}")),
            tuple(p.get("families", ())),
        )
        for p in data.get("parts", [])
    )
    depots = tuple(
        DepotDef(
            str(_get(d, "code", f"{source} depots")),
            str(_get(d, "name", f"{source} depot {d.get('code')!r}")),
            str(_get(d, "kind", f"{source} depot {d.get('code')!r}")),
            float(_get(d, "lat", f"{source} depot {d.get('code')!r}")),
            float(_get(d, "lon", f"{source} depot {d.get('code')!r}")),
        )
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
                int(_get(s, "on_hand", f"{source} stock")),
                int(s.get("safety_stock", 0)),
                int(s.get("reorder_point", 0)),
            )
        )
    return Network(tuple(stations), tuple(technicians), parts, depots, tuple(stock))

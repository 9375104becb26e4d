"""A generated service network around real cities, to match a fleet.

From a fleet file's ``[network]`` table (all keys optional):

- ``regions``: provinces to cover (default: every region of the fleet's machines);
- ``tier2`` (default 2) and ``tier3`` (default 3): stations of those tiers per region,
  in the region's next largest cities after the capital, which gets the tier-1 station;
- ``central``: the city of the central warehouse (default: the first region's
  capital); every other region's capital gets a regional depot.

Technicians follow device_sim.network's rules (junior / intermediate / senior,
certified per family, at least 3 per station); stock has safety stock and reorder
points (critical parts in depots, common parts and consumables at stations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from device_sim.cities import City, province_cities
from device_sim.errors import FleetFileError
from device_sim.families import FAMILY_PARTS, SENSOR_PARTS
from device_sim.generate import stable_seed
from device_sim.network import DepotDef, Network, PartDef, StationDef, StockDef, TechnicianDef

if TYPE_CHECKING:
    from device_sim.fleet import MachineDef

SURNAMES = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Lin",
    "Luo",
    "Gao",
]
GIVEN = [
    "Wei",
    "Fang",
    "Min",
    "Jie",
    "Lei",
    "Jing",
    "Tao",
    "Qiang",
    "Hong",
    "Ping",
    "Yan",
    "Bo",
    "Hao",
    "Kai",
    "Lin",
    "Xue",
    "Feng",
    "Yu",
    "Gang",
    "Li",
]
# technicians per tier (low, high) and the share of seniors and intermediates
STAFF = {1: (6, 9, 0.3, 0.4), 2: (4, 6, 0.15, 0.45), 3: (3, 4, 0.0, 0.34)}
RATING = {1: (4.4, 4.9), 2: (3.9, 4.6), 3: (3.5, 4.3)}


def _code(city: City) -> str:
    return "".join(ch for ch in city.name.upper() if ch.isalnum())


def _stations(
    regions: Sequence[str], tier2: int, tier3: int, families: list[str], seed: int
) -> list[StationDef]:
    out = []
    for region in regions:
        cities = province_cities(region)
        tiers = [1] + [2] * tier2 + [3] * tier3
        for city, tier in zip(cities, tiers, strict=False):
            rng = np.random.default_rng(stable_seed(seed, "station", city.name))
            if tier == 3:
                skills = sorted(rng.choice(families, size=min(2, len(families)), replace=False))
            else:
                skills = list(families)
            low, high = RATING[tier]
            out.append(
                StationDef(
                    code=f"ST-{_code(city)}-{tier}",
                    name=f"{city.name} {('Service Center', 'Repair Station', 'Maintenance Point')[tier - 1]}",
                    tier=tier,
                    city=city.name,
                    region=region,
                    latitude=city.latitude,
                    longitude=city.longitude,
                    skills=tuple(str(s) for s in skills),
                    rating=round(float(rng.uniform(low, high)), 1),
                )
            )
    return out


def _technicians(station: StationDef, seed: int) -> list[TechnicianDef]:
    rng = np.random.default_rng(stable_seed(seed, "staff", station.code))
    low, high, seniors, intermediates = STAFF[station.tier]
    count = int(rng.integers(low, high + 1))
    out = []
    for k in range(count):
        u = k / count
        level = (
            "senior" if u < seniors else "intermediate" if u < seniors + intermediates else "junior"
        )
        skills = list(station.skills)
        # everyone holds the station's k-th skill, so every skill has a certified technician
        certs = {skills[k % len(skills)]}
        extra = int(rng.integers(0, len(skills)))
        certs.update(str(s) for s in rng.choice(skills, size=extra, replace=False))
        name = (
            f"{SURNAMES[int(rng.integers(len(SURNAMES)))]} {GIVEN[int(rng.integers(len(GIVEN)))]}"
        )
        out.append(
            TechnicianDef(
                f"T-{station.code[3:]}-{k + 1:02d}", station.code, name, level, tuple(sorted(certs))
            )
        )
    return out


def _parts(families: list[str]) -> list[PartDef]:
    found: dict[str, tuple[str, str, list[str]]] = {}
    for family in families:
        for number, name, cls in FAMILY_PARTS.get(family, []):
            found.setdefault(number, (name, cls, []))[2].append(family)
    for number, name, cls in SENSOR_PARTS:
        found[number] = (name, cls, list(families))
    return [PartDef(n, name, cls, tuple(fams)) for n, (name, cls, fams) in found.items()]


def _stock(
    location: str, parts: list[PartDef], classes: set[str], scale: int, seed: int
) -> list[StockDef]:
    rng = np.random.default_rng(stable_seed(seed, "stock", location))
    out = []
    for p in parts:
        if p.part_class not in classes:
            continue
        safety = max(1, scale // (3 if p.part_class == "critical" else 1))
        reorder = safety + max(1, safety // 2)
        on_hand = int(rng.integers(reorder, reorder + 3 * safety + 1))
        out.append(StockDef(location, p.part_number, on_hand, safety, reorder))
    return out


def generate_network(
    spec: dict[str, Any],
    machines: Sequence[MachineDef],
    family_of_model: dict[str, str],
    seed: int,
    source: str,
) -> Network:
    regions = [str(r) for r in spec.get("regions", [])] or sorted(
        {m.region for m in machines if m.region}
    )
    families = sorted({family_of_model[m.model] for m in machines})
    if not regions or not families:
        raise FleetFileError(f"{source} [network]: no regions or no machines to serve")
    try:
        capitals = {r: province_cities(r)[0] for r in regions}
    except KeyError as exc:
        raise FleetFileError(f"{source} [network]: {exc.args[0]}") from None
    stations = _stations(
        regions, int(spec.get("tier2", 2)), int(spec.get("tier3", 3)), families, seed
    )
    technicians = [t for s in stations for t in _technicians(s, seed)]
    parts = _parts(families)
    central_name = str(spec.get("central", capitals[regions[0]].name))
    every = [c for r in regions for c in province_cities(r)]
    central = next((c for c in every if c.name == central_name), None)
    if central is None:
        raise FleetFileError(
            f"{source} [network]: central city {central_name!r} not in its regions"
        )
    depots = [
        DepotDef(
            f"DC-{_code(central)}",
            f"Central Warehouse {central.name}",
            "central_warehouse",
            central.latitude,
            central.longitude,
        )
    ]
    depots += [
        DepotDef(
            f"RD-{_code(c)}", f"Regional Depot {c.name}", "regional_depot", c.latitude, c.longitude
        )
        for c in capitals.values()
        if c.name != central.name
    ]
    stock = _stock(depots[0].code, parts, {"critical", "common", "consumable"}, 12, seed)
    for d in depots[1:]:
        stock += _stock(d.code, parts, {"critical", "common"}, 6, seed)
    for s in stations:
        classes = {1: {"common", "consumable"}, 2: {"consumable", "common"}, 3: {"consumable"}}[
            s.tier
        ]
        stock += _stock(
            s.code,
            [p for p in parts if set(p.families) & set(s.skills)],
            classes,
            4 - s.tier + 1,
            seed,
        )
    return Network(tuple(stations), tuple(technicians), tuple(parts), tuple(depots), tuple(stock))

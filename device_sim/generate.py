"""Generated machines and customers from a fleet file's ``[[fleet]]`` entries.

Each entry: ``family``, ``count``, ``regions`` (provinces of device_sim.cities), and
optionally ``model`` (default: the family's built-in model), ``commissioned = [first,
last]`` (dates), ``warranty_years``, ``packages = {none = .., silver = .., gold = ..}``
(weights), ``schedule``, ``mobile`` and ``prefix`` (serial prefix). Machines are placed near real cities of their regions
(capitals weigh more); customers are shared by the machines of one region,
``[simulation] machines_per_customer`` (default 8) machines each. The same
entries and seed give the same machines.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from device_sim.cities import province_cities
from device_sim.errors import FleetFileError
from device_sim.families import BUILTIN_MODELS, DEFAULT_MODEL, FAMILY_HABITS

if TYPE_CHECKING:
    from device_sim.fleet import MachineDef, ModelDef

PACKAGES = ("none", "silver", "gold")
COMPANY_WORDS = (
    "Construction Group",
    "Infrastructure Co.",
    "Bridge Engineering",
    "Concrete Works",
    "Road & Rail Builders",
    "Port Services",
    "Industrial Park Co.",
    "Municipal Engineering",
)


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any values, the same on every run and platform."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class Generated:
    machines: list[MachineDef] = field(default_factory=list)
    customers: dict[str, str] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)


def _offset_km(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    return (
        round(lat + north_km / 111.0, 5),
        round(lon + east_km / (111.0 * math.cos(math.radians(lat))), 5),
    )


def _entry_model(entry: dict[str, Any], where: str, explicit: dict[str, ModelDef]) -> str:
    family = str(entry.get("family", ""))
    if family not in FAMILY_HABITS and "model" not in entry:
        raise FleetFileError(f"{where}: unknown family {family!r}; name a model")
    model = str(entry.get("model", DEFAULT_MODEL.get(family, "")))
    if model not in explicit and model not in BUILTIN_MODELS:
        raise FleetFileError(f"{where}: unknown model {model!r}")
    return model


@dataclass(frozen=True)
class _Entry:
    index: int
    model: str
    count: int
    regions: list[str]
    schedule: str | None
    packages: dict[str, float]
    first: date
    last: date
    prefix: str
    mobile: bool
    warranty_years: int


def _parse_entry(
    n: int, entry: dict[str, Any], source: str, explicit: dict[str, ModelDef]
) -> _Entry:
    from device_sim.fleet import SCHEDULES  # noqa: PLC0415 - avoids an import cycle

    where = f"{source} [[fleet]] #{n + 1}"
    model = _entry_model(entry, where, explicit)
    family = explicit[model].family if model in explicit else BUILTIN_MODELS[model]["family"]
    habits = FAMILY_HABITS.get(family)
    count = int(entry.get("count", 0))
    regions = [str(r) for r in entry.get("regions", [])]
    if count < 1 or not regions:
        raise FleetFileError(f"{where}: needs count >= 1 and at least one region")
    try:
        for r in regions:
            province_cities(r)
    except KeyError as exc:
        raise FleetFileError(f"{where}: {exc.args[0]}") from None
    schedule = entry.get("schedule", habits.schedule if habits else None)
    if schedule is not None and schedule not in SCHEDULES:
        raise FleetFileError(f"{where}: schedule must be one of {SCHEDULES}")
    weights = entry.get("packages", {"none": 0.4, "silver": 0.4, "gold": 0.2})
    if set(weights) - set(PACKAGES) or sum(weights.values()) <= 0:
        raise FleetFileError(f"{where}: packages are weights of {PACKAGES}")
    first, last = entry.get("commissioned", [date(2022, 1, 1), date(2026, 6, 30)])
    if not (isinstance(first, date) and isinstance(last, date) and first <= last):
        raise FleetFileError(f"{where}: commissioned = [first date, last date]")
    return _Entry(
        index=n,
        model=model,
        count=count,
        regions=regions,
        schedule=schedule,
        packages={str(k): float(v) for k, v in weights.items()},
        first=first,
        last=last,
        prefix=str(entry.get("prefix", habits.prefix if habits else family[:2].upper())),
        mobile=bool(entry.get("mobile", habits.mobile if habits else False)),
        warranty_years=int(entry.get("warranty_years", 2)),
    )


def _customers(
    per_region: dict[str, int], seed: int, per_customer: int, out: Generated
) -> dict[str, list[str]]:
    pools: dict[str, list[str]] = {}
    for region, machines in sorted(per_region.items()):
        rng = np.random.default_rng(stable_seed(seed, "customers", region))
        cities = province_cities(region)
        pools[region] = []
        for k in range(max(1, math.ceil(machines / max(per_customer, 1)))):
            code = f"C-{region[:3].upper()}-{k + 1:03d}"
            words = COMPANY_WORDS[int(rng.integers(len(COMPANY_WORDS)))]
            out.customers[code] = f"{cities[k % len(cities)].name} {words} {k + 1}"
            pools[region].append(code)
    return pools


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day + timedelta(days=365 * years)


def _machines(
    e: _Entry, seed: int, pools: dict[str, list[str]], numbers: dict[str, int]
) -> list[MachineDef]:
    from device_sim.fleet import MachineDef  # noqa: PLC0415 - avoids an import cycle

    rng = np.random.default_rng(stable_seed(seed, "fleet", e.index))
    names = list(e.packages)
    probs = np.array([e.packages[k] for k in names])
    probs /= probs.sum()
    out = []
    for i in range(e.count):
        region = e.regions[i % len(e.regions)]
        cities = province_cities(region)
        w = np.array([3.0] + [1.0] * (len(cities) - 1))
        city = cities[int(rng.choice(len(cities), p=w / w.sum()))]
        north, east = (float(x) for x in rng.normal(0, 10, 2))
        lat, lon = _offset_km(city.latitude, city.longitude, north, east)
        commissioned = e.first + timedelta(days=int(rng.integers(0, (e.last - e.first).days + 1)))
        numbers[e.prefix] = numbers.get(e.prefix, 0) + 1
        out.append(
            MachineDef(
                serial=f"{e.prefix}-{numbers[e.prefix]:05d}",
                model=e.model,
                customer=pools[region][int(rng.integers(len(pools[region])))],
                latitude=lat,
                longitude=lon,
                commissioned=commissioned,
                warranty_end=_add_years(commissioned, e.warranty_years),
                package=str(names[int(rng.choice(len(names), p=probs))]),
                region=region,
                mobile=e.mobile,
                schedule=e.schedule,
            )
        )
    return out


def generate_machines(
    entries: list[dict[str, Any]],
    seed: int,
    source: str,
    explicit: dict[str, ModelDef],
    per_customer: int = 8,
) -> Generated:
    """The machines and customers of the ``[[fleet]]`` entries."""
    out = Generated()
    parsed = [_parse_entry(n, entry, source, explicit) for n, entry in enumerate(entries)]
    per_region: dict[str, int] = {}
    for e in parsed:
        out.models.add(e.model)
        for i in range(e.count):
            region = e.regions[i % len(e.regions)]
            per_region[region] = per_region.get(region, 0) + 1
    pools = _customers(per_region, seed, per_customer, out)
    numbers: dict[str, int] = {}
    for e in parsed:
        out.machines += _machines(e, seed, pools, numbers)
    return out

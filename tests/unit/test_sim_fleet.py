"""Fleet files: explicit and generated machines, and the generated service network."""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from device_sim.cities import CITIES
from device_sim.errors import FleetFileError
from device_sim.fleet import load_fleet, parse_fleet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat, dlon = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = (
        math.sin(dlat / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon / 2) ** 2
    )
    return 6371 * 2 * math.asin(math.sqrt(a))


def test_the_demo_fleet_is_read_as_before() -> None:
    fleet = load_fleet(EXAMPLES / "demo-fleet.toml")
    assert [m.serial for m in fleet.machines][:2] == ["CP-0001", "CP-0002"]
    assert len(fleet.machines) == 8
    assert fleet.schedule == "continuous"
    assert fleet.fault_rates == {}  # no random faults in the demo
    (excursion,) = fleet.faults
    assert (excursion.serial, excursion.channel, excursion.value) == (
        "CP-0002",
        "coolant_temp",
        112,
    )
    assert {s.code for s in fleet.stations} >= {"ST-CS1", "ST-YY3"}
    coolant = next(c for c in fleet.models["HB-52"].channels if c.code == "coolant_temp")
    assert (coolant.kind, coolant.tau_s, coolant.valid) == ("coolant_temp", 600.0, (40.0, 105.0))


def test_the_generated_fleet_matches_its_file_and_is_the_same_every_time() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-1000.toml")
    assert fleet == load_fleet(EXAMPLES / "fleet-1000.toml")
    assert len(fleet.machines) == len({m.serial for m in fleet.machines}) == 1000
    families = Counter(fleet.models[m.model].family for m in fleet.machines)
    assert families == {
        "concrete_pump": 300,
        "truck_crane": 200,
        "excavator": 300,
        "air_compressor": 200,
    }
    for m in fleet.machines:
        nearest = min(
            km(m.latitude, m.longitude, c.latitude, c.longitude) for c in CITIES[m.region]
        )
        assert nearest < 60, m
        assert m.commissioned < m.warranty_end
        assert m.customer in fleet.customers
    assert {m.package for m in fleet.machines} == {"none", "silver", "gold"}
    assert all(m.mobile for m in fleet.machines if m.serial.startswith(("CP", "TC")))
    assert not any(m.mobile for m in fleet.machines if m.serial.startswith(("EX", "AC")))


def test_the_generated_network_has_tiers_staff_parts_and_stock() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-1000.toml")
    regions = {m.region for m in fleet.machines}
    for region in regions:
        tiers = Counter(s.tier for s in fleet.stations if s.region == region)
        assert tiers[1] == 1
        assert tiers[2] >= 1
        capital = CITIES[region][0]
        (first,) = [s for s in fleet.stations if s.region == region and s.tier == 1]
        assert (first.city, first.latitude, first.longitude) == (
            capital.name,
            capital.latitude,
            capital.longitude,
        )
    staff: dict[str, list[Any]] = {}
    for t in fleet.technicians:
        staff.setdefault(t.station, []).append(t)
    for s in fleet.stations:
        people = staff[s.code]
        assert len(people) >= 3  # the minimum station
        for skill in s.skills:
            assert any(skill in t.certifications for t in people), (s.code, skill)
        assert all(set(t.certifications) <= set(s.skills) for t in people)
        assert 3 <= s.rating <= 5
    levels = Counter(t.level for t in fleet.technicians)
    assert set(levels) == {"junior", "intermediate", "senior"}
    kinds = Counter(d.kind for d in fleet.depots)
    assert kinds["central_warehouse"] == 1
    assert kinds["regional_depot"] == len(regions) - 1
    assert {p.part_class for p in fleet.parts} == {"critical", "common", "consumable"}
    for st in fleet.stock:
        assert 0 < st.safety_stock < st.reorder_point <= st.on_hand
    critical = {p.part_number for p in fleet.parts if p.part_class == "critical"}
    depot_codes = {d.code for d in fleet.depots}
    assert all(st.location in depot_codes for st in fleet.stock if st.part in critical)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"regions": ["Atlantis"]}, "unknown region"),
        ({"count": 0}, "count >= 1"),
        ({"family": "submarine"}, "unknown family"),
        ({"schedule": "sometimes"}, "schedule"),
        ({"packages": {"platinum": 1}}, "packages"),
    ],
)
def test_bad_fleet_entries_are_refused(change: dict[str, Any], message: str) -> None:
    entry = {"family": "excavator", "count": 2, "regions": ["Hunan"], **change}
    with pytest.raises(FleetFileError, match=message):
        parse_fleet({"seed": 1, "fleet": [entry]}, "<t>")


def test_explicit_and_generated_entries_combine_and_codes_must_be_unique() -> None:
    demo = load_fleet(EXAMPLES / "demo-fleet.toml")
    data = tomllib.loads((EXAMPLES / "demo-fleet.toml").read_text())
    data["fleet"] = [{"family": "excavator", "count": 5, "regions": ["Hubei"]}]
    data["network"] = {"regions": ["Hubei"], "tier2": 1, "tier3": 0}
    both = parse_fleet(data, "<t>")
    assert len(both.machines) == len(demo.machines) + 5
    assert {s.code for s in demo.stations} < {s.code for s in both.stations}
    data["fleet"][0]["prefix"] = "CP"
    data["fleet"][0]["count"] = 1
    data["equipment"].append({**data["equipment"][0], "serial": "CP-00001"})
    with pytest.raises(FleetFileError, match="used twice"):
        parse_fleet(data, "<t>")

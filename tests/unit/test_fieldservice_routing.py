"""fieldservice.routing: great-circle distance, station choice, technician choice."""

from __future__ import annotations

import math

import pytest

from fieldservice.domain import Station, Technician
from fieldservice.routing import RoutingDecision, choose_station, choose_technician, haversine_km

R = 6371.0088
CHANGSHA = (28.2282, 112.9388)
WUHAN = (30.5928, 114.3055)
GUANGZHOU = (23.1291, 113.2644)
YUEYANG = (29.3570, 113.1289)


def law_of_cosines_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    a, b, c, d = map(math.radians, (lat1, lon1, lat2, lon2))
    cos_angle = math.sin(a) * math.sin(c) + math.cos(a) * math.cos(c) * math.cos(d - b)
    return R * math.acos(max(-1.0, min(1.0, cos_angle)))


def test_changsha_to_wuhan() -> None:
    km = haversine_km(*CHANGSHA, *WUHAN)
    assert km == pytest.approx(law_of_cosines_km(*CHANGSHA, *WUHAN), abs=0.01)
    assert km == pytest.approx(294.37, abs=0.5)  # ~300 km by road atlases' straight line


def test_paris_to_london() -> None:
    assert haversine_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.56, abs=0.5)


def test_special_distances() -> None:
    assert haversine_km(*WUHAN, *WUHAN) == 0.0
    assert haversine_km(0, 0, 0, 1) == pytest.approx(2 * math.pi * R / 360, rel=1e-9)
    assert haversine_km(0, 0, 90, 0) == pytest.approx(math.pi * R / 2, rel=1e-9)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * R, rel=1e-9)
    assert haversine_km(10, 179.5, 10, -179.5) == pytest.approx(haversine_km(10, 0, 10, 1))


def test_distance_is_symmetric() -> None:
    assert haversine_km(*CHANGSHA, *GUANGZHOU) == pytest.approx(haversine_km(*GUANGZHOU, *CHANGSHA))


def station(
    sid: int,
    where: tuple[float, float],
    *,
    tier: int = 1,
    skills: tuple[str, ...] = ("excavator",),
    rating: float = 4.0,
    active: bool = True,
) -> Station:
    return Station(
        sid,
        f"ST-{sid}",
        f"Station {sid}",
        tier,
        where[0],
        where[1],
        frozenset(skills),
        rating,
        active,
    )


def route(stations: list[Station], grade: str = "major", **kwargs: int) -> RoutingDecision | None:
    return choose_station(
        stations,
        family="excavator",
        grade=grade,
        latitude=CHANGSHA[0],
        longitude=CHANGSHA[1],
        **kwargs,
    )


def test_nearest_qualified_beats_nearer_unqualified() -> None:
    near = station(1, YUEYANG, skills=("crane",))
    far = station(2, WUHAN)
    farther = station(3, GUANGZHOU)
    decision = route([farther, near, far])
    assert decision is not None
    assert decision.station.code == "ST-2"
    assert decision.distance_km == pytest.approx(haversine_km(*CHANGSHA, *WUHAN))
    assert [c.station_code for c in decision.candidates] == ["ST-1", "ST-2", "ST-3"]
    assert [c.excluded_because for c in decision.candidates] == [
        "not qualified for excavator",
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("grade", "tier", "takes"),
    [
        ("critical", 1, True),
        ("critical", 2, False),
        ("critical", 3, False),
        ("major", 1, True),
        ("major", 2, True),
        ("major", 3, False),
        ("minor", 1, True),
        ("minor", 2, True),
        ("minor", 3, True),
    ],
)
def test_tier_rules_per_grade(grade: str, tier: int, takes: bool) -> None:
    decision = route([station(1, YUEYANG, tier=tier)], grade)
    assert (decision is not None) is takes


def test_lower_tier_nearby_passed_over_for_a_critical_fault() -> None:
    decision = route([station(1, YUEYANG, tier=2), station(2, GUANGZHOU, tier=1)], "critical")
    assert decision is not None
    assert decision.station.id == 2
    assert decision.candidates[0].excluded_because == "tier 2 does not take critical faults"


def test_inactive_station_excluded_even_when_nearest() -> None:
    decision = route([station(1, YUEYANG, active=False, skills=()), station(2, WUHAN)])
    assert decision is not None
    assert decision.station.id == 2
    assert decision.candidates[0].excluded_because == "inactive"


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_equal_distance_goes_to_better_rating_then_lower_id(order: tuple[int, ...]) -> None:
    group = [
        station(5, YUEYANG, rating=4.5),
        station(9, YUEYANG, rating=4.8),
        station(3, YUEYANG, rating=4.8),
    ]
    decision = route([group[i] for i in order])
    assert decision is not None
    assert decision.station.id == 3
    assert [c.station_code for c in decision.candidates] == ["ST-3", "ST-9", "ST-5"]


def test_none_when_nothing_qualifies() -> None:
    stations = [
        station(1, YUEYANG, skills=("crane",)),
        station(2, WUHAN, active=False),
        station(3, GUANGZHOU, tier=3),
    ]
    assert route(stations, "major") is None
    assert route([]) is None


def test_unknown_grade_raises() -> None:
    with pytest.raises(ValueError, match="unknown grade 'urgent'"):
        route([station(1, WUHAN)], "urgent")
    with pytest.raises(ValueError, match="unknown grade"):
        route([], "Critical")


def test_explain_lists_candidates_with_reasons() -> None:
    stations = [station(1, YUEYANG, tier=3), station(2, WUHAN), station(3, GUANGZHOU, active=False)]
    decision = route(stations)
    assert decision is not None
    explained = decision.explain()
    wuhan = round(haversine_km(*CHANGSHA, *WUHAN), 2)
    assert explained["chosen"] == "ST-2"
    assert explained["distance_km"] == wuhan
    assert "nearest qualified station" in str(explained["rule"])
    assert explained["candidates"] == [
        {
            "station": "ST-1",
            "distance_km": round(haversine_km(*CHANGSHA, *YUEYANG), 2),
            "excluded_because": "tier 3 does not take major faults",
        },
        {"station": "ST-2", "distance_km": wuhan, "excluded_because": None},
        {
            "station": "ST-3",
            "distance_km": round(haversine_km(*CHANGSHA, *GUANGZHOU), 2),
            "excluded_because": "inactive",
        },
    ]


def test_candidate_list_is_capped_but_choice_is_not() -> None:
    stations = [station(i, YUEYANG, skills=("crane",)) for i in range(1, 5)]
    decision = route([*stations, station(9, WUHAN)], max_candidates=2)
    assert decision is not None
    assert decision.station.id == 9
    assert [c.station_code for c in decision.candidates] == ["ST-1", "ST-2"]


def tech(
    tid: int, level: str, certs: tuple[str, ...] = ("excavator",), active: bool = True
) -> Technician:
    return Technician(tid, f"T-{tid}", 1, f"Tech {tid}", level, frozenset(certs), active)


TEAM = [tech(1, "senior"), tech(2, "intermediate"), tech(3, "junior"), tech(4, "intermediate")]


@pytest.mark.parametrize(("grade", "chosen"), [("minor", 3), ("major", 2), ("critical", 1)])
def test_least_senior_able_technician(grade: str, chosen: int) -> None:
    picked = choose_technician(TEAM, family="excavator", grade=grade)
    assert picked is not None
    assert picked.id == chosen


def test_certification_required() -> None:
    team = [tech(1, "junior", ("crane",)), tech(2, "senior", ("crane", "excavator"))]
    picked = choose_technician(team, family="excavator", grade="minor")
    assert picked is not None
    assert picked.id == 2


def test_critical_needs_a_senior() -> None:
    team = [tech(1, "intermediate"), tech(2, "junior")]
    assert choose_technician(team, family="excavator", grade="critical") is None
    assert choose_technician(team, family="excavator", grade="major") == team[0]


def test_inactive_technician_skipped() -> None:
    team = [tech(1, "junior", active=False), tech(2, "senior")]
    picked = choose_technician(team, family="excavator", grade="minor")
    assert picked is not None
    assert picked.id == 2


def test_no_technician() -> None:
    assert choose_technician([], family="excavator", grade="minor") is None
    assert choose_technician(TEAM, family="crane", grade="minor") is None


def test_equal_level_goes_to_lower_id() -> None:
    team = [tech(8, "junior"), tech(5, "junior"), tech(6, "junior")]
    picked = choose_technician(team, family="excavator", grade="minor")
    assert picked is not None
    assert picked.id == 5

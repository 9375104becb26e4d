"""Which station and technician take a fault. Pure functions.

A station qualifies when it is active, its skills include the machine's family, and
its tier may take the fault's grade (tier 1: any fault; tier 2: major and minor;
tier 3: minor only). Among qualified stations the nearest wins (great-circle
distance); equal distances go to the better-rated station. At the chosen station the
technician is the least senior one certified for the family whose level the grade
needs (critical: senior; major: intermediate or senior; minor: any), so seniors stay
free for complex faults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from fieldservice.domain import LEVELS, Station, Technician

EARTH_RADIUS_KM = 6371.0088

TIERS_FOR_GRADE: dict[str, frozenset[int]] = {
    "critical": frozenset({1}),
    "major": frozenset({1, 2}),
    "minor": frozenset({1, 2, 3}),
}
MIN_LEVEL_FOR_GRADE: dict[str, str] = {
    "critical": "senior",
    "major": "intermediate",
    "minor": "junior",
}


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Candidate:
    station_code: str
    distance_km: float
    excluded_because: str | None


@dataclass(frozen=True)
class RoutingDecision:
    station: Station
    distance_km: float
    candidates: tuple[Candidate, ...]

    def explain(self) -> dict[str, object]:
        return {
            "rule": "nearest qualified station (family skill, tier for grade), then rating",
            "chosen": self.station.code,
            "distance_km": round(self.distance_km, 2),
            "candidates": [
                {
                    "station": c.station_code,
                    "distance_km": round(c.distance_km, 2),
                    "excluded_because": c.excluded_because,
                }
                for c in self.candidates
            ],
        }


def _exclusion(station: Station, family: str, grade: str) -> str | None:
    if not station.active:
        return "inactive"
    if family not in station.skills:
        return f"not qualified for {family}"
    if station.tier not in TIERS_FOR_GRADE[grade]:
        return f"tier {station.tier} does not take {grade} faults"
    return None


def rank_stations(
    stations: Iterable[Station], *, family: str, grade: str, latitude: float, longitude: float
) -> list[tuple[float, Station, str | None]]:
    """Every station by distance (then rating), with why it is excluded (None: qualified)."""
    if grade not in TIERS_FOR_GRADE:
        raise ValueError(f"unknown grade {grade!r}; expected one of {sorted(TIERS_FOR_GRADE)}")
    ranked = sorted(
        ((haversine_km(latitude, longitude, s.latitude, s.longitude), s) for s in stations),
        key=lambda pair: (pair[0], -pair[1].rating, pair[1].id),
    )
    return [(d, s, _exclusion(s, family, grade)) for d, s in ranked]


def choose_station(
    stations: Iterable[Station],
    *,
    family: str,
    grade: str,
    latitude: float,
    longitude: float,
    max_candidates: int = 10,
) -> RoutingDecision | None:
    """The station for a fault of ``grade`` on a machine of ``family`` at (lat, lon)."""
    candidates: list[Candidate] = []
    chosen: tuple[float, Station] | None = None
    for distance, station, reason in rank_stations(
        stations, family=family, grade=grade, latitude=latitude, longitude=longitude
    ):
        if len(candidates) < max_candidates:
            candidates.append(Candidate(station.code, distance, reason))
        if reason is None and chosen is None:
            chosen = (distance, station)
    if chosen is None:
        return None
    return RoutingDecision(chosen[1], chosen[0], tuple(candidates))


def choose_technician(
    technicians: Iterable[Technician], *, family: str, grade: str
) -> Technician | None:
    """The least senior certified technician whose level the grade allows."""
    if grade not in MIN_LEVEL_FOR_GRADE:
        raise ValueError(f"unknown grade {grade!r}; expected one of {sorted(MIN_LEVEL_FOR_GRADE)}")
    floor = LEVELS.index(MIN_LEVEL_FOR_GRADE[grade])
    able = [
        t
        for t in technicians
        if t.active and family in t.certifications and LEVELS.index(t.level) >= floor
    ]
    if not able:
        return None
    return min(able, key=lambda t: (LEVELS.index(t.level), t.id))

"""Response promises (SLA) and warranty status. Pure functions.

Defaults from the after-sales domain: a technician on site within 2 h for a critical
fault, 4 h for a major one, and a booked visit within 72 h for a minor one; Gold
service-package customers get faster promises (a configurable factor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class SlaPolicy:
    on_site: dict[str, timedelta] = field(
        default_factory=lambda: {
            "critical": timedelta(hours=2),
            "major": timedelta(hours=4),
            "minor": timedelta(hours=72),
        }
    )
    gold_factor: float = 0.75

    def due(self, created_at: datetime, grade: str, service_package: str) -> datetime:
        try:
            promise = self.on_site[grade]
        except KeyError:
            raise ValueError(f"no SLA for grade {grade!r}") from None
        if service_package == "gold":
            promise = promise * self.gold_factor
        return created_at + promise


def under_warranty(warranty_end: date, at: datetime) -> bool:
    return at.date() <= warranty_end

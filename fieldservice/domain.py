"""Plain data of the service network and of work orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

GRADES = ("critical", "major", "minor")
LEVELS = ("junior", "intermediate", "senior")


@dataclass(frozen=True)
class Station:
    id: int
    code: str
    name: str
    tier: int
    latitude: float
    longitude: float
    skills: frozenset[str]
    rating: float = 4.0
    active: bool = True


@dataclass(frozen=True)
class Technician:
    id: int
    code: str
    station_id: int
    name: str
    level: str
    certifications: frozenset[str]
    active: bool = True


@dataclass(frozen=True)
class EquipmentContext:
    """What dispatch needs to know about a machine."""

    id: int
    serial_number: str
    model_code: str
    family: str
    customer: str
    latitude: float
    longitude: float
    warranty_end: date
    service_package: str


@dataclass(frozen=True)
class WorkOrder:
    id: int
    number: str
    equipment_id: int
    alert_id: int | None
    source: str
    grade: str
    status: str
    fault_description: str
    under_warranty: bool
    station_id: int | None
    technician_id: int | None
    distance_km: float | None
    sla_due_at: datetime
    created_at: datetime
    routing: dict[str, Any] = field(default_factory=dict)

    def as_event(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "equipment_id": self.equipment_id,
            "alert_id": self.alert_id,
            "source": self.source,
            "grade": self.grade,
            "status": self.status,
            "fault_description": self.fault_description,
            "under_warranty": self.under_warranty,
            "station_id": self.station_id,
            "technician_id": self.technician_id,
            "distance_km": self.distance_km,
            "sla_due_at": self.sla_due_at.isoformat(),
            "created_at": self.created_at.isoformat(),
        }

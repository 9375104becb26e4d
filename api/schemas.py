"""Response models: what the API promises, and what its OpenAPI page shows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    database: bool
    broker: bool | None = None  # None: this process does not run ingest
    timescaledb: str | None = None
    platform: dict[str, Any] | None = None


class Equipment(BaseModel):
    id: int
    serial_number: str
    model: str
    family: str
    customer: str
    latitude: float
    longitude: float
    commissioned_on: date
    warranty_end: date
    service_package: str
    last_reading_at: datetime | None = None


class Point(BaseModel):
    t: datetime
    value: float | None = None
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    count: int | None = None


class Series(BaseModel):
    channel: str
    unit: str
    valid_min: float | None
    valid_max: float | None
    points: list[Point]


class Readings(BaseModel):
    equipment_id: int
    start: datetime
    end: datetime
    bucket: str | None
    series: list[Series]


class HealthPoint(BaseModel):
    """One scored window of a machine (docs/models.md): 100 is healthy, 50 the alarm."""

    time: datetime  # end of the scored window
    score: float
    statistic: float
    ratio: float | None  # statistic / the model's alarm threshold (1.0: the alarm level)
    anomalous: bool
    mode: str | None  # likely failure mode (anomalous windows only)
    mode_probability: float | None
    sensor_fault: bool  # the likely mode is a failing sensor's, not the machine's
    sensor_probability: float | None
    contributions: dict[str, float]  # each channel's share of the anomaly, summing to 1
    explanation: str  # "pump vibration 61 %, hydraulic oil temp 24 %"
    rul_hours: float | None  # remaining useful life; None: not enough history
    rul_low_hours: float | None
    rul_high_hours: float | None
    family: str
    model_version: int


class MachineHealth(HealthPoint):
    equipment_id: int
    serial_number: str


class HealthHistory(BaseModel):
    equipment_id: int
    serial_number: str
    start: datetime
    end: datetime
    points: list[HealthPoint]


class ModelVersion(BaseModel):
    """A trained version of a family's health model (docs/models.md, the registry)."""

    family: str
    version: int
    active: bool  # the version scoring uses
    created_at: datetime
    data_range: list[str | None] | None  # first and last bucket it was trained on
    windows: int | None
    machines: int | None
    readings_per_bucket: float | None  # the history's sampling: telemetry must be near it
    alarm_threshold: float | None
    held_out_alarm_rate: float | None  # share of held-out healthy windows over the alarm
    classifier_accuracy: float | None  # failure-mode classifier, held-out injections
    channels: list[str] | None
    libraries: dict[str, str] | None  # the versions it was trained with


class Alert(BaseModel):
    id: int
    equipment_id: int
    serial_number: str
    channel: str | None
    rule: str
    grade: str
    status: str
    message: str
    details: dict[str, Any]
    reading_time: datetime
    opened_at: datetime
    closed_at: datetime | None


class WorkOrder(BaseModel):
    id: int
    number: str
    equipment_id: int
    serial_number: str
    alert_id: int | None
    source: str
    grade: str
    status: str
    fault_description: str
    under_warranty: bool
    station_code: str | None
    station_name: str | None
    technician_code: str | None
    distance_km: float | None
    routing: dict[str, Any]
    sla_due_at: datetime
    created_at: datetime
    assigned_at: datetime | None


class Station(BaseModel):
    id: int
    code: str
    name: str
    tier: int
    city: str
    region: str
    latitude: float
    longitude: float
    skills: list[str]
    rating: float
    technicians: int


class WebhookDelivery(BaseModel):
    id: int
    event_id: int
    event_type: str
    url: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

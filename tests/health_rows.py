"""Health rows as the scoring job writes them (models/store.py ``HEALTH_COLUMNS``), for
tests that need stored health without training a model."""

from __future__ import annotations

from datetime import datetime


def health_row(
    machine: int,
    at: datetime,
    score: float,
    *,
    contributions: dict[str, float] | None = None,
    explanation: str = "",
    mode: str | None = None,
    probability: float | None = None,
    rul_hours: float | None = None,
    rul_low_hours: float | None = None,
    family: str = "concrete_pump",
) -> dict[str, object]:
    """One scored window; anomalous when it names a mode. The RUL band's high end is the
    estimate itself (the horizon)."""
    return {
        "time": at,
        "equipment_id": machine,
        "score": score,
        "statistic": 1.0,
        "anomalous": mode is not None,
        "contributions": contributions or {},
        "explanation": explanation,
        "mode": mode,
        "mode_probability": probability,
        "sensor_fault": False,
        "sensor_probability": None,
        "rul_hours": rul_hours,
        "rul_low_hours": rul_low_hours,
        "rul_high_hours": rul_hours,
        "family": family,
        "model_version": 1,
    }

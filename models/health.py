"""Health rows: score, explanation, likely mode and remaining useful life (pure).

``assemble`` turns a family model's scores of the latest window into the rows of the
``health`` hypertable. The remaining useful life extrapolates the machine's hourly
detector statistic (recent history plus now) along its linear trend to the failure
level, the statistic at which the health score reaches 10 (three times the alarm
threshold); a flat or improving machine is "beyond the horizon" (``horizon_h``).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from models.family import FamilyModel
from models.rul import linear_rul

FAILURE_MULTIPLE = 3.0  # statistic / alarm threshold at which the score is 10


def rul_hours(
    machines: np.ndarray,
    current: np.ndarray,
    history: pd.DataFrame,
    *,
    now_epoch: float,
    limit: float,
    horizon_h: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RUL (estimate, lower, upper) in hours for each machine, NaN without enough history."""
    n = machines.shape[0]
    past = history[history["equipment_id"].isin(machines)]
    row_of = {int(m): i for i, m in enumerate(machines)}
    counts = past.groupby("equipment_id").size()
    width = int(counts.max()) + 1 if len(counts) else 1
    times = np.full((n, width), np.nan)
    values = np.full((n, width), np.nan)
    times[:, 0] = 0.0
    values[:, 0] = current
    if len(past):
        rows = np.array([row_of[int(m)] for m in past["equipment_id"]])
        slot = past.groupby("equipment_id").cumcount().to_numpy() + 1
        times[rows, slot] = (past["hour"].to_numpy() - now_epoch) / 3600.0
        values[rows, slot] = past["statistic"].to_numpy()
    return linear_rul(times, values, limit, horizon=horizon_h)


def assemble(
    scores: pd.DataFrame,
    model: FamilyModel,
    version: int,
    at: datetime,
    history: pd.DataFrame,
    *,
    horizon_h: float = 720.0,
) -> pd.DataFrame:
    """Health rows for every scored machine (``scores`` from ``FamilyModel.score``)."""
    if scores.empty:
        return pd.DataFrame()
    machines = scores.index.get_level_values("equipment_id").to_numpy()
    statistic = scores["statistic"].to_numpy(dtype=np.float64)
    estimate, lower, upper = rul_hours(
        machines,
        statistic,
        history,
        now_epoch=at.timestamp(),
        limit=FAILURE_MULTIPLE * model.alarm_threshold,
        horizon_h=horizon_h,
    )
    shares = scores[model.channels].to_numpy(dtype=np.float64)
    contributions = [
        {c: round(float(v), 4) for c, v in zip(model.channels, row, strict=True)} for row in shares
    ]
    return pd.DataFrame(
        {
            "time": at,
            "equipment_id": machines.astype(np.int64),
            "score": np.clip(scores["score"].to_numpy(dtype=np.float64), 0.0, 100.0),
            "statistic": statistic,
            "anomalous": scores["anomalous"].to_numpy(dtype=bool),
            "contributions": contributions,
            "explanation": model.explain(scores),
            "mode": scores["mode"].to_numpy(dtype=object),
            "mode_probability": scores["mode_probability"].to_numpy(dtype=np.float64),
            "sensor_fault": scores["sensor_fault"].to_numpy(dtype=bool),
            "sensor_probability": scores["sensor_probability"].to_numpy(dtype=np.float64),
            "rul_hours": estimate,
            "rul_low_hours": lower,
            "rul_high_hours": upper,
            "family": model.family,
            "model_version": version,
        }
    )

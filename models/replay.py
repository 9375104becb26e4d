"""The scoring job replayed over a past period, all at once (pure pandas / NumPy).

Live, the scoring job scores each machine's latest ``window_s`` every minute. To measure
the models over weeks of simulated history, the same windows are rebuilt from one read
of the period's bucket aggregates: a window ends every ``step_s`` seconds (a multiple of
the bucket width; ``window_s`` a multiple of ``step_s``), each covering the ``window_s``
before its end, exactly as a run at that moment would read it. The family model scores
all (machine, window) pairs in one call, and each anomalous window gets the remaining
useful life the live job would give it: its machine's hourly mean statistic over the
previous ``history_h`` hours plus the window itself, extrapolated to the failure level
(models/health.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from models.family import FamilyModel
from models.health import FAILURE_MULTIPLE
from models.rul import linear_rul

# How often the model-alert rule reads a machine's health, live (prognos/model_alerts.py)
# and replayed: every bucket of the evaluation's features, the finest the replay rebuilds.
ALERT_STEP_S = 600.0


@dataclass(frozen=True)
class ReplaySettings:
    window_s: float = 3600.0
    step_s: float = ALERT_STEP_S
    history_h: float = 72.0
    horizon_h: float = 720.0

    def check(self, bucket_s: float) -> None:
        if self.window_s % self.step_s or self.step_s % bucket_s:
            raise ValueError(
                f"window_s ({self.window_s:g}) must be a multiple of step_s ({self.step_s:g}), "
                f"and step_s of the bucket width ({bucket_s:g})"
            )


def sliding_windows(
    aggregates: pd.DataFrame, start: datetime, end: datetime, settings: ReplaySettings
) -> pd.DataFrame:
    """Every window ending at ``start + k * step_s`` up to ``end``, as window ids ``k``.

    ``aggregates`` are bucket rows of one read of [start, end) (models/store.py
    ``window_aggregates``, any window numbering); a bucket appears once per window that
    covers it, with its time ``t_h`` in hours since that window's start. Windows that
    would begin before ``start`` are left out (their data was not read).
    """
    if aggregates.empty:
        return aggregates.assign(window=pd.Series(dtype=np.int64))
    epoch = aggregates["bucket"].astype("int64").to_numpy() / 1e9
    since = epoch - start.timestamp()
    step, per_window = settings.step_s, int(settings.window_s // settings.step_s)
    first_end = np.floor(since / step).astype(np.int64) + 1  # the first window end after it
    last = int((end.timestamp() - start.timestamp()) // step)
    parts = []
    for lag in range(per_window):
        ends = first_end + lag
        keep = (ends >= per_window) & (ends <= last)
        part = aggregates.loc[keep].copy()
        part["window"] = ends[keep]
        part["t_h"] = (since[keep] - (ends[keep] - per_window) * step) / 3600.0
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def window_end(window: np.ndarray, start: datetime, step_s: float) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.Timestamp(start) + pd.to_timedelta(window * step_s, unit="s"))


def replay(
    model: FamilyModel,
    aggregates: pd.DataFrame,
    start: datetime,
    end: datetime,
    settings: ReplaySettings,
) -> pd.DataFrame:
    """Health of every machine at every step of the period (one row per scored window).

    Columns: ``equipment_id``, ``time`` (window end), ``statistic``, ``ratio``
    (statistic over the alarm threshold), ``score``, ``anomalous``, ``mode``,
    ``mode_probability``, ``sensor_fault``, ``channel`` (the largest contributor),
    ``explanation``, ``rul_hours``, ``rul_low_hours``, ``rul_high_hours``.
    """
    windows = sliding_windows(aggregates, start, end, settings)
    scores = model.score(windows) if not windows.empty else pd.DataFrame()
    if scores.empty:
        return pd.DataFrame()
    machines = scores.index.get_level_values("equipment_id").to_numpy(dtype=np.int64)
    ids = scores.index.get_level_values("window").to_numpy(dtype=np.int64)
    shares = scores[model.channels].to_numpy(dtype=np.float64)
    out = pd.DataFrame(
        {
            "equipment_id": machines,
            "time": window_end(ids, start, settings.step_s),
            "statistic": scores["statistic"].to_numpy(dtype=np.float64),
            "score": scores["score"].to_numpy(dtype=np.float64),
            "anomalous": scores["anomalous"].to_numpy(dtype=bool),
            "mode": scores["mode"].to_numpy(dtype=object),
            "mode_probability": scores["mode_probability"].to_numpy(dtype=np.float64),
            "sensor_fault": scores["sensor_fault"].to_numpy(dtype=bool),
            "sensor_probability": scores["sensor_probability"].to_numpy(dtype=np.float64),
            "channel": np.asarray(model.channels, dtype=object)[shares.argmax(axis=1)],
            "explanation": model.explain(scores),
        }
    )
    out["ratio"] = out["statistic"] / model.alarm_threshold
    out = out.sort_values(["equipment_id", "time"], ignore_index=True)
    rul = replay_rul(
        out,
        limit=FAILURE_MULTIPLE * model.alarm_threshold,
        history_h=settings.history_h,
        horizon_h=settings.horizon_h,
    )
    return pd.concat([out, rul], axis=1)


def replay_rul(
    health: pd.DataFrame, *, limit: float, history_h: float, horizon_h: float
) -> pd.DataFrame:
    """RUL columns for the anomalous rows of ``health`` (NaN elsewhere), as the live job
    computes them: hourly mean statistic of the ``history_h`` before the row, plus now."""
    n = len(health)
    columns = ["rul_hours", "rul_low_hours", "rul_high_hours"]
    result = pd.DataFrame(np.full((n, 3), np.nan), columns=columns, index=health.index)
    rows = np.flatnonzero(health["anomalous"].to_numpy())
    if rows.size == 0:
        return result
    epoch = health["time"].astype("int64").to_numpy() / 1e9
    hour = np.floor(epoch / 3600.0) * 3600.0
    hourly = (
        pd.DataFrame(
            {
                "equipment_id": health["equipment_id"].to_numpy(),
                "hour": hour,
                "statistic": health["statistic"].to_numpy(),
            }
        )
        .groupby(["equipment_id", "hour"], sort=True)["statistic"]
        .mean()
        .reset_index()
    )
    machine_of = hourly["equipment_id"].to_numpy()
    hours = hourly["hour"].to_numpy()
    stats = hourly["statistic"].to_numpy()
    key = machine_of.astype(np.float64) * 1e11 + hours  # sorted: machine, then hour
    machine = health["equipment_id"].to_numpy()[rows].astype(np.float64)
    now = epoch[rows]
    # hours that started in [now - history, now) and are over by now (the live job also
    # reads the current hour's earlier rows; a replay cannot without seeing its later ones)
    lo = np.searchsorted(key, machine * 1e11 + (now - history_h * 3600.0), side="left")
    hi = np.searchsorted(key, machine * 1e11 + (now - 3600.0), side="right")
    width = max(int((hi - lo).max()), 0) + 1
    times = np.full((rows.size, width), np.nan)
    values = np.full((rows.size, width), np.nan)
    times[:, 0] = 0.0
    values[:, 0] = health["statistic"].to_numpy()[rows]
    offsets = np.arange(width - 1)
    index = lo[:, None] + offsets[None, :]
    valid = index < hi[:, None]
    safe = np.where(valid, index, 0)
    times[:, 1:] = np.where(valid, (hours[safe] - now[:, None]) / 3600.0, np.nan)
    values[:, 1:] = np.where(valid, stats[safe], np.nan)
    estimate, lower, upper = linear_rul(times, values, limit, horizon=horizon_h)
    result.iloc[rows, 0] = estimate
    result.iloc[rows, 1] = lower
    result.iloc[rows, 2] = upper
    return result

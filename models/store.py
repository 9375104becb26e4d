"""Database adapter of the health models: windows in, health out (psycopg 3).

* ``catalog``: every family's machines and the channels all its models share;
* ``window_aggregates``: ``time_bucket`` aggregates (mean, min, max, count) of every
  machine's channels over a time range, cut into windows, from the 1-minute rollup
  ``readings_1m`` (default: cheap for a whole fleet) or the raw ``readings``;
* ``write_health``: health rows through COPY into a staging table, then upserted;
* ``statistic_history``: each machine's recent hourly detector statistic (for RUL).

Large results leave the server as CSV through ``COPY ... TO STDOUT`` and are parsed by
pandas in C, not row by row in Python.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from models.roles import health_channels


@dataclass(frozen=True)
class Family:
    code: str
    channels: list[str]  # health channels every model of the family has, in a stable order
    machines: list[int]


def catalog(conn: psycopg.Connection[Any]) -> dict[str, Family]:
    rows = conn.execute(
        """SELECT m.family, m.id, array_agg(c.code ORDER BY c.id)
           FROM equipment_models m JOIN channels c ON c.model_id = m.id
           GROUP BY m.family, m.id"""
    ).fetchall()
    machines = conn.execute(
        """SELECT m.family, array_agg(e.id ORDER BY e.id)
           FROM equipment e JOIN equipment_models m ON m.id = e.model_id GROUP BY m.family"""
    ).fetchall()
    by_family: dict[str, list[list[str]]] = {}
    for family, _model, codes in rows:
        by_family.setdefault(str(family), []).append(list(codes))
    members = {str(f): [int(i) for i in ids] for f, ids in machines}
    out: dict[str, Family] = {}
    for family, models in by_family.items():
        shared = [c for c in health_channels(models[0]) if all(c in m for m in models[1:])]
        out[family] = Family(family, shared, members.get(family, []))
    return out


_ROLLUP: LiteralString = """
    SELECT r.equipment_id,
           floor(extract(epoch FROM r.bucket - %(start)s) / %(window_s)s)::int AS window,
           extract(epoch FROM time_bucket(%(bucket)s, r.bucket, %(start)s)) AS bucket,
           c.code AS channel,
           sum(r.mean * r.count) / sum(r.count) AS mean,
           min(r.min) AS min, max(r.max) AS max, sum(r.count) AS count
    FROM readings_1m r JOIN channels c ON c.id = r.channel_id
    WHERE r.bucket >= %(start)s AND r.bucket < %(end)s
      AND (%(machines)s::int[] IS NULL OR r.equipment_id = ANY(%(machines)s))
    GROUP BY 1, 2, 3, 4"""

_RAW: LiteralString = """
    SELECT r.equipment_id,
           floor(extract(epoch FROM r.time - %(start)s) / %(window_s)s)::int AS window,
           extract(epoch FROM time_bucket(%(bucket)s, r.time, %(start)s)) AS bucket,
           c.code AS channel,
           avg(r.value) AS mean, min(r.value) AS min, max(r.value) AS max, count(*) AS count
    FROM readings r JOIN channels c ON c.id = r.channel_id
    WHERE r.time >= %(start)s AND r.time < %(end)s
      AND (%(machines)s::int[] IS NULL OR r.equipment_id = ANY(%(machines)s))
    GROUP BY 1, 2, 3, 4"""

SOURCES: dict[str, LiteralString] = {
    "rollup": "COPY (" + _ROLLUP + ") TO STDOUT (FORMAT CSV)",
    "raw": "COPY (" + _RAW + ") TO STDOUT (FORMAT CSV)",
}
COLUMNS = ["equipment_id", "window", "bucket", "channel", "mean", "min", "max", "count"]


def window_aggregates(
    conn: psycopg.Connection[Any],
    start: datetime,
    end: datetime,
    *,
    bucket_s: float,
    window_s: float,
    machines: list[int] | None = None,
    source: str = "rollup",
) -> pd.DataFrame:
    """Bucket aggregates of [start, end), window ``k`` covering ``start + k * window_s``."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    params = {
        "start": start,
        "end": end,
        "bucket": f"{bucket_s} seconds",
        "window_s": window_s,
        "machines": machines,
    }
    buffer = io.BytesIO()
    with conn.cursor() as cur, cur.copy(SOURCES[source], params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    if buffer.getbuffer().nbytes == 0:
        return pd.DataFrame(columns=[*COLUMNS, "t_h"])
    frame = pd.read_csv(buffer, header=None, names=COLUMNS)
    epoch = frame["bucket"].to_numpy(dtype=np.float64)
    window_start = start.timestamp() + frame["window"].to_numpy(dtype=np.float64) * window_s
    frame["t_h"] = (epoch - window_start) / 3600.0
    frame["bucket"] = pd.to_datetime(epoch, unit="s", utc=True)
    return frame


_STAGE: LiteralString = """
    CREATE TEMP TABLE IF NOT EXISTS health_stage (LIKE health INCLUDING DEFAULTS)
    ON COMMIT DELETE ROWS"""

HEALTH_COLUMNS = [
    "time",
    "equipment_id",
    "score",
    "statistic",
    "anomalous",
    "contributions",
    "explanation",
    "mode",
    "mode_probability",
    "sensor_fault",
    "sensor_probability",
    "rul_hours",
    "rul_low_hours",
    "rul_high_hours",
    "family",
    "model_version",
]


def write_health(conn: psycopg.Connection[Any], rows: pd.DataFrame) -> int:
    """Upsert health rows (columns ``HEALTH_COLUMNS``); returns how many were written."""
    if rows.empty:
        return 0
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in HEALTH_COLUMNS)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
        for c in [*HEALTH_COLUMNS[2:], "scored_at"]
    )
    records = rows[HEALTH_COLUMNS].astype(object).where(rows[HEALTH_COLUMNS].notna(), None)
    at = HEALTH_COLUMNS.index("contributions")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_STAGE)
        with cur.copy(sql.SQL("COPY health_stage ({}) FROM STDIN").format(columns)) as copy:
            for record in records.itertuples(index=False, name=None):
                values = list(record)
                values[at] = Jsonb(values[at])
                copy.write_row(values)
        cur.execute(
            sql.SQL(
                "INSERT INTO health ({cols}, scored_at) SELECT {cols}, now() FROM health_stage "
                "ON CONFLICT (equipment_id, time) DO UPDATE SET {updates}"
            ).format(cols=columns, updates=updates)
        )
        return int(cur.rowcount)


def statistic_history(
    conn: psycopg.Connection[Any], machines: list[int], since: datetime, until: datetime
) -> pd.DataFrame:
    """Hourly mean detector statistic per machine (equipment_id, hour, statistic)."""
    rows = conn.execute(
        """SELECT equipment_id, extract(epoch FROM time_bucket('1 hour', time)), avg(statistic)
           FROM health
           WHERE equipment_id = ANY(%s) AND time >= %s AND time < %s
           GROUP BY 1, 2 ORDER BY 1, 2""",
        (machines, since, until),
    ).fetchall()
    return pd.DataFrame(rows, columns=["equipment_id", "hour", "statistic"]).astype(
        {"equipment_id": np.int64, "hour": np.float64, "statistic": np.float64}
    )


_RECENT: LiteralString = """
    SELECT DISTINCT ON (h.equipment_id, time_bucket(%(step)s, h.time))
           h.equipment_id, extract(epoch FROM h.time), h.statistic,
           h.statistic / greatest((v.metadata -> 'metrics' ->> 'alarm_threshold')::float, 1e-9),
           h.mode, h.mode_probability, h.sensor_fault, h.sensor_probability,
           (SELECT key FROM jsonb_each_text(h.contributions) ORDER BY value::float DESC LIMIT 1),
           h.explanation, h.rul_hours, h.rul_low_hours, h.rul_high_hours
    FROM health h JOIN model_versions v ON v.family = h.family AND v.version = h.model_version
    WHERE h.equipment_id = ANY(%(machines)s) AND h.time > %(since)s AND h.time <= %(until)s
    ORDER BY h.equipment_id, time_bucket(%(step)s, h.time), h.time DESC"""

RECENT_COLUMNS = [
    "equipment_id",
    "time",
    "statistic",
    "ratio",
    "mode",
    "mode_probability",
    "sensor_fault",
    "sensor_probability",
    "channel",
    "explanation",
    "rul_hours",
    "rul_low_hours",
    "rul_high_hours",
]


def recent_health(
    conn: psycopg.Connection[Any],
    machines: list[int],
    since: datetime,
    until: datetime,
    *,
    step_s: float,
) -> pd.DataFrame:
    """The machines' health rows in (since, until], at most one per ``step_s`` (the
    latest of each step), with ``ratio`` (statistic over the model's alarm threshold),
    ``channel`` (the largest contributor) and ``time`` in epoch seconds."""
    rows = conn.execute(
        _RECENT,
        {"machines": machines, "since": since, "until": until, "step": f"{step_s} seconds"},
    ).fetchall()
    frame = pd.DataFrame(rows, columns=RECENT_COLUMNS)
    for column in ("time", "statistic", "ratio", "mode_probability", "sensor_probability"):
        frame[column] = frame[column].astype(np.float64)
    for column in ("rul_hours", "rul_low_hours", "rul_high_hours"):
        frame[column] = frame[column].astype(np.float64)
    frame["sensor_fault"] = frame["sensor_fault"].astype(bool)
    return frame

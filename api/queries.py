"""The SQL behind the API: functions that take a connection and return plain rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row


def _rows(conn: psycopg.Connection[Any], query: str, params: Any = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query.encode(), params)
        return cur.fetchall()


EQUIPMENT_SQL = """
    SELECT e.id, e.serial_number, m.code AS model, m.family, c.name AS customer, e.latitude,
           e.longitude, e.commissioned_on, e.warranty_end, e.service_package,
           (SELECT max(r.time) FROM readings r WHERE r.equipment_id = e.id
             AND r.time > now() - interval '1 day') AS last_reading_at
    FROM equipment e JOIN equipment_models m ON m.id = e.model_id
    JOIN customers c ON c.id = e.customer_id"""


def list_equipment(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return _rows(conn, EQUIPMENT_SQL + " ORDER BY e.serial_number")


def get_equipment(conn: psycopg.Connection[Any], equipment_id: int) -> dict[str, Any] | None:
    rows = _rows(conn, EQUIPMENT_SQL + " WHERE e.id = %s", (equipment_id,))
    return rows[0] if rows else None


def channels_of(conn: psycopg.Connection[Any], equipment_id: int) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """SELECT c.id, c.code, c.unit, c.valid_min, c.valid_max
                          FROM channels c JOIN equipment e ON e.model_id = c.model_id
                          WHERE e.id = %s ORDER BY c.id""",
        (equipment_id,),
    )


def raw_readings(
    conn: psycopg.Connection[Any], equipment_id: int, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """SELECT channel_id, time AS t, value FROM readings
                          WHERE equipment_id = %s AND time >= %s AND time < %s
                          ORDER BY time LIMIT %s""",
        (equipment_id, start, end, limit),
    )


def bucketed_readings(
    conn: psycopg.Connection[Any],
    equipment_id: int,
    start: datetime,
    end: datetime,
    bucket: timedelta,
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """SELECT channel_id, time_bucket(%s, time) AS t, avg(value) AS avg,
                                 min(value) AS min, max(value) AS max, count(*) AS count
                          FROM readings
                          WHERE equipment_id = %s AND time >= %s AND time < %s
                          GROUP BY channel_id, t ORDER BY t""",
        (bucket, equipment_id, start, end),
    )


def list_alerts(
    conn: psycopg.Connection[Any], status: str | None, equipment_id: int | None, limit: int
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """
        SELECT a.id, a.equipment_id, e.serial_number, c.code AS channel, a.rule, a.grade, a.status,
               a.message, a.details, a.reading_time, a.opened_at, a.closed_at
        FROM alerts a JOIN equipment e ON e.id = a.equipment_id
        LEFT JOIN channels c ON c.id = a.channel_id
        WHERE (%(status)s::text IS NULL OR a.status = %(status)s)
          AND (%(eq)s::integer IS NULL OR a.equipment_id = %(eq)s)
        ORDER BY a.opened_at DESC, a.id DESC LIMIT %(limit)s""",
        {"status": status, "eq": equipment_id, "limit": limit},
    )


def list_work_orders(
    conn: psycopg.Connection[Any], status: str | None, station: str | None, limit: int
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """
        SELECT w.id, w.number, w.equipment_id, e.serial_number, w.alert_id, w.source, w.grade,
               w.status, w.fault_description, w.under_warranty, s.code AS station_code,
               s.name AS station_name, t.code AS technician_code, w.distance_km, w.routing,
               w.sla_due_at, w.created_at, w.assigned_at
        FROM work_orders w JOIN equipment e ON e.id = w.equipment_id
        LEFT JOIN service_stations s ON s.id = w.station_id
        LEFT JOIN technicians t ON t.id = w.technician_id
        WHERE (%(status)s::text IS NULL OR w.status = %(status)s)
          AND (%(station)s::text IS NULL OR s.code = %(station)s)
        ORDER BY w.created_at DESC, w.id DESC LIMIT %(limit)s""",
        {"status": status, "station": station, "limit": limit},
    )


def list_stations(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """
        SELECT s.id, s.code, s.name, s.tier, s.city, s.region, s.latitude, s.longitude, s.skills,
               s.rating::float AS rating,
               (SELECT count(*) FROM technicians t WHERE t.station_id = s.id AND t.active)
                 AS technicians
        FROM service_stations s WHERE s.active ORDER BY s.code""",
    )


def list_deliveries(
    conn: psycopg.Connection[Any], status: str | None, limit: int
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """
        SELECT d.id, d.event_id, o.event_type, d.url, d.status, d.attempts, d.last_status_code,
               d.last_error, d.delivered_at
        FROM webhook_deliveries d JOIN outbox o ON o.id = d.event_id
        WHERE (%(status)s::text IS NULL OR d.status = %(status)s)
        ORDER BY d.id DESC LIMIT %(limit)s""",
        {"status": status, "limit": limit},
    )


# What a health row says, with ``ratio``: the detector statistic over the alarm threshold
# of the model version that scored it (1.0 is the alarm level; NULL if that version is gone).
_HEALTH_FIELDS = """h.time, h.score, h.statistic,
               h.statistic / NULLIF((v.metadata -> 'metrics' ->> 'alarm_threshold')::float, 0)
                 AS ratio,
               h.anomalous, h.mode, h.mode_probability, h.sensor_fault, h.sensor_probability,
               h.contributions, h.explanation, h.rul_hours, h.rul_low_hours, h.rul_high_hours,
               h.family, h.model_version"""


def fleet_health(
    conn: psycopg.Connection[Any], family: str | None, below: float | None, limit: int
) -> list[dict[str, Any]]:
    """Each scored machine's latest health row, the least healthy first."""
    return _rows(
        conn,
        f"""
        SELECT e.id AS equipment_id, e.serial_number, {_HEALTH_FIELDS}
        FROM equipment e
        JOIN LATERAL (SELECT * FROM health h WHERE h.equipment_id = e.id
                      ORDER BY h.time DESC LIMIT 1) h ON true
        LEFT JOIN model_versions v ON v.family = h.family AND v.version = h.model_version
        WHERE (%(family)s::text IS NULL OR h.family = %(family)s)
          AND (%(below)s::real IS NULL OR h.score < %(below)s)
        ORDER BY h.score, e.serial_number LIMIT %(limit)s""",
        {"family": family, "below": below, "limit": limit},
    )


def machine_health(
    conn: psycopg.Connection[Any], equipment_id: int, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    """The machine's health rows in [start, end), the latest ``limit`` of them, oldest first."""
    rows = _rows(
        conn,
        f"""
        SELECT {_HEALTH_FIELDS}
        FROM health h
        LEFT JOIN model_versions v ON v.family = h.family AND v.version = h.model_version
        WHERE h.equipment_id = %s AND h.time >= %s AND h.time < %s
        ORDER BY h.time DESC LIMIT %s""",
        (equipment_id, start, end, limit),
    )
    return rows[::-1]


def model_versions(conn: psycopg.Connection[Any], family: str | None) -> list[dict[str, Any]]:
    """The registry's versions (never their artefacts), newest first per family."""
    return _rows(
        conn,
        """
        SELECT family, version, active, created_at, metadata -> 'data_range' AS data_range,
               (metadata -> 'metrics' ->> 'windows')::int AS windows,
               (metadata -> 'metrics' ->> 'machines')::int AS machines,
               (metadata -> 'metrics' ->> 'readings_per_bucket')::float AS readings_per_bucket,
               (metadata -> 'metrics' ->> 'alarm_threshold')::float AS alarm_threshold,
               (metadata -> 'metrics' ->> 'held_out_alarm_rate')::float AS held_out_alarm_rate,
               (metadata -> 'metrics' -> 'modes' ->> 'held_out_accuracy')::float
                 AS classifier_accuracy,
               metadata -> 'channels' AS channels, metadata -> 'libraries' AS libraries
        FROM model_versions
        WHERE %(family)s::text IS NULL OR family = %(family)s
        ORDER BY family, version DESC""",
        {"family": family},
    )

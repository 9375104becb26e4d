"""Load a fleet file's registry and service network into the database (idempotent).

Rows are matched by their codes (serial number, station code, part number, ...): a
second run updates them in place and never duplicates anything.
"""

from __future__ import annotations

from typing import Any

import psycopg

from device_sim.fleet import Fleet


def seed(conn: psycopg.Connection[Any], fleet: Fleet) -> dict[str, int]:
    """Upsert everything in ``fleet``; returns the number of rows per table."""
    with conn.transaction():
        for code, name in fleet.families.items():
            conn.execute(
                "INSERT INTO equipment_families (code, name) VALUES (%s, %s) "
                "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name",
                (code, name),
            )
        model_ids: dict[str, int] = {}
        for model in fleet.models.values():
            row = conn.execute(
                "INSERT INTO equipment_models (code, family, name) VALUES (%s, %s, %s) "
                "ON CONFLICT (code) DO UPDATE SET family = EXCLUDED.family, name = EXCLUDED.name "
                "RETURNING id",
                (model.code, model.family, model.name),
            ).fetchone()
            assert row is not None  # noqa: S101
            model_ids[model.code] = row[0]
            for ch in model.channels:
                conn.execute(
                    """INSERT INTO channels (model_id, code, name, unit, valid_min, valid_max,
                                             physical_min, physical_max, alert_grade)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (model_id, code) DO UPDATE SET name = EXCLUDED.name,
                         unit = EXCLUDED.unit, valid_min = EXCLUDED.valid_min,
                         valid_max = EXCLUDED.valid_max, physical_min = EXCLUDED.physical_min,
                         physical_max = EXCLUDED.physical_max, alert_grade = EXCLUDED.alert_grade""",
                    (
                        row[0],
                        ch.code,
                        ch.name,
                        ch.unit,
                        ch.valid[0],
                        ch.valid[1],
                        ch.physical[0],
                        ch.physical[1],
                        ch.grade,
                    ),
                )
        customer_ids: dict[str, int] = {}
        for code, name in fleet.customers.items():
            row = conn.execute(
                "INSERT INTO customers (code, name) VALUES (%s, %s) "
                "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                (code, name),
            ).fetchone()
            assert row is not None  # noqa: S101
            customer_ids[code] = row[0]
        for m in fleet.machines:
            conn.execute(
                """INSERT INTO equipment (serial_number, model_id, customer_id, latitude, longitude,
                                          commissioned_on, warranty_end, service_package)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (serial_number) DO UPDATE SET model_id = EXCLUDED.model_id,
                     customer_id = EXCLUDED.customer_id, latitude = EXCLUDED.latitude,
                     longitude = EXCLUDED.longitude, commissioned_on = EXCLUDED.commissioned_on,
                     warranty_end = EXCLUDED.warranty_end,
                     service_package = EXCLUDED.service_package""",
                (
                    m.serial,
                    model_ids[m.model],
                    customer_ids[m.customer],
                    m.latitude,
                    m.longitude,
                    m.commissioned,
                    m.warranty_end,
                    m.package,
                ),
            )
        station_ids: dict[str, int] = {}
        for s in fleet.stations:
            row = conn.execute(
                """INSERT INTO service_stations (code, name, tier, city, region, latitude, longitude,
                                                 skills, rating)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, tier = EXCLUDED.tier,
                     city = EXCLUDED.city, region = EXCLUDED.region, latitude = EXCLUDED.latitude,
                     longitude = EXCLUDED.longitude, skills = EXCLUDED.skills,
                     rating = EXCLUDED.rating
                   RETURNING id""",
                (
                    s.code,
                    s.name,
                    s.tier,
                    s.city,
                    s.region,
                    s.latitude,
                    s.longitude,
                    list(s.skills),
                    s.rating,
                ),
            ).fetchone()
            assert row is not None  # noqa: S101
            station_ids[s.code] = row[0]
        for t in fleet.technicians:
            conn.execute(
                """INSERT INTO technicians (code, station_id, name, level, certifications)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET station_id = EXCLUDED.station_id,
                     name = EXCLUDED.name, level = EXCLUDED.level,
                     certifications = EXCLUDED.certifications""",
                (t.code, station_ids[t.station], t.name, t.level, list(t.certifications)),
            )
        part_ids: dict[str, int] = {}
        for p in fleet.parts:
            row = conn.execute(
                """INSERT INTO parts (part_number, name, class, families) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (part_number) DO UPDATE SET name = EXCLUDED.name,
                     class = EXCLUDED.class, families = EXCLUDED.families RETURNING id""",
                (p.part_number, p.name, p.part_class, list(p.families)),
            ).fetchone()
            assert row is not None  # noqa: S101
            part_ids[p.part_number] = row[0]
        location_ids: dict[str, int] = {}
        places: list[tuple[str, str, str, int | None, float, float]] = [
            (d.code, d.kind, d.name, None, d.latitude, d.longitude) for d in fleet.depots
        ]
        places += [
            (s.code, "station", s.name, station_ids[s.code], s.latitude, s.longitude)
            for s in fleet.stations
        ]
        for code, kind, name, station_id, lat, lon in places:
            row = conn.execute(
                """INSERT INTO stock_locations (code, kind, name, station_id, latitude, longitude)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name,
                     station_id = EXCLUDED.station_id, latitude = EXCLUDED.latitude,
                     longitude = EXCLUDED.longitude RETURNING id""",
                (code, kind, name, station_id, lat, lon),
            ).fetchone()
            assert row is not None  # noqa: S101
            location_ids[code] = row[0]
        for st in fleet.stock:
            conn.execute(
                """INSERT INTO stock (location_id, part_id, on_hand, safety_stock, reorder_point)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (location_id, part_id) DO UPDATE SET on_hand = EXCLUDED.on_hand,
                     safety_stock = EXCLUDED.safety_stock, reorder_point = EXCLUDED.reorder_point""",
                (
                    location_ids[st.location],
                    part_ids[st.part],
                    st.on_hand,
                    st.safety_stock,
                    st.reorder_point,
                ),
            )
    return {
        "models": len(model_ids),
        "equipment": len(fleet.machines),
        "stations": len(station_ids),
        "technicians": len(fleet.technicians),
        "parts": len(part_ids),
        "stock": len(fleet.stock),
    }

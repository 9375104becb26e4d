"""The machines and channels ingest accepts, keyed the way messages name them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass(frozen=True)
class ChannelSpec:
    id: int
    code: str
    physical_min: float
    physical_max: float


@dataclass(frozen=True)
class EquipmentSpec:
    id: int
    serial_number: str
    channels: dict[str, ChannelSpec]


@dataclass
class Catalog:
    """Serial number -> machine, with the channels of its model."""

    equipment: dict[str, EquipmentSpec] = field(default_factory=dict)

    def get(self, serial_number: str) -> EquipmentSpec | None:
        return self.equipment.get(serial_number)


def load_catalog(conn: psycopg.Connection[Any]) -> Catalog:
    channels_by_model: dict[int, dict[str, ChannelSpec]] = {}
    for model_id, ch_id, code, pmin, pmax in conn.execute(
        "SELECT model_id, id, code, physical_min, physical_max FROM channels"
    ).fetchall():
        channels_by_model.setdefault(model_id, {})[code] = ChannelSpec(
            id=ch_id,
            code=code,
            physical_min=-math.inf if pmin is None else float(pmin),
            physical_max=math.inf if pmax is None else float(pmax),
        )
    catalog = Catalog()
    for eq_id, serial, model_id in conn.execute(
        "SELECT id, serial_number, model_id FROM equipment"
    ).fetchall():
        catalog.equipment[serial] = EquipmentSpec(
            eq_id, serial, channels_by_model.get(model_id, {})
        )
    return catalog

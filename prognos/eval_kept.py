"""What ``prognos eval sim`` keeps in its work directory for ``--rule-only`` runs.

A full run trains the models and replays the scoring job (a minute or more); the
model-alert rule then runs on the health rows in seconds. The run keeps those rows, the
fault truth and the models' summary (:class:`Scored`) in ``DIR/eval-sim-health.npz``, so
the rule alone can be replayed on them with other settings. The file holds plain arrays
and JSON, never a pickle: reading a work directory runs no code.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import sim_metrics


@dataclass(frozen=True)
class Scored:
    """What the model-alert rule is replayed on and measured against: the test period's
    health rows (as the scoring job would have written them), the fault truth, and what
    the training said of each family."""

    health: pd.DataFrame
    faults: list[sim_metrics.Fault]
    models: dict[str, Any]
    readings: int
    service_records_excluded: int
    scored_at: datetime


def write_scored(path: Path, scored: Scored) -> None:
    """Keep ``scored`` in an ``.npz`` file: each health column as a plain array (strings
    with a mask of the missing ones, times as nanoseconds), the rest as JSON. No pickle:
    reading a work directory runs no code."""
    arrays: dict[str, Any] = {}
    for name in scored.health.columns:
        column = scored.health[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or column.dtype.kind == "M":
            arrays[f"time:{name}"] = column.astype("int64").to_numpy()
        elif column.dtype == object:
            missing = column.isna().to_numpy()
            arrays[f"text:{name}"] = np.where(missing, "", column.astype(str)).astype(np.str_)
            arrays[f"missing:{name}"] = missing
        else:
            arrays[f"value:{name}"] = column.to_numpy()
    meta = {
        "faults": [
            {
                **asdict(f),
                "onset": f.onset.isoformat(),
                "failure": f.failure.isoformat(),
                "repaired": f.repaired.isoformat() if f.repaired else None,
            }
            for f in scored.faults
        ],
        "models": scored.models,
        "readings": scored.readings,
        "service_records_excluded": scored.service_records_excluded,
        "scored_at": scored.scored_at.isoformat(),
        "columns": list(scored.health.columns),
    }
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(partial, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(partial, path)


def read_scored(path: Path) -> Scored:
    with np.load(path, allow_pickle=False) as kept:
        meta = json.loads(str(kept["meta"]))
        health: dict[str, Any] = {}
        for name in meta["columns"]:
            if f"time:{name}" in kept:
                health[name] = pd.to_datetime(kept[f"time:{name}"], utc=True)
            elif f"text:{name}" in kept:
                text = kept[f"text:{name}"].astype(object)
                text[kept[f"missing:{name}"]] = None
                health[name] = text
            else:
                health[name] = kept[f"value:{name}"]
    faults = [
        sim_metrics.Fault(
            int(f["equipment_id"]),
            f["mode"],
            bool(f["sensor"]),
            datetime.fromisoformat(f["onset"]),
            datetime.fromisoformat(f["failure"]),
            datetime.fromisoformat(f["repaired"]) if f["repaired"] else None,
            tuple(f["channels"]),
            f["fault_id"],
        )
        for f in meta["faults"]
    ]
    return Scored(
        pd.DataFrame(health, columns=meta["columns"]),
        faults,
        meta["models"],
        int(meta["readings"]),
        int(meta["service_records_excluded"]),
        datetime.fromisoformat(meta["scored_at"]),
    )

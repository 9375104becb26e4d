"""The demo's health models: a day of simulated history and one model per family, once.

``prognos run --demo`` (``make demo``) starts on an empty database, and a health model
needs history to learn each machine's healthy behaviour from. Before the platform
starts, when a family of the demo fleet has no active model, :func:`prepare` writes a
day of the fleet's readings into the database (``device_sim.backfill``, ending where
readings already stored for its machines begin), brings the minute rollups up to date
and trains every family (``models.training``) on exactly that day. A later demo finds the
models active and starts at once; ``prognos models list`` shows them.

The history is the fleet's healthy past: the fleet file's scripted faults (CP-0002's
coolant excursion, 45 s after a simulation starts) are the live demo's. Written into the
history too, the excursion ran through its whole day, the concrete pumps' model learnt
it as that machine's normal, and whether the live excursion then read as a fault
depended on where the training windows happened to fall (a test failed on it).

The history is sampled as the live telemetry is (``PROGNOS_SIM__INTERVAL_S``, a reading a
second): a bucket's mean of sixty readings is smoother than one of twelve, and the demo's
models, learnt from a day of two machines per family, are tight enough to read the
difference as a fault (a 5-s history, tried first, scored every machine near 0 a few
minutes into the live telemetry; docs/models.md, "Sampling").
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime

from device_sim.backfill import backfill_db
from device_sim.fleet import Fleet
from prognos import db, health_jobs
from prognos.runner import prepare_database
from prognos.seed import seed
from prognos.settings import Settings

log = logging.getLogger(__name__)

HISTORY_DAYS = 1.0


def families_of(fleet: Fleet) -> set[str]:
    return {fleet.model_of(m).family for m in fleet.machines}


def prepare(
    url: str,
    fleet: Fleet,
    settings: Settings,
    say: Callable[[str], None] = print,
    *,
    end: datetime | None = None,
) -> list[str]:
    """Train the families of ``fleet`` that have no active model on a day of simulated
    history ending at ``end`` (now), or where the fleet's stored readings begin; return
    the families trained (none when every one had a model)."""
    from models import registry, training  # noqa: PLC0415 - heavy: only the demo needs it

    prepare_database(url)
    with db.connect(url, autocommit=True) as conn:
        missing = sorted(families_of(fleet) - set(registry.active_versions(conn)))
        if not missing:
            return []
        seed(conn, fleet)  # the history needs the machines (the platform seeds them too)
    interval = settings.sim.interval_s
    say(
        f"health models: none active for {', '.join(missing)}; simulating a day of history "
        f"(a reading every {interval:g} s, as live) and training one model per family "
        "(once, about a minute)"
    )
    # the fleet's healthy past (module docstring): its scripted faults are the live demo's
    healthy = dataclasses.replace(fleet, faults=(), scheduled=(), fault_rates={})
    result = backfill_db(
        healthy, url, days=HISTORY_DAYS, interval_s=interval, end=end, before_stored=True
    )
    span = f"{result.start:%Y-%m-%d %H:%M} .. {result.end:%Y-%m-%d %H:%M} UTC"
    say(f"  {result.rows:,} readings, {span}")
    with db.connect(url, autocommit=True) as conn:
        health_jobs.catch_up_rollups(conn, say)
        outcomes = training.train(
            conn,
            health_jobs.train_settings(settings, days=HISTORY_DAYS),
            families=missing,
            now=result.end,  # on that day, however long ago the stored readings began
            progress=lambda message: log.info("%s", message),
        )
    for outcome in outcomes:
        say(f"  {outcome.family}: {outcome.message}")
    return [o.family for o in outcomes if o.version is not None]

"""``prognos eval sim``: the health models and the model-alert rule against the simulator.

Deterministic from the fleet file (its ``seed`` and its ``[evaluation]`` table):

1. a fresh database (a private PostgreSQL + TimescaleDB by default) gets the fleet's
   registry and ``train_days + test_days`` of history through the simulator's backfill
   (device_sim/backfill.py, the ingest writer), and the fault truth (``sim_fault_truth``
   and a CSV);
2. each family's model is trained on the training period only (``prognos train``'s code,
   raw readings in ``bucket_s`` buckets), leaving out what a deployment's service records
   would tell it: a machine that broke down or had a sensor replaced before the end of
   the training period is not learned from before that repair (``failure_at`` and
   ``repaired_at`` of the faults that failed in it; never their onset);
3. the scoring job is replayed over the test period, a ``window_s`` window ending every
   ``step_s`` (models/replay.py), and the model-alert rule over its health rows
   (alerts/model_rule.py ``replay``: the decisions the live job takes);
4. the alerts are measured against the truth (models/sim_metrics.py).

With a work directory (``--workdir DIR``) the private PostgreSQL lives in DIR and keeps
the history between runs: a later run of the same fleet file (byte for byte) skips
step 1 (two thirds of the time) and trains and replays afresh, so a change to the models
or the rule is measured on the same readings in about a minute. Any other fleet file,
or asking for the truth CSV, rebuilds the history first. The run also keeps what the rule
is replayed on (the test period's health rows and the fault truth, ``HEALTH_KEPT``):
``rule_only=True`` (``--rule-only``) replays the rule on those alone, in seconds and
without starting PostgreSQL, so the rule's settings (``--policy NAME=VALUE``) can be tried
on the health the models gave on the last run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from alerts.model_rule import HealthRows, ModelAlertPolicy, Repair, replay
from device_sim.backfill import backfill_db
from device_sim.fleet import Fleet, load_fleet
from device_sim.truth import TruthFile, write_db
from models import registry, sim_metrics, store, training
from models.errors import DataError
from models.replay import ALERT_STEP_S, ReplaySettings
from models.replay import replay as replay_health
from prognos import migrations
from prognos.bench_ingest import with_dbname
from prognos.eval_kept import Scored, read_scored, write_scored
from prognos.localservices import LocalServices
from prognos.seed import seed

Progress = Callable[[str], None]
DEFAULT_FLEET = Path(__file__).resolve().parents[1] / "examples" / "eval-fleet.toml"


@dataclass(frozen=True)
class Plan:
    """The ``[evaluation]`` table of a fleet file."""

    start: datetime
    train_days: float = 14.0
    test_days: float = 46.0
    interval_s: float = 120.0  # simulated seconds between samples
    bucket_s: float = 600.0  # features: time_bucket width
    window_s: float = 3600.0  # scoring window
    step_s: float = ALERT_STEP_S  # a window ends every step_s in the replay

    @property
    def split(self) -> datetime:
        return self.start + timedelta(days=self.train_days)

    @property
    def end(self) -> datetime:
        return self.split + timedelta(days=self.test_days)


def load_plan(path: Path) -> Plan:
    """The fleet file's ``[evaluation]`` table (``start`` a date or datetime, UTC)."""
    with path.open("rb") as fh:
        table = tomllib.load(fh).get("evaluation")
    if not isinstance(table, dict) or "start" not in table:
        raise DataError(f"{path} has no [evaluation] table with a start (docs/models.md)")
    start = table["start"]
    if isinstance(start, date) and not isinstance(start, datetime):
        start = datetime(start.year, start.month, start.day, tzinfo=UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    numbers = {k: float(v) for k, v in table.items() if k != "start"}
    plan = Plan(start=start, **numbers)
    ReplaySettings(plan.window_s, plan.step_s).check(plan.bucket_s)
    return plan


def _faults(conn: psycopg.Connection[Any]) -> list[sim_metrics.Fault]:
    rows = conn.execute(
        """SELECT fault_id, equipment_id, mode, is_sensor_fault, onset_at, failure_at,
                  repaired_at, channels
           FROM sim_fault_truth WHERE equipment_id IS NOT NULL AND mode <> 'excursion'"""
    ).fetchall()
    return [
        sim_metrics.Fault(int(r[1]), r[2], bool(r[3]), r[4], r[5], r[6], tuple(r[7]), r[0])
        for r in rows
    ]


def service_records(
    faults: list[sim_metrics.Fault], start: datetime, split: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """What a deployment knows at ``split`` from its service records: machines that broke
    down (or had a sensor declared useless) before it, not to be learned from until their
    repair. Only the failure and repair times are used, never the onset."""
    out: dict[int, list[tuple[datetime, datetime]]] = {}
    for f in faults:
        if f.failure < split:
            until = min(f.repaired or split, split)
            out.setdefault(f.equipment_id, []).append((start, until))
    return out


def policy_from(overrides: list[str] | None) -> ModelAlertPolicy:
    """The model-alert policy with ``NAME=VALUE`` overrides of its fields (numbers), so
    the rule's settings can be tried without editing code."""
    names = {f.name for f in fields(ModelAlertPolicy)}
    changes: dict[str, float] = {}
    for item in overrides or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise DataError(
                f"--policy {item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(names))}"
            )
        try:
            changes[name] = float(value)
        except ValueError:
            raise DataError(f"--policy {item!r}: {value.strip()!r} is not a number") from None
    try:
        return replace(ModelAlertPolicy(), **changes)
    except ValueError as exc:
        raise DataError(f"--policy: {exc}") from exc


def evaluate(
    fleet: Fleet,
    plan: Plan,
    url: str,
    *,
    policy: ModelAlertPolicy | None = None,
    truth_csv: Path | None = None,
    progress: Progress = lambda _m: None,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Run the whole evaluation on the (empty, migrated) database at ``url``."""
    began = time.monotonic()
    readings = load_history(fleet, plan, url, truth_csv=truth_csv, progress=progress)
    return measure(
        fleet,
        plan,
        url,
        readings=readings,
        policy=policy,
        progress=progress,
        timings={"backfill_s": time.monotonic() - began},
        keep=keep,
    )


def load_history(
    fleet: Fleet,
    plan: Plan,
    url: str,
    *,
    truth_csv: Path | None = None,
    progress: Progress = lambda _m: None,
) -> int:
    """The fleet's registry, its history over the whole plan and its fault truth, into the
    (empty, migrated) database at ``url``; the number of readings written."""
    with psycopg.connect(url, autocommit=True) as conn:
        seed(conn, fleet)
    progress(
        f"backfilling {plan.train_days + plan.test_days:g} days of {len(fleet.machines)} "
        f"machines, a sample every {plan.interval_s:g} s ..."
    )
    last = [0.0]

    def said(fraction: float, rows: int, seconds: float) -> None:
        if seconds - last[0] >= 15 or fraction >= 1.0:
            last[0] = seconds
            progress(f"  backfill {fraction:6.1%}: {rows:,} readings in {seconds:,.0f} s")

    result = backfill_db(
        fleet,
        url,
        days=plan.train_days + plan.test_days,
        interval_s=plan.interval_s,
        end=plan.end,
        progress=said,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        write_db(conn, result.faults, fleet.seed)
        if truth_csv is not None:
            TruthFile(truth_csv, fleet.seed).write(result.faults)
    return result.rows


def measure(
    fleet: Fleet,
    plan: Plan,
    url: str,
    *,
    readings: int,
    policy: ModelAlertPolicy | None = None,
    progress: Progress = lambda _m: None,
    timings: dict[str, float] | None = None,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Train on the plan's training period of the history at ``url``, replay the test
    period, and measure the alerts against the fault truth stored there; with ``keep``,
    what the rule was replayed on is also written to that file (:func:`kept_scoring`)."""
    timings = dict(timings or {})
    scored = score(plan, url, readings=readings, progress=progress, timings=timings)
    if keep is not None:
        write_scored(keep, scored)
    return measure_scored(fleet, plan, scored, policy=policy, timings=timings)


def score(
    plan: Plan,
    url: str,
    *,
    readings: int,
    progress: Progress = lambda _m: None,
    timings: dict[str, float] | None = None,
) -> Scored:
    """Train each family on the training period and replay the scoring job over the test
    period (``timings`` gets ``training_s`` and ``replay_s``)."""
    timings = timings if timings is not None else {}
    with psycopg.connect(url, autocommit=True) as conn:
        faults = _faults(conn)
    step = time.monotonic()
    exclude = service_records(faults, plan.start, plan.split)
    excluded = sum(len(v) for v in exclude.values())
    progress(
        f"training on {plan.start:%Y-%m-%d} .. {plan.split:%Y-%m-%d} "
        f"({excluded} service records left out) ..."
    )
    settings = training.TrainSettings(
        days=plan.train_days, window_s=plan.window_s, bucket_s=plan.bucket_s, source="raw"
    )
    with psycopg.connect(url, autocommit=True) as conn, threadpool_limits(limits=1):
        outcomes = training.train(
            conn, settings, now=plan.split, exclude=exclude, progress=_indent(progress)
        )
        failed = [o for o in outcomes if o.version is None]
        if failed:
            raise DataError("; ".join(f"{o.family}: {o.message}" for o in failed))
        timings["training_s"] = time.monotonic() - step
        step = time.monotonic()
        health, models = _replay(conn, plan, progress)
    timings["replay_s"] = time.monotonic() - step
    return Scored(health, faults, models, readings, excluded, datetime.now(UTC))


def measure_scored(
    fleet: Fleet,
    plan: Plan,
    scored: Scored,
    *,
    policy: ModelAlertPolicy | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Replay the model-alert rule over the scored health and measure its alerts against
    the fault truth: the report."""
    policy = policy or ModelAlertPolicy()
    shipped = asdict(ModelAlertPolicy())
    timings = dict(timings or {})
    began = time.monotonic() - sum(timings.values())
    step = time.monotonic()
    health, faults = scored.health, scored.faults
    alerts, transitions = _alerts(health, policy, repairs(faults, plan.split, plan.end))
    observable = _observable(faults, health, plan)
    machines = int(health["equipment_id"].nunique()) if not health.empty else 0
    months = sim_metrics.machine_months(machines, plan.split, plan.end)
    metrics = sim_metrics.evaluate(
        faults,
        alerts,
        plan.split,
        plan.end,
        months=months,
        observable=observable,
        history_start=plan.start,
    )
    timings["rule_and_metrics_s"] = time.monotonic() - step
    timings["total_s"] = time.monotonic() - began
    return {
        "benchmark": "sim",
        "fleet_seed": fleet.seed,
        "machines": len(fleet.machines),
        "plan": {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(plan).items()
        },
        "training": {"from": plan.start.isoformat(), "until": plan.split.isoformat()},
        "test": {"from": plan.split.isoformat(), "until": plan.end.isoformat()},
        "readings": scored.readings,
        "service_records_excluded": scored.service_records_excluded,
        "health_rows": len(health),
        "health_scored_at": scored.scored_at.isoformat(),
        "transitions": len(transitions),
        **metrics,
        "models": scored.models,
        "policy": asdict(policy),
        "policy_changes": {k: v for k, v in asdict(policy).items() if v != shipped[k]},
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def kept_scoring(home: Path, fingerprint: str) -> Scored:
    """What the last full run with ``home`` as its work directory replayed the rule on,
    if that run was of the fleet file with this fingerprint."""
    kept = home / HEALTH_KEPT
    if _marker(home, fingerprint) is None:
        raise DataError(
            f"{home} keeps no history of this fleet file: run `prognos eval sim` with it and "
            f"--workdir {home} first"
        )
    if not kept.is_file():
        raise DataError(
            f"{home} keeps no scored health: run `prognos eval sim --workdir {home}` once "
            "without --rule-only first"
        )
    try:
        return read_scored(kept)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{kept} cannot be read ({exc}): run once without --rule-only") from exc


def _indent(progress: Progress) -> Progress:
    def say(message: str) -> None:
        if "batch" not in message:
            progress(f"  {message}")

    return say


def _replay(
    conn: psycopg.Connection[Any], plan: Plan, progress: Progress
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every family's health over the test period, as the scoring job would have written it."""
    settings = ReplaySettings(window_s=plan.window_s, step_s=plan.step_s)
    begin = plan.split - timedelta(seconds=plan.window_s)
    parts, models = [], {}
    for family, members in store.catalog(conn).items():
        if not members.machines:
            continue
        model, version, meta = registry.load(conn, family)
        aggregates = store.window_aggregates(
            conn,
            begin,
            plan.end,
            bucket_s=plan.bucket_s,
            window_s=plan.window_s,
            machines=members.machines,
            source="raw",
        )
        health = replay_health(model, aggregates, begin, plan.end, settings)
        progress(f"  {family}: {len(health):,} windows scored")
        parts.append(health)
        metrics = meta.get("metrics", {})
        models[family] = {
            "version": version,
            "alarm_threshold": round(model.alarm_threshold, 3),
            "sensor_threshold": round(model.sensor_threshold, 2),
            "suspect_machines": metrics.get("suspect_machines", []),
            "classifier_held_out_accuracy": metrics.get("modes", {}).get("held_out_accuracy"),
        }
    health = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return health, models


def repairs(faults: list[sim_metrics.Fault], start: datetime, end: datetime) -> list[Repair]:
    """The work orders a deployment would see resolved over [start, end): each fault's
    repair (the machine's, or the failed sensor's replacement)."""
    return [
        Repair(f.equipment_id, f.repaired.timestamp(), f.channels[0] if f.sensor else None)
        for f in faults
        if f.repaired is not None and start <= f.repaired < end and (f.channels or not f.sensor)
    ]


def _alerts(
    health: pd.DataFrame, policy: ModelAlertPolicy, fixed: list[Repair]
) -> tuple[list[sim_metrics.AlertRecord], list[Any]]:
    if health.empty:
        return [], []
    columns = {c: health[c].to_numpy() for c in health.columns if c != "time"}
    rows = HealthRows.from_columns(**columns, time=health["time"].astype("int64").to_numpy() / 1e9)
    transitions = replay(rows, policy, repairs=fixed)
    alerts = [
        sim_metrics.AlertRecord(
            t.cause.equipment_id, t.at, t.alert.kind, t.alert.mode, t.alert.channel
        )
        for t in transitions
        if t.action == "open" and t.alert is not None
    ]
    return alerts, transitions


def _observable(faults: list[sim_metrics.Fault], health: pd.DataFrame, plan: Plan) -> set[str]:
    """Machine faults due in the test period whose machine had a window scored with data
    from between the onset (or the test start) and the failure."""
    out: set[str] = set()
    if health.empty:
        return out
    ends = health.groupby("equipment_id")["time"].apply(lambda s: s.to_numpy())
    window = pd.Timedelta(seconds=plan.window_s)
    for f in faults:
        if f.sensor or not plan.split <= f.failure < plan.end or f.equipment_id not in ends:
            continue
        times = pd.DatetimeIndex(ends[f.equipment_id])
        low = pd.Timestamp(max(f.onset, plan.split))
        if ((times > low) & (times - window < pd.Timestamp(f.failure))).any():
            out.add(f.fault_id)
    return out


HISTORY_MARKER = "eval-sim-history.json"
HEALTH_KEPT = "eval-sim-health.npz"
DATABASE = "prognos_eval_sim"


def main(
    fleet_path: Path | None = None,
    *,
    progress: Progress = lambda _m: None,
    truth_csv: Path | None = None,
    workdir: Path | None = None,
    policy: ModelAlertPolicy | None = None,
    rule_only: bool = False,
) -> dict[str, Any]:
    """Start a private PostgreSQL, evaluate, stop it; the report. The database is a fresh
    one in a temporary directory, or in ``workdir`` the one kept there (see the module
    docstring). ``rule_only`` replays the rule on the health kept in ``workdir``."""
    path = fleet_path or DEFAULT_FLEET
    fleet = load_fleet(path)
    plan = load_plan(path)
    fingerprint = hashlib.sha256(path.read_bytes()).hexdigest()
    if rule_only:
        if workdir is None or truth_csv is not None:
            raise DataError("--rule-only replays the health kept in a --workdir (and no --truth)")
        scored = kept_scoring(workdir, fingerprint)
        progress(
            f"replaying the rule on the health kept in {workdir} ({len(scored.health):,} "
            f"windows, scored {scored.scored_at:%Y-%m-%d %H:%M} UTC) ..."
        )
        report = measure_scored(fleet, plan, scored, policy=policy)
        report["fleet"] = str(path)
        report["rule_only"] = True
        return report
    home = workdir or Path(tempfile.mkdtemp(prefix="prognos-eval-sim-"))
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    keep = home / HEALTH_KEPT if workdir is not None else None
    services = LocalServices(home, durable=False)
    try:
        progress("starting a private PostgreSQL + TimescaleDB ...")
        endpoints = services.start(postgres=True, mosquitto=False)
        url = with_dbname(endpoints.database_url, DATABASE)
        admin = with_dbname(endpoints.database_url, "postgres")
        kept = None if truth_csv else _kept_history(home, admin, fingerprint)
        if kept is not None:
            progress(f"reusing the history kept in {home} ({kept:,} readings)")
            report = measure(
                fleet, plan, url, readings=kept, policy=policy, progress=progress, keep=keep
            )
        else:
            _fresh_database(admin, url, home)
            report = evaluate(
                fleet, plan, url, policy=policy, progress=progress, truth_csv=truth_csv, keep=keep
            )
            if workdir is not None:
                marker = {"fleet_sha256": fingerprint, "readings": report["readings"]}
                (home / HISTORY_MARKER).write_text(json.dumps(marker))
        report["fleet"] = str(path)
        return report
    finally:
        services.stop()
        if workdir is None:
            shutil.rmtree(home, ignore_errors=True)


def _kept_history(home: Path, admin_url: str, fingerprint: str) -> int | None:
    """The readings of the history kept in ``home`` for this fleet file, or None."""
    marker = _marker(home, fingerprint)
    if marker is None:
        return None
    with psycopg.connect(admin_url, autocommit=True) as c:
        found = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
    return int(marker.get("readings", 0)) if found else None


def _marker(home: Path, fingerprint: str) -> dict[str, Any] | None:
    """The marker of the history kept in ``home``, if it is this fleet file's."""
    try:
        marker = json.loads((home / HISTORY_MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("fleet_sha256") != fingerprint:
        return None
    return marker


def _fresh_database(admin_url: str, url: str, home: Path) -> None:
    """An empty, migrated evaluation database at ``url`` (dropping a kept one and its
    marker)."""
    (home / HISTORY_MARKER).unlink(missing_ok=True)
    (home / HEALTH_KEPT).unlink(missing_ok=True)
    name = sql.Identifier(DATABASE)
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(name))
        c.execute(sql.SQL("CREATE DATABASE {}").format(name))
    with psycopg.connect(url) as conn:
        migrations.migrate(conn)

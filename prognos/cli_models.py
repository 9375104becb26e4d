"""The health-model commands of ``prognos``: ``train``, ``models``, ``eval``, ``bench score``.

prognos/cli.py registers them with :func:`register`; the bodies live here so the
models package itself stays free of settings and argument parsing. The models package
(scikit-learn, pandas, SciPy) is imported by the command bodies only, so that other
commands, ``prognos ingest`` above all, do not carry it in memory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.queries import model_versions
from prognos import db
from prognos.endpoints import resolve
from prognos.errors import PrognosError
from prognos.runner import prepare_database
from prognos.settings import Settings


class ModelCommandError(PrognosError):
    """A health-model command failed for a reason the user can act on."""


def _progress(enabled: bool) -> Callable[[str], None]:
    def emit(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return emit


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    from device_sim.errors import SimError  # noqa: PLC0415
    from models import evaluation  # noqa: PLC0415 - heavy: only this command needs it
    from models.errors import ModelsError  # noqa: PLC0415

    data_root = settings.models.data_dir
    show = not args.quiet
    try:
        if args.target == "sim":
            from prognos import eval_sim  # noqa: PLC0415 - heavy: only this command needs it

            report = eval_sim.main(
                args.fleet,
                progress=_progress(show),
                truth_csv=args.truth,
                workdir=args.workdir,
                policy=eval_sim.policy_from(args.policy),
                rule_only=args.rule_only,
            )
        elif args.target == "skab":
            directory = args.data or data_root / "skab"
            report = evaluation.evaluate_skab(directory, folds=args.folds, progress=_progress(show))
        else:
            directory = args.data or data_root / "cmapss"
            report = evaluation.evaluate_cmapss(
                directory, args.subset, select=args.select, progress=_progress(show)
            )
    except (ModelsError, SimError) as exc:
        raise ModelCommandError(str(exc)) from exc
    print(json.dumps(report) if args.json else evaluation.table(report))
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    from models import training  # noqa: PLC0415 - heavy: only this command needs it
    from prognos import health_jobs  # noqa: PLC0415

    url = resolve(settings, need_mqtt=False).database_url
    prepare_database(url)
    with db.connect(url, autocommit=True) as conn:
        if settings.models.source == "rollup":
            health_jobs.catch_up_rollups(conn, _progress(True))
        outcomes = training.train(
            conn,
            health_jobs.train_settings(settings, days=args.days),
            families=args.family or None,
            progress=_progress(True),
        )
    for outcome in outcomes:
        print(f"{outcome.family}: {outcome.message}")
    if not outcomes:
        print("no family has machines: nothing to train (prognos seed --fleet FILE)")
    return 0 if outcomes and all(o.version is not None for o in outcomes) else 1


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    """``prognos models list``: the registry's versions; ``prognos models activate``: make
    an earlier (or later) version the one scoring uses, without retraining."""
    from models import registry  # noqa: PLC0415 - heavy: only this command needs it
    from models.errors import ModelVersionError, RegistryError  # noqa: PLC0415

    url = resolve(settings, need_mqtt=False).database_url
    prepare_database(url)
    with db.connect(url, autocommit=True) as conn:
        if args.action == "activate":
            before = registry.active_versions(conn).get(args.family)
            try:
                # only a version this installation can load: scoring would skip the family
                registry.load(conn, args.family, args.version)
                registry.activate(conn, args.family, args.version)
            except ModelVersionError as exc:
                raise ModelCommandError(f"not activated: {exc}") from exc
            except RegistryError as exc:
                raise ModelCommandError(f"{exc} (prognos models list shows the versions)") from exc
            was = f"was {before}" if before is not None else "none was active"
            print(f"{args.family}: version {args.version} active ({was})")
            return 0
        # the rows GET /models serves (one query: both show the same fields), oldest first
        rows = sorted(model_versions(conn, args.family), key=lambda r: (r["family"], r["version"]))
    if args.json:
        print(json.dumps(rows, default=str))
    elif not rows:
        print("no model versions: train one with `prognos train`")
    else:
        print(versions_table(rows))
    return 0


def versions_table(rows: list[dict[str, Any]]) -> str:
    """``prognos models list``'s table of the registry's versions (``model_versions``)."""

    def number(value: object, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, int | float) else "-"

    def day(value: object) -> str:
        return str(value)[:10] if value else "?"

    header = (
        f"{'family':<16} {'version':>7}  {'active':<6}  {'created':<16}  {'data':<23}  "
        f"{'windows':>7} {'machines':>8} {'readings':>8} {'alarm':>6} {'held-out alarms':>15} "
        f"{'classifier':>10}  scikit-learn"
    )
    lines = [header]
    for r in rows:
        data = r["data_range"] if isinstance(r["data_range"], list) else [None, None]
        lines.append(
            f"{r['family']!s:<16} {r['version']!s:>7}  {'yes' if r['active'] else '':<6}  "
            f"{str(r['created_at'])[:16]:<16}  {day(data[0])} .. {day(data[-1]):<10}  "
            f"{number(r['windows'], ','):>7} {number(r['machines'], 'd'):>8} "
            f"{number(r['readings_per_bucket'], '.3g'):>8} "
            f"{number(r['alarm_threshold'], '.2f'):>6} "
            f"{number(r['held_out_alarm_rate'], '.2%'):>15} "
            f"{number(r['classifier_accuracy'], '.0%'):>10}  "
            f"{(r['libraries'] or {}).get('scikit-learn') or '-'}"
        )
    return "\n".join(lines)


def bench_score(*, quick: bool, as_json: bool) -> int:
    from prognos import bench_score as bench  # noqa: PLC0415 - only the benchmark needs it

    return bench.main(quick=quick, as_json=as_json)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the health-model subcommands to the ``prognos`` parser."""
    text = "train each equipment family's health model from stored history and activate it"
    p = sub.add_parser("train", help=text, description=text)
    p.set_defaults(func=cmd_train)
    p.add_argument("--family", action="append", help="only this family (repeatable); default: all")
    p.add_argument(
        "--days", type=float, help="history to read (default PROGNOS_MODELS__TRAINING_DAYS, 7)"
    )
    text = "list the health models' versions, or activate one (roll back without retraining)"
    p = sub.add_parser("models", help=text, description=text)
    p.set_defaults(func=cmd_models)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every version: active, data, metrics, libraries")
    listing.add_argument("--family", help="only this family")
    listing.add_argument("--json", action="store_true", help="print one JSON list")
    text = "make VERSION the family's active model; scoring switches at its next run"
    chosen = actions.add_parser("activate", help=text, description=text)
    chosen.add_argument("family", help="equipment family code, for example concrete_pump")
    chosen.add_argument("version", type=int, help="version number (prognos models list)")
    text = (
        "measure the health models: against the simulator's fault truth (sim), or on a public "
        "benchmark (SKAB, C-MAPSS)"
    )
    p = sub.add_parser("eval", help=text, description=text)
    p.set_defaults(func=cmd_eval)
    p.add_argument("target", choices=["sim", "skab", "cmapss"], help="what to measure against")
    p.add_argument(
        "--fleet",
        type=Path,
        help="sim: fleet file with an [evaluation] table (default examples/eval-fleet.toml)",
    )
    p.add_argument("--truth", type=Path, help="sim: also write the fault truth to this CSV")
    p.add_argument(
        "--workdir",
        type=Path,
        help="sim: keep the database here; a later run of the same fleet file reuses its "
        "history and only trains, replays and measures (about a minute instead of three)",
    )
    p.add_argument(
        "--rule-only",
        action="store_true",
        help="sim: replay only the model-alert rule, on the health rows the last run with "
        "this --workdir and fleet file scored (seconds; no database started)",
    )
    p.add_argument(
        "--policy",
        action="append",
        metavar="NAME=VALUE",
        help="sim: a model-alert rule setting for this run, for example persist_s=1800 "
        "(repeatable; the names are alerts.model_evidence.ModelAlertPolicy's fields)",
    )
    p.add_argument(
        "--data",
        type=Path,
        help="data directory in the benchmark's format (default: ../shared/data/<target>)",
    )
    p.add_argument(
        "--subset",
        default="FD001",
        help="C-MAPSS subset: FD001 .. FD004, or 'all' for every one found (default FD001)",
    )
    p.add_argument(
        "--select",
        action="store_true",
        help="C-MAPSS: re-run the grouped cross-validation that picks the regressor's settings",
    )
    p.add_argument(
        "--folds",
        type=int,
        help="SKAB: choose each run's settings on the labels of the runs outside its fold, "
        "with this many folds of consecutive runs (default: one run per fold)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

"""The health-model commands of ``prognos``: ``train``, ``eval`` and ``bench score``.

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
                args.fleet, progress=_progress(show), truth_csv=args.truth, workdir=args.workdir
            )
        elif args.target == "skab":
            directory = args.data or data_root / "skab"
            report = evaluation.evaluate_skab(directory, progress=_progress(show))
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
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

"""The health-model commands of ``prognos``: ``eval`` (and, with the database, ``train``).

prognos/cli.py registers them with :func:`register`; the bodies live here so the
models package itself stays free of settings and argument parsing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models import evaluation
from models.errors import ModelsError
from prognos.errors import PrognosError
from prognos.settings import Settings


class ModelCommandError(PrognosError):
    """A health-model command failed for a reason the user can act on."""


def _progress(enabled: bool) -> evaluation.Progress:
    def emit(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    return emit if enabled else evaluation._quiet


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    data_root = settings.models.data_dir
    show = not args.quiet
    try:
        if args.target == "skab":
            directory = args.data or data_root / "skab"
            report = evaluation.evaluate_skab(directory, progress=_progress(show))
        else:
            directory = args.data or data_root / "cmapss"
            report = evaluation.evaluate_cmapss(
                directory, args.subset, select=args.select, progress=_progress(show)
            )
    except ModelsError as exc:
        raise ModelCommandError(str(exc)) from exc
    print(json.dumps(report) if args.json else evaluation.table(report))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the health-model subcommands to the ``prognos`` parser."""
    text = "measure the health models on a public benchmark (SKAB or C-MAPSS)"
    p = sub.add_parser("eval", help=text, description=text)
    p.set_defaults(func=cmd_eval)
    p.add_argument("target", choices=["skab", "cmapss"], help="which benchmark")
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

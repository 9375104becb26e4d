"""``prognos eval``: the public benchmarks, as reports (dicts) and text tables.

Each ``evaluate_*`` function reads a data directory, selects its settings on training
data only (models/skab_methods.py, models/cmapss.py), scores the test parts once and
returns one JSON-ready dict. ``table`` renders such a dict for a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from models import cmapss, sim_metrics, skab, skab_crossval, skab_methods
from models.metrics import Confusion, interval_coverage, phm08_score, rmse

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


def evaluate_skab(
    directory: Path | str, *, folds: int | None = None, progress: Progress = _quiet
) -> dict[str, Any]:
    """SKAB's protocol with two ways of choosing the detector's settings: on the other
    runs' labels (cross-validation over runs, models/skab_crossval.py: the headline
    figures) and on healthy training data alone (models/skab_methods.py)."""
    started = time.monotonic()
    data = skab.load(directory)
    progress(
        f"SKAB: {len(data.runs)} labelled runs, {len(data.anomaly_free)} anomaly-free "
        f"recording(s), {len(data.channels)} channels"
    )
    progress("choosing each run's settings on the other runs' labels:")
    crossed = skab_crossval.cross_validate(data.runs, folds, progress=progress)
    progress("choosing windows and threshold on healthy training data only:")
    healthy, table = skab_methods.select(data, progress=progress)
    progress(f"selected: {healthy.describe()}")
    alone, _ = skab.evaluate(data.runs, healthy)
    baseline, _ = skab.evaluate(data.runs, skab_methods.hotelling_as_skab)
    test_rows = sum(len(run.channels) - skab.TRAIN_ROWS for run in data.runs)
    k = len(crossed.folds)
    scheme = "leave-one-run-out" if k == len(data.runs) else f"{k} folds of runs"
    ours = crossed.total
    return {
        "benchmark": "skab",
        "data": str(directory),
        "runs": len(data.runs),
        "test_rows": test_rows,
        "method": f"drift-aware detector, settings from the other runs' labels ({scheme})",
        "folds": k,
        "scheme": scheme,
        "f1": round(ours.f1, 4),
        "far": round(ours.far, 2),
        "mar": round(ours.mar, 2),
        "counts": _counts(ours),
        "cross_validation": [
            {
                "runs": fold.runs,
                "setting": fold.method.describe(),
                "development_f1": round(fold.development.f1, 4),
                "development_far": round(fold.development.far, 2),
            }
            for fold in crossed.folds
        ],
        "per_run": {
            name: {"f1": round(c.f1, 4), "far": round(c.far, 2), "mar": round(c.mar, 2)}
            for name, c in crossed.per_run.items()
        },
        "healthy_only": {
            "method": "drift-aware detector (" + healthy.describe() + ")",
            "f1": round(alone.f1, 4),
            "far": round(alone.far, 2),
            "mar": round(alone.mar, 2),
            "counts": _counts(alone),
            "selection": [
                {"candidate": c.describe(), "synthetic_f1": round(score, 4)} for c, score in table
            ],
        },
        "baselines": [
            {
                "method": "Hotelling T-squared (as SKAB runs it, measured here)",
                "scope": f"these {len(data.runs)} runs",
                "f1": round(baseline.f1, 4),
                "far": round(baseline.far, 2),
                "mar": round(baseline.mar, 2),
            },
            *(
                {"method": name, "scope": scope, "f1": f1, "far": far, "mar": mar}
                for name, scope, f1, far, mar in skab_methods.PUBLISHED
            ),
        ],
        "seconds": round(time.monotonic() - started, 1),
    }


def _counts(counts: Confusion) -> dict[str, int]:
    return {"tp": counts.tp, "tn": counts.tn, "fp": counts.fp, "fn": counts.fn}


def evaluate_cmapss_subset(
    directory: Path | str, subset: str, *, select: bool = False, progress: Progress = _quiet
) -> dict[str, Any]:
    started = time.monotonic()
    data = cmapss.load_subset(directory, subset)
    units = data.train["unit"].nunique()
    progress(f"C-MAPSS {data.name}: {units} training units, {len(data.true_rul)} test units")
    candidate = cmapss.DEFAULT
    selection: list[dict[str, Any]] = []
    if select:
        progress("cross-validating the regressor over training units (grouped by unit):")
        with threadpool_limits(limits=1):
            candidate, table = cmapss.select(data.train, progress=progress)
        selection = [{"candidate": repr(c), "cv_rmse": round(s, 3)} for c, s in table]
    progress(f"fitting on the training units ({candidate})")
    # one thread: on a busy 2-core machine OpenMP's second thread costs more than it gives
    with threadpool_limits(limits=1):
        pipeline = cmapss.RULPipeline(regressor=candidate.regressor()).fit(data.train)
        point, lower, upper = pipeline.predict_last(data.test)
    truth = data.true_rul
    cap = pipeline.regressor.cap
    return {
        "benchmark": "cmapss",
        "data": str(directory),
        "subset": data.name,
        "test_units": int(truth.shape[0]),
        "regimes": pipeline.regimes_.n_regimes_ if pipeline.regimes_ else 1,
        "sensors": pipeline.sensors_,
        "cap": cap,
        "model": repr(candidate),
        "rmse": round(rmse(point, truth), 3),
        "phm08": round(phm08_score(point, truth), 2),
        "band": pipeline.regressor.band,
        "band_coverage": round(interval_coverage(lower, upper, truth), 3),
        "band_coverage_capped_truth": round(
            interval_coverage(lower, upper, np.minimum(truth, cap)), 3
        ),
        "band_mean_width": round(float(np.mean(upper - lower)), 2),
        "selection": selection,
        "published": [
            {"method": name, "subset": sub, "rmse": value}
            for name, sub, value in cmapss.PUBLISHED
            if sub == data.name
        ],
        "seconds": round(time.monotonic() - started, 1),
    }


def evaluate_cmapss(
    directory: Path | str,
    subset: str = "FD001",
    *,
    select: bool = False,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """One subset's report, or with ``subset="all"`` every subset found in the directory."""
    if subset.lower() != "all":
        return evaluate_cmapss_subset(directory, subset, select=select, progress=progress)
    reports = [
        evaluate_cmapss_subset(directory, name, select=select, progress=progress)
        for name in cmapss.available(directory)
    ]
    return {"benchmark": "cmapss", "data": str(directory), "subsets": reports}


def table(report: dict[str, Any]) -> str:
    """A report as a text table."""
    if report.get("benchmark") == "skab":
        return _skab_table(report)
    if report.get("benchmark") == "sim":
        return sim_metrics.render(report)
    if "subsets" in report:
        return "\n\n".join(_cmapss_table(r) for r in report["subsets"])
    return _cmapss_table(report)


def _skab_table(report: dict[str, Any]) -> str:
    alone = report["healthy_only"]
    runs = f"these {report['runs']} runs"
    rows = [
        ("Prognos, settings from the other runs' labels", runs, report),
        ("Prognos, settings from healthy training data only", runs, alone),
    ]
    rows += [(b["method"], b["scope"], b) for b in report["baselines"]]
    width = max(len(r[0]) for r in rows)
    scope = max(len(r[1]) for r in rows)
    lines = [
        f"SKAB outlier detection: {report['runs']} runs, {report['test_rows']} test rows "
        f"({report['seconds']} s)",
        f"{'method':<{width}}  {'scope':<{scope}}  {'F1':>5}  {'FAR %':>6}  {'MAR %':>6}",
    ]
    lines += [
        f"{name:<{width}}  {where:<{scope}}  {r['f1']:>5.2f}  {r['far']:>6.2f}  {r['mar']:>6.2f}"
        for name, where, r in rows
    ]
    counts = report["counts"]
    lines.append(
        f"counts (other runs' labels): TP {counts['tp']}, TN {counts['tn']}, "
        f"FP {counts['fp']}, FN {counts['fn']}"
    )
    settings: dict[str, int] = {}
    for fold in report["cross_validation"]:
        settings[fold["setting"]] = settings.get(fold["setting"], 0) + 1
    lines.append(f"settings chosen ({report['scheme']}):")
    lines += [f"  {n} x {setting}" for setting, n in settings.items()]
    lines.append(f"healthy training data only: {alone['method']}")
    return "\n".join(lines)


def _cmapss_table(report: dict[str, Any]) -> str:
    lines = [
        f"C-MAPSS {report['subset']}: {report['test_units']} test units, "
        f"{report['regimes']} operating regime(s), target cap {report['cap']:g} "
        f"({report['seconds']} s)",
        f"{'method':<40}  {'RMSE':>6}  {'PHM08':>9}",
        f"{'Prognos gradient-boosted RUL':<40}  {report['rmse']:>6.2f}  {report['phm08']:>9.1f}",
    ]
    lines += [f"{p['method']:<40}  {p['rmse']:>6.2f}  {'':>9}" for p in report["published"]]
    lines.append(
        f"band ({report['band']:.0%} nominal): coverage {report['band_coverage']:.0%} of the "
        f"true RUL, {report['band_coverage_capped_truth']:.0%} of the capped RUL, "
        f"mean width {report['band_mean_width']:.1f} cycles"
    )
    return "\n".join(lines)

"""SKAB detector settings chosen on the labels of *other* runs (cross-validation over runs).

A deployment knows more than a new machine's first minutes: it has the labelled
incidents of other machines of the same kind (service records), and they tell which
channels show a fault and how long it lasts. This module uses that knowledge under
SKAB's protocol without letting a run's own test part choose how that run is scored:

* the labelled runs are split into ``folds`` consecutive groups (leave-one-run-out when
  ``folds`` is the number of runs, the default);
* for each group, every candidate setting (which channels to watch: each channel alone
  or all of them; the smoothing window; the spread feature; the hysteresis) at every
  threshold of a fixed grid is run under the protocol on the *other* runs, and the one
  with the best pooled F1 whose pooled false-alarm rate stays within ``far_budget`` is
  kept (ties: the first in candidate and grid order);
* that setting scores the group's runs, each detector fitted on its own run's 400
  training rows only, exactly as the protocol asks.

No run's test rows, values or labels, take part in choosing the setting that scores it
(tested by poisoning them). The threshold grid is fixed, not drawn from any data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from models.errors import DataError
from models.metrics import Confusion
from models.skab import TRAIN_ROWS, Run, evaluate
from models.skab_methods import DriftAwareMethod

# thresholds on a drift-aware |z|: from well inside the healthy noise to far outside it
THRESHOLDS: NDArray[np.float64] = np.geomspace(0.5, 20.0, 120)
DEV_FAR_BUDGET = 0.10  # the same 10 % budget as the healthy-data selection


def candidates(channels: Sequence[str]) -> tuple[DriftAwareMethod, ...]:
    """Each channel alone and all channels together, with every window, spread and
    hysteresis setting (max of |z|: with one channel there is nothing to average)."""
    watched: list[tuple[str, ...] | None] = [(c,) for c in channels]
    watched.append(None)
    return tuple(
        DriftAwareMethod(
            window=window, spread_window=spread, aggregate="max", release=release, channels=c
        )
        for c in watched
        for window in (5, 10, 20, 30)
        for spread in (None, 10)
        for release in (1.0, 0.7, 0.5)
    )


@dataclass(frozen=True)
class Fold:
    """One group of held-out runs and the setting chosen on the other runs."""

    runs: list[str]
    method: DriftAwareMethod
    development: Confusion  # the chosen setting's pooled counts on the other runs
    counts: Confusion  # its counts on this group's runs


@dataclass(frozen=True)
class CrossValidation:
    total: Confusion
    per_run: dict[str, Confusion]
    folds: list[Fold]


def fold_of_runs(n_runs: int, folds: int) -> NDArray[np.int64]:
    """The fold of each run: ``folds`` consecutive groups of (nearly) equal size."""
    if not 2 <= folds <= n_runs:
        raise DataError(f"cross-validation needs 2 to {n_runs} folds over {n_runs} runs")
    out = np.empty(n_runs, dtype=np.int64)
    for k, members in enumerate(np.array_split(np.arange(n_runs), folds)):
        out[members] = k
    return out


def count_table(
    runs: Sequence[Run],
    methods: Sequence[DriftAwareMethod],
    thresholds: NDArray[np.float64],
    progress: Callable[[str], None] = lambda _msg: None,
) -> NDArray[np.int64]:
    """Counts (TP, FP, FN, TN) of every method at every threshold on every run's test
    part: shape (methods, thresholds, runs, 4)."""
    table = np.zeros((len(methods), thresholds.size, len(runs), 4), dtype=np.int64)
    for m, method in enumerate(methods):
        if m and m % 50 == 0:
            progress(f"  {m} of {len(methods)} settings run on {len(runs)} runs")
        for r, run in enumerate(runs):
            if run.anomaly is None:
                raise DataError(f"{run.name} has no labels")
            truth = run.anomaly[TRAIN_ROWS:].astype(bool)
            alarms = method.alarms_at(method.statistic(run.channels, TRAIN_ROWS), thresholds)
            alarm = alarms.astype(bool)
            table[m, :, r, 0] = (alarm & truth).sum(axis=1)
            table[m, :, r, 1] = (alarm & ~truth).sum(axis=1)
            table[m, :, r, 2] = (~alarm & truth).sum(axis=1)
            table[m, :, r, 3] = (~alarm & ~truth).sum(axis=1)
    return table


def best_setting(pooled: NDArray[np.int64], far_budget: float) -> tuple[int, int]:
    """(method, threshold) of the best F1 among pooled counts (methods, thresholds, 4)
    whose false-alarm rate is within the budget; the first such on ties."""
    tp, fp, fn, tn = (pooled[..., i].astype(np.float64) for i in range(4))
    denominator = tp + (fp + fn) / 2.0
    f1 = np.divide(tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    normal = fp + tn
    far = np.divide(fp, normal, out=np.zeros_like(fp), where=normal > 0)
    f1 = np.where(far <= far_budget, f1, -1.0)
    m, t = np.unravel_index(int(np.argmax(f1)), f1.shape)
    return int(m), int(t)


def _confusion(counts: NDArray[np.int64]) -> Confusion:
    tp, fp, fn, tn = (int(v) for v in counts)
    return Confusion(tp=tp, tn=tn, fp=fp, fn=fn)


def cross_validate(
    runs: Sequence[Run],
    folds: int | None = None,
    *,
    methods: Sequence[DriftAwareMethod] | None = None,
    thresholds: NDArray[np.float64] = THRESHOLDS,
    far_budget: float = DEV_FAR_BUDGET,
    progress: Callable[[str], None] = lambda _msg: None,
) -> CrossValidation:
    """Score every run with the setting chosen on the other folds' runs (module docstring)."""
    if len(runs) < 2:
        raise DataError("cross-validation over runs needs at least two labelled runs")
    k = len(runs) if folds is None else folds
    fold = fold_of_runs(len(runs), k)
    if methods is None:
        methods = candidates(list(runs[0].channels.columns))
    progress(
        f"{len(methods)} settings x {thresholds.size} thresholds on {len(runs)} runs, {k} folds"
    )
    table = count_table(runs, methods, thresholds, progress)
    total, per_run, chosen = Confusion(), {}, []
    for f in range(k):
        held = np.flatnonzero(fold == f)
        others = np.flatnonzero(fold != f)
        m, t = best_setting(table[:, :, others].sum(axis=2), far_budget)
        method = replace(methods[m], threshold=float(thresholds[t]))
        members = [runs[int(i)] for i in held]
        counts, mine = evaluate(members, method)  # the protocol itself, run afresh
        chosen.append(
            Fold(
                runs=[run.name for run in members],
                method=method,
                development=_confusion(table[m, t, others].sum(axis=0)),
                counts=counts,
            )
        )
        per_run.update(mine)
        total = total + counts
        progress(f"  fold {f + 1}: {', '.join(r.name for r in members)}: {method.describe()}")
    return CrossValidation(total=total, per_run=per_run, folds=chosen)

"""Evaluation metrics, as the public benchmarks define them.

Outlier detection (SKAB's protocol): true positives, true negatives, false positives and
false negatives are *summed over every run* first; then

    F1  = TP / (TP + (FP + FN) / 2)
    FAR = 100 * FP / (FP + TN)      false alarm rate, %
    MAR = 100 * FN / (FN + TP)      missed alarm rate, %

Remaining useful life (C-MAPSS / PHM08): one prediction per test unit, ``d = predicted -
true``; RMSE, and the PHM08 score ``sum(exp(-d/13) - 1 if d < 0 else exp(d/10) - 1)``,
which punishes late predictions (d > 0, the machine fails before it was expected to)
harder than early ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Confusion:
    """Counts of a binary detector against the truth (1 = anomaly)."""

    tp: int = 0
    tn: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.tn + other.tn, self.fp + other.fp, self.fn + other.fn
        )

    @property
    def f1(self) -> float:
        """TP / (TP + (FP + FN) / 2); 0 when there is nothing to find and nothing found."""
        denominator = self.tp + (self.fp + self.fn) / 2
        return self.tp / denominator if denominator else 0.0

    @property
    def far(self) -> float:
        """False alarm rate in %: the share of normal rows flagged."""
        normal = self.fp + self.tn
        return 100.0 * self.fp / normal if normal else 0.0

    @property
    def mar(self) -> float:
        """Missed alarm rate in %: the share of anomalous rows not flagged."""
        anomalous = self.fn + self.tp
        return 100.0 * self.fn / anomalous if anomalous else 0.0

    @property
    def precision(self) -> float:
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        anomalous = self.tp + self.fn
        return self.tp / anomalous if anomalous else 0.0


def confusion(truth: ArrayLike, predicted: ArrayLike) -> Confusion:
    """Count one run's outcomes; both arrays hold 0/1 (or booleans), one per row."""
    t = np.asarray(truth) == 1
    p = np.asarray(predicted) == 1
    if t.shape != p.shape:
        raise ValueError(f"truth has shape {t.shape} but the prediction {p.shape}")
    return Confusion(
        tp=int(np.sum(t & p)),
        tn=int(np.sum(~t & ~p)),
        fp=int(np.sum(~t & p)),
        fn=int(np.sum(t & ~p)),
    )


def summed_confusion(pairs: Iterable[tuple[ArrayLike, ArrayLike]]) -> Confusion:
    """Sum the counts over runs of (truth, prediction), as SKAB does before any ratio."""
    total = Confusion()
    for truth, predicted in pairs:
        total = total + confusion(truth, predicted)
    return total


def rmse(predicted: ArrayLike, true: ArrayLike) -> float:
    p = np.asarray(predicted, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"predicted has shape {p.shape} but true {t.shape}")
    return float(np.sqrt(np.mean((p - t) ** 2)))


def phm08_score(predicted: ArrayLike, true: ArrayLike) -> float:
    """The PHM08 challenge score (lower is better): late predictions cost more."""
    p = np.asarray(predicted, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"predicted has shape {p.shape} but true {t.shape}")
    d = p - t
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))


def interval_coverage(lower: ArrayLike, upper: ArrayLike, true: ArrayLike) -> float:
    """Share of true values inside [lower, upper]."""
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    return float(np.mean((t >= lo) & (t <= hi))) if t.size else 0.0

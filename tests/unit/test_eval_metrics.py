"""The evaluation metrics against hand-computed confusion counts and scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.metrics import (
    Confusion,
    confusion,
    interval_coverage,
    phm08_score,
    rmse,
    summed_confusion,
)


def test_counts_of_one_run() -> None:
    truth = [0, 0, 1, 1, 1, 0, 1, 0]
    predicted = [0, 1, 1, 0, 1, 0, 0, 0]
    # rows: TN, FP, TP, FN, TP, TN, FN, TN
    assert confusion(truth, predicted) == Confusion(tp=2, tn=3, fp=1, fn=2)


def test_ratios_follow_skab_definitions() -> None:
    counts = Confusion(tp=30, tn=50, fp=10, fn=20)
    assert counts.f1 == pytest.approx(30 / (30 + (10 + 20) / 2))  # 0.6667
    assert counts.far == pytest.approx(100 * 10 / 60)  # 16.67 %
    assert counts.mar == pytest.approx(100 * 20 / 50)  # 40 %
    assert counts.precision == pytest.approx(0.75)
    assert counts.recall == pytest.approx(0.6)


def test_counts_are_summed_over_runs_before_any_ratio() -> None:
    run_a = ([1, 1, 0, 0], [1, 0, 0, 0])  # TP 1, FN 1, TN 2
    run_b = ([0, 0, 0, 1], [1, 1, 0, 1])  # FP 2, TN 1, TP 1
    total = summed_confusion([run_a, run_b])
    assert total == Confusion(tp=2, tn=3, fp=2, fn=1)
    assert total.f1 == pytest.approx(2 / (2 + 1.5))
    # the mean of per-run F1 would be a different number: the protocol sums first
    per_run = [confusion(*run_a).f1, confusion(*run_b).f1]
    assert np.mean(per_run) != pytest.approx(total.f1)


def test_always_alarming_gives_the_readme_figures() -> None:
    # over half the rows anomalous: always alarming gets F1 0.70 with FAR 100 %
    truth = np.r_[np.ones(54), np.zeros(46)]
    counts = confusion(truth, np.ones(100))
    assert counts.f1 == pytest.approx(54 / (54 + 23), abs=1e-9)
    assert round(counts.f1, 2) == 0.70
    assert counts.far == 100.0
    assert counts.mar == 0.0


def test_empty_classes_give_zero_not_a_division_error() -> None:
    assert Confusion().f1 == 0.0
    assert Confusion(tp=3).far == 0.0
    assert Confusion(tn=3).mar == 0.0


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        confusion([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="shape"):
        rmse([1.0], [1.0, 2.0])


def test_rmse_by_hand() -> None:
    assert rmse([10, 20, 30], [13, 16, 30]) == pytest.approx(math.sqrt((9 + 16 + 0) / 3))


def test_phm08_punishes_late_more_than_early() -> None:
    # d = predicted - true: -13 (early) costs e - 1, +10 (late) costs e - 1, both 1.718
    assert phm08_score([87], [100]) == pytest.approx(math.e - 1)
    assert phm08_score([110], [100]) == pytest.approx(math.e - 1)
    early, late = phm08_score([80], [100]), phm08_score([120], [100])
    assert late > early
    assert phm08_score([50, 60], [50, 60]) == 0.0
    by_hand = (math.exp(5 / 13) - 1) + (math.exp(3 / 10) - 1)
    assert phm08_score([45, 63], [50, 60]) == pytest.approx(by_hand)


def test_interval_coverage() -> None:
    assert interval_coverage([0, 10, 20], [5, 15, 25], [5, 16, 21]) == pytest.approx(2 / 3)

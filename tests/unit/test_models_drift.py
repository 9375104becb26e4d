"""The drift-aware detector: scikit-learn's contract, and known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.drift import DriftAwareDetector

NOT_APPLICABLE = "flags nothing in its own (healthy) training set by design"
SEQUENTIAL = "a row's score depends on its place in time (its horizon) by design"


def expected_failures(_estimator: object) -> dict[str, str]:
    return {
        "check_outliers_train": NOT_APPLICABLE,
        "check_outliers_fit_predict": NOT_APPLICABLE,
        "check_methods_sample_order_invariance": SEQUENTIAL,
        "check_methods_subset_invariance": SEQUENTIAL,
    }


@parametrize_with_checks(
    [DriftAwareDetector(), DriftAwareDetector(aggregate="rms")],
    expected_failed_checks=expected_failures,
    xfail_strict=True,
)
def test_scikit_learn_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def wander(n: int, seed: int, walk: float = 0.0) -> np.ndarray:
    """White noise of sd 1 on two channels, plus a random walk of step ``walk``."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)) + walk * rng.normal(size=(n, 2)).cumsum(axis=0)


def test_a_stable_series_is_not_flagged() -> None:
    model = DriftAwareDetector(threshold=4.5).fit(wander(400, 1))
    assert (model.predict(wander(800, 2)) == 1).mean() > 0.995


def test_a_step_is_found_at_once() -> None:
    model = DriftAwareDetector(threshold=4.5).fit(wander(400, 1))
    later = wander(300, 2)
    later[100:, 0] += 8.0
    flags = model.predict(later)
    assert (flags[:100] == 1).all()
    assert (flags[100:] == -1).all()


def test_the_tolerance_grows_with_healthy_wander() -> None:
    walking = DriftAwareDetector().fit(wander(400, 1, walk=0.3))
    still = DriftAwareDetector().fit(wander(400, 1))
    assert (walking.drift_rate_ > 0.01).all()
    assert (still.drift_rate_ < 0.01).all()
    # the same offset is less surprising far from training when the machine wanders
    row = np.array([[6.0, 0.0]])
    near = walking.statistic(row, horizons=[1])[0]
    far = walking.statistic(row, horizons=[2000])[0]
    assert far < near
    assert still.statistic(row, horizons=[2000])[0] == pytest.approx(
        still.statistic(row, horizons=[1])[0], rel=0.2
    )


def test_rms_adds_evidence_from_many_features() -> None:
    train = np.random.default_rng(4).normal(size=(400, 8))
    shift = np.full((1, 8), 2.0)  # every channel 2 sd off: no single channel is alarming
    assert DriftAwareDetector(aggregate="rms").fit(train).statistic(shift)[0] > 1.8
    one = np.zeros((1, 8))
    one[0, 0] = 2.0 * np.sqrt(8)  # same norm, one channel
    assert DriftAwareDetector(aggregate="max").fit(train).statistic(one)[0] > 5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"threshold": 0}, "threshold"),
        ({"aggregate": "mean"}, "aggregate"),
        ({"max_lag_fraction": 1.5}, "max_lag_fraction"),
        ({"n_lags": 1}, "n_lags"),
        ({"min_lag": 0}, "min_lag"),
    ],
)
def test_bad_parameters_are_refused_at_fit(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DriftAwareDetector(**params).fit(wander(50, 1))  # type: ignore[arg-type]

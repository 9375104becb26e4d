"""The robust baseline: scikit-learn's estimator contract, and known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.baseline import MachineBaseline, RobustBaseline

# scikit-learn's outlier checks fit on three blobs and expect the detector to flag part
# of its own training set (a contamination-style threshold). The baseline is fitted on
# healthy data and flags nothing in it by design, so those two checks are expected to fail.
NOT_APPLICABLE = "flags nothing in its own (healthy) training set by design"


def expected_failures(_estimator: object) -> dict[str, str]:
    return {"check_outliers_train": NOT_APPLICABLE, "check_outliers_fit_predict": NOT_APPLICABLE}


@parametrize_with_checks(
    [RobustBaseline()], expected_failed_checks=expected_failures, xfail_strict=True
)
def test_scikit_learn_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def healthy(n: int = 2000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # coolant temperature (C), hydraulic pressure (bar), vibration (mm/s)
    return np.column_stack(
        [rng.normal(85, 1.0, n), rng.normal(280, 5.0, n), rng.normal(3.2, 0.2, n)]
    )


def test_learns_median_and_robust_scale_despite_outliers() -> None:
    data = healthy()
    data[:20, 0] = 500.0  # 1 % of wild readings must not move the baseline
    model = RobustBaseline().fit(data)
    assert model.center_ == pytest.approx([85, 280, 3.2], abs=0.15)
    assert model.scale_ == pytest.approx([1.0, 5.0, 0.2], rel=0.1)


def test_a_stable_series_is_not_flagged() -> None:
    model = RobustBaseline(threshold=6.0).fit(healthy(seed=1))
    assert (model.predict(healthy(seed=2)) == 1).all()
    # at the default cut-off (3.5) about 3 x 0.05 % of healthy samples pass it
    assert (RobustBaseline().fit(healthy(seed=1)).predict(healthy(seed=2)) == 1).mean() > 0.995


def test_a_drift_is_found_and_explained() -> None:
    model = RobustBaseline(threshold=6.0).fit(healthy(seed=1))
    drift = healthy(200, seed=3)
    drift[:, 0] += np.linspace(0, 20, 200)  # coolant creeps up by 20 C (20 sigma)
    flags = model.predict(drift)
    assert (flags[:40] == 1).all()  # the first 4 C are within the healthy spread
    assert (flags[-60:] == -1).all()
    share = model.contributions(drift[-1:])[0]
    assert share.sum() == pytest.approx(1.0)
    assert share.argmax() == 0
    assert share[0] > 0.9


def test_a_constant_channel_uses_the_scale_floor() -> None:
    data = healthy()
    data[:, 2] = 1.0
    model = RobustBaseline(min_scale=0.5).fit(data)
    assert model.scale_[2] == 0.5
    assert model.z_scores([[85, 280, 2.0]])[0, 2] == pytest.approx(2.0)


@pytest.mark.parametrize("params", [{"threshold": 0}, {"min_scale": -1}])
def test_bad_parameters_are_refused_at_fit(params: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RobustBaseline(**params).fit(healthy(10))


@parametrize_with_checks(
    [MachineBaseline()], expected_failed_checks=expected_failures, xfail_strict=True
)
def test_machine_baseline_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def test_each_machine_is_judged_against_its_own_healthy_level() -> None:
    rng = np.random.default_rng(8)
    hot = rng.normal(92, 1.0, (500, 1))  # this machine always runs hot, and is healthy
    cool = rng.normal(80, 1.0, (500, 1))
    model = MachineBaseline(prior_rows=10).fit(np.vstack([hot, cool]), groups=[7] * 500 + [8] * 500)
    reading = [[92.0]]
    assert abs(model.z_scores(reading, groups=[7])[0, 0]) < 1  # normal for machine 7
    assert model.z_scores(reading, groups=[8])[0, 0] > 8  # alarming for machine 8
    assert model.predict([[92.0], [92.0]], groups=[7, 8]).tolist() == [1, -1]


def test_a_new_machine_starts_at_its_family_baseline() -> None:
    rng = np.random.default_rng(9)
    family = rng.normal(80, 1.0, (1000, 1))
    newcomer = rng.normal(90, 1.0, (5, 1))  # five rows: mostly the family's baseline
    model = MachineBaseline(prior_rows=50).fit(
        np.vstack([family, newcomer]), groups=[1] * 1000 + [2] * 5
    )
    own = model.centers_[list(model.machines_).index(2), 0]
    assert 80 < own < 82  # 5 / 55 of the way to its own 90
    assert model.z_scores([[80.0]], groups=[99])[0, 0] == pytest.approx(0.0, abs=0.2)

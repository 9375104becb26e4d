"""Remaining useful life: the regressor's contract, and known answers for both estimators."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.rul import RULRegressor, linear_rul

CLIPPED = "a remaining life is never negative; the check's standardized targets are half negative"


def expected_failures(_estimator: object) -> dict[str, str]:
    return {"check_regressors_train": CLIPPED}


@parametrize_with_checks(
    [RULRegressor(max_iter=15, cap=1e6)],
    expected_failed_checks=expected_failures,
    xfail_strict=True,
)
def test_scikit_learn_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def run_to_failure(units: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A health index that wears linearly (with noise) until it fails at 1.0."""
    rng = np.random.default_rng(seed)
    rows, life, group = [], [], []
    for unit in range(units):
        length = int(rng.integers(120, 220))
        cycles = np.arange(length)
        wear = cycles / length  # 0 .. 1 at failure
        x = np.column_stack([wear + rng.normal(0, 0.03, length), rng.normal(0, 1, length)])
        rows.append(x)
        life.append(length - 1 - cycles)
        group.append(np.full(length, unit))
    return np.vstack(rows), np.concatenate(life).astype(float), np.concatenate(group)


def test_learns_remaining_life_with_a_band_that_covers_it() -> None:
    x, y, groups = run_to_failure(40, 1)
    model = RULRegressor(cap=100, max_iter=100).fit(x, y, groups=groups)
    x_new, y_new, _ = run_to_failure(15, 2)
    capped = np.minimum(y_new, 100)
    point = model.predict(x_new)
    assert point.min() >= 0
    assert point.max() <= 100
    assert np.sqrt(np.mean((point - capped) ** 2)) < 15
    lower, upper = model.predict_interval(x_new)
    assert (lower <= point).all()
    assert (point <= upper).all()
    assert ((capped >= lower) & (capped <= upper)).mean() > 0.7


def test_a_machine_near_failure_has_little_life_left() -> None:
    x, y, groups = run_to_failure(40, 1)
    model = RULRegressor(cap=100, max_iter=100).fit(x, y, groups=groups)
    fresh, worn = model.predict([[0.05, 0.0], [0.97, 0.0]])
    assert fresh > 90
    assert worn < 20


@pytest.mark.parametrize(("params", "message"), [({"cap": 0}, "cap"), ({"band": 1.2}, "band")])
def test_bad_parameters_are_refused_at_fit(params: dict[str, float], message: str) -> None:
    x, y, _ = run_to_failure(3, 1)
    with pytest.raises(ValueError, match=message):
        RULRegressor(**params).fit(x, y)  # type: ignore[arg-type]


def test_linear_rul_extrapolates_each_machine_to_the_limit() -> None:
    t = np.tile(np.arange(10.0), (3, 1))
    rising = 0.1 * t[0]  # 0 .. 0.9, reaches 2.0 eleven hours after the last point
    values = np.vstack([rising, np.full(10, 0.5), 2.5 - 0.01 * t[2]])
    estimate, lower, upper = linear_rul(t, values, limit=2.0, horizon=1000)
    assert estimate[0] == pytest.approx(11.0)
    assert lower[0] == pytest.approx(11.0)  # a perfect line: no uncertainty
    assert upper[0] == pytest.approx(11.0)
    assert estimate[1] == 1000  # flat: beyond the horizon
    assert estimate[2] == 0  # already past the limit


def test_linear_rul_band_widens_with_noise_and_needs_three_points() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(30.0)
    noisy = 0.05 * t + rng.normal(0, 0.1, 30)
    estimate, lower, upper = linear_rul(t[None, :], noisy[None, :], limit=3.0, horizon=1e4)
    assert lower[0] < estimate[0] < upper[0]
    assert estimate[0] == pytest.approx((3.0 - 0.05 * 29) / 0.05, rel=0.25)
    few = np.array([[0.0, 1.0, np.nan, np.nan]])
    out = linear_rul(few, np.array([[0.1, 0.2, np.nan, np.nan]]), limit=1.0, horizon=100)
    assert all(np.isnan(part[0]) for part in out)

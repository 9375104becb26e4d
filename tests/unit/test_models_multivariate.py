"""The PCA T-squared / Q detector: scikit-learn's contract, and known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.multivariate import PCADetector


@parametrize_with_checks([PCADetector(), PCADetector(n_components=2)])
def test_scikit_learn_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def machine(n: int, seed: int) -> np.ndarray:
    """Load drives temperature and pressure; vibration is independent noise."""
    rng = np.random.default_rng(seed)
    load = rng.uniform(20, 100, n)
    temperature = 60 + 0.3 * load + rng.normal(0, 0.5, n)
    pressure = 100 + 2.0 * load + rng.normal(0, 2.0, n)
    vibration = rng.normal(3.0, 0.2, n)
    return np.column_stack([load, temperature, pressure, vibration])


def test_healthy_rows_stay_inside_the_limits() -> None:
    model = PCADetector(n_components=0.9).fit(machine(3000, 1))
    assert (model.predict(machine(3000, 2)) == 1).mean() > 0.98


def test_a_broken_relation_is_found_by_q_and_explained() -> None:
    model = PCADetector(n_components=0.9).fit(machine(3000, 1))
    rows = machine(200, 3)
    rows[:, 2] -= 25.0  # pressure falls while the load stays: a leak, not a lighter duty
    t2, q = model.statistics(rows)
    assert np.median(q) > 3 * np.median(t2)
    assert (model.predict(rows) == -1).mean() > 0.9
    share = model.contributions(rows).mean(axis=0)
    assert share.sum() == pytest.approx(1.0)
    assert share.argmax() == 2


def test_an_extreme_but_consistent_row_is_found_by_t_squared() -> None:
    model = PCADetector(n_components=0.9).fit(machine(3000, 1))
    load = 200.0  # twice the highest load seen, every channel consistent with it
    row = np.array([[load, 60 + 0.3 * load, 100 + 2.0 * load, 3.0]])
    t2, q = model.statistics(row)
    assert t2[0] > 1.0
    assert t2[0] > q[0]


def test_components_follow_the_variance_share() -> None:
    data = machine(2000, 1)
    assert PCADetector(n_components=0.5).fit(data).n_components_ == 1
    assert PCADetector(n_components=0.999).fit(data).n_components_ >= 3
    assert PCADetector(n_components=9).fit(data).n_components_ == 4


@pytest.mark.parametrize(
    ("params", "message"),
    [({"n_components": 0}, "n_components"), ({"limit_quantile": 1.0}, "limit_quantile")],
)
def test_bad_parameters_are_refused_at_fit(params: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PCADetector(**params).fit(machine(50, 1))  # type: ignore[arg-type]

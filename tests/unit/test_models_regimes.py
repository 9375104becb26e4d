"""Operating regimes and per-regime scaling: the contract, and known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.regimes import OperatingRegimes, RegimeScaler

SIX = np.array(
    [[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100], [42, 0.84, 100]]
)


def six_conditions(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    which = rng.integers(0, 6, n)
    return SIX[which] + rng.normal(0, 0.002, (n, 3)), which


@parametrize_with_checks([OperatingRegimes(max_regimes=3), RegimeScaler()])
def test_scikit_learn_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def test_six_flight_conditions_are_six_regimes() -> None:
    settings, which = six_conditions(3000, 1)
    model = OperatingRegimes().fit(settings)
    assert model.n_regimes_ == 6
    found = model.predict(settings)
    # the numbering is the model's own: each true condition maps to exactly one regime
    for condition in range(6):
        assert len(np.unique(found[which == condition])) == 1
    assert len(np.unique(found)) == 6


def test_noise_around_one_condition_is_one_regime() -> None:
    rng = np.random.default_rng(2)
    settings = np.array([[0.0, 0.0, 100.0]]) + rng.normal(0, 0.003, (2000, 3))
    assert OperatingRegimes().fit(settings).n_regimes_ == 1


def test_per_regime_scaling_removes_the_regime_offsets() -> None:
    settings, which = six_conditions(3000, 3)
    regimes = OperatingRegimes().fit(settings).predict(settings)
    rng = np.random.default_rng(4)
    sensor = 500 + 40 * which + rng.normal(0, 1.0, which.size)  # the regime dominates
    scaled = RegimeScaler().fit_transform(sensor[:, None], regimes=regimes)
    assert scaled.std() == pytest.approx(1.0, abs=0.05)
    for r in range(6):
        assert scaled[regimes == r].mean() == pytest.approx(0.0, abs=1e-9)


def test_an_unseen_regime_falls_back_to_the_global_statistics() -> None:
    data = np.array([[1.0], [3.0], [10.0], [14.0]])
    scaler = RegimeScaler().fit(data, regimes=[0, 0, 1, 1])
    assert scaler.transform([[7.0]], regimes=[5])[0, 0] == pytest.approx(0.0)
    assert scaler.transform([[3.0]], regimes=[0])[0, 0] == pytest.approx(1.0)

"""Causal sequence features: equal to pandas' rolling results, and never leaking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.sequence import (
    degradation_features,
    early_mean,
    ewm_mean,
    level_and_spread,
    positions,
    rolling_mean,
    rolling_slope,
    rolling_std,
)


@pytest.fixture
def two_units() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(7)
    values = rng.normal(size=(60, 3)).cumsum(axis=0)
    groups = np.repeat([4, 9], [25, 35])
    return values, groups, pd.DataFrame(values)


def per_group(frame: pd.DataFrame, groups: np.ndarray, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    return frame.groupby(groups).transform(fn).to_numpy()


def test_positions_restart_in_each_group() -> None:
    assert positions([1, 1, 2, 2, 2, 1], 6).tolist() == [0, 1, 0, 1, 2, 0]
    assert positions(None, 3).tolist() == [0, 1, 2]


def test_rolling_statistics_match_pandas(two_units) -> None:  # type: ignore[no-untyped-def]
    values, groups, frame = two_units
    expected = per_group(frame, groups, lambda s: s.rolling(5, min_periods=1).mean())
    assert rolling_mean(values, 5, groups) == pytest.approx(expected)
    expected = per_group(frame, groups, lambda s: s.rolling(7, min_periods=2).std()).copy()
    expected[np.isnan(expected)] = 0.0
    assert rolling_std(values, 7, groups, ddof=1) == pytest.approx(expected)

    def slope(s: pd.Series) -> pd.Series:
        t = pd.Series(np.arange(len(s)), index=s.index, dtype=float)
        return s.rolling(6, min_periods=2).cov(t) / t.rolling(6, min_periods=2).var()

    expected = per_group(frame, groups, slope).copy()
    expected[np.isnan(expected)] = 0.0
    assert rolling_slope(values, 6, groups) == pytest.approx(expected)
    expected = per_group(frame, groups, lambda s: s.ewm(alpha=0.2).mean())
    assert ewm_mean(values, 0.2, groups) == pytest.approx(expected)


def test_early_mean_is_the_first_rows_mean_once_known(two_units) -> None:  # type: ignore[no-untyped-def]
    values, groups, _ = two_units
    out = early_mean(values, 4, groups)
    assert out[3] == pytest.approx(values[:4].mean(axis=0))
    assert out[24] == pytest.approx(values[:4].mean(axis=0))
    assert out[1] == pytest.approx(values[:2].mean(axis=0))  # expanding before that
    assert out[25] == pytest.approx(values[25])  # the second unit starts afresh


def test_features_are_causal(two_units) -> None:  # type: ignore[no-untyped-def]
    values, groups, _ = two_units
    full = degradation_features(values, ["a", "b", "c"], groups)
    changed = values.copy()
    changed[40:] += 100.0  # the future of unit 9 after row 39
    partial = degradation_features(changed, ["a", "b", "c"], groups)
    assert partial.iloc[:40].to_numpy() == pytest.approx(full.iloc[:40].to_numpy())
    assert not np.allclose(partial.iloc[40:].to_numpy(), full.iloc[40:].to_numpy())


def test_a_linear_trend_has_its_slope_and_no_spread_change() -> None:
    t = np.arange(50, dtype=float)
    out = degradation_features(np.column_stack([2.0 * t + 1]), ["x"], slope_window=10)
    assert out["x_slope"].iloc[-1] == pytest.approx(2.0)
    assert out["x_drift"].iloc[-1] > 50  # far above the first 20 rows' mean


def test_level_and_spread_side_by_side() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(200, 2))
    z[100:, 1] *= 5  # channel 1 gets noisy
    out = level_and_spread(z, 10, 10)
    assert out.shape == (200, 4)
    assert out[150:, 3].mean() > out[50:100, 3].mean() + 1.0
    assert abs(out[150:, 2].mean() - out[50:100, 2].mean()) < 0.3


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_windows_are_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="window"):
        rolling_mean(np.zeros((3, 1)), bad)

"""The alarm threshold stays what the healthy machines say when a few machines of the
training data carry a fault (the field's normal case: nobody knows yet)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models import synthetic
from models.family import TrainingConfig, tail_quantile, train_family, unusual_machines
from models.injection import Injected

CODES = [c.code for c in synthetic.PUMP]
FAST = TrainingConfig(injections=200)


def history(faulty: dict[int, Injected], from_window: int = 13) -> pd.DataFrame:
    """16 hourly windows of 30 pumps; the machines of ``faulty`` carry their fault from
    ``from_window`` on (late in the training data: the held-out part)."""
    clean = synthetic.fleet(30, 60, windows=16, seed=1)
    if not faulty:
        return clean
    broken = synthetic.fleet(30, 60, windows=16, seed=1, faults=faulty)
    late = broken["equipment_id"].isin(list(faulty)) & (broken["window"] >= from_window)
    early = ~(clean["equipment_id"].isin(list(faulty)) & (clean["window"] >= from_window))
    return pd.concat([clean[early], broken[late]], ignore_index=True)


def threshold(data: pd.DataFrame, config: TrainingConfig = FAST) -> tuple[float, list[int]]:
    _, metrics = train_family("concrete_pump", data, CODES, config=config)
    return metrics["alarm_threshold"], metrics["suspect_machines"]


@pytest.fixture(scope="module")
def clean_threshold() -> float:
    return threshold(history({}))[0]


def test_a_leak_late_in_the_training_data_does_not_set_the_threshold(
    clean_threshold: float,
) -> None:
    data = history({4: Injected("seal_hose_leak", 0.9), 9: Injected("sensor_drift", 1.0)})
    found, suspects = threshold(data)
    assert found == pytest.approx(clean_threshold, rel=0.25)
    assert {4, 9} <= set(suspects)
    # without the check the two machines' windows set it
    inflated, _ = threshold(data, replace(FAST, outlier_machine_z=None))
    assert inflated > 3 * clean_threshold


def test_unusual_machines_are_the_outliers_of_the_held_out_maxima() -> None:
    rng = np.random.default_rng(0)
    machines = np.repeat(np.arange(20), 30)
    statistic = rng.lognormal(-1.5, 0.6, machines.size)
    assert unusual_machines(statistic, machines, 3.5) == set()
    statistic[machines == 3] *= 40  # a fault under way
    statistic[(machines == 11) & (np.arange(machines.size) % 30 == 29)] = 80.0  # a late leak
    assert unusual_machines(statistic, machines, 3.5) == {3, 11}


def test_at_least_half_the_machines_set_the_threshold() -> None:
    machines = np.repeat(np.arange(6), 10)
    statistic = np.where(machines < 4, 50.0, 0.2) + 0.01 * np.arange(60)
    assert len(unusual_machines(statistic, machines, 3.5)) <= 3


def test_the_alarm_quantile_is_read_off_the_tail_not_off_one_window() -> None:
    rng = np.random.default_rng(3)
    healthy = rng.exponential(0.2, 1000)
    true = 0.2 * np.log(1000.0)  # the exponential's 99.9th percentile
    assert tail_quantile(healthy, 0.999) == pytest.approx(true, rel=0.15)
    # two rare windows (a stop mid-load, a sensor failing on the last day) among 1,000
    rare = healthy.copy()
    rare[:2] = [10.0, 16.0]
    assert np.quantile(rare, 0.999) > 5 * true  # the empirical quantile is their doing
    assert tail_quantile(rare, 0.999) == pytest.approx(true, rel=0.15)


def test_the_tail_quantile_falls_back_to_the_empirical_one() -> None:
    values = np.random.default_rng(4).exponential(1.0, 100)  # 10 values above the 90th
    assert tail_quantile(values, 0.999) == pytest.approx(np.quantile(values, 0.999))
    big = np.random.default_rng(5).exponential(1.0, 1000)
    assert tail_quantile(big, 0.999, tail=None) == pytest.approx(np.quantile(big, 0.999))
    assert tail_quantile(big, 0.5) == pytest.approx(np.quantile(big, 0.5))
    with pytest.raises(ValueError, match="no finite statistic"):
        tail_quantile(np.array([np.nan]), 0.999)


def test_a_machine_whose_windows_all_sit_high_is_unusual() -> None:
    rng = np.random.default_rng(6)
    machines = np.repeat(np.arange(20), 30)
    statistic = rng.lognormal(-2.0, 0.8, machines.size)
    assert unusual_machines(statistic, machines, 3.5) == set()
    # a bearing wearing through the training weeks: every window about 8x, none extreme
    wearing = machines == 7
    statistic[wearing] = np.minimum(statistic[wearing] * 8.0, np.max(statistic[~wearing]))
    assert unusual_machines(statistic, machines, 3.5) == {7}

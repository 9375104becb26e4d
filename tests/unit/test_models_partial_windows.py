"""Windows a machine started or stopped in carry warm-up transients: the detector and the
alarm learn from the windows the machine ran through, and partial windows are judged
on a scale of their own, so the transients neither blunt the detector nor raise alarms."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models import synthetic
from models.family import FamilyModel, TrainingConfig, complete, train_family
from models.features import window_features
from models.injection import Injected

CODES = [c.code for c in synthetic.PUMP]
FAST = TrainingConfig(injections=200)
OFF_MINUTES = 25  # a started window: the machine was off for its first 25 minutes
WARM_UP = 15  # and its coolant ran cold for 15 more


def with_starts(data: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """``data`` with ``share`` of its (machine, window) pairs started late and cold."""
    keys = data[["equipment_id", "window"]].drop_duplicates()
    started = keys.sample(frac=share, random_state=seed)
    pairs = pd.MultiIndex.from_frame(data[["equipment_id", "window"]])
    late = pairs.isin(pd.MultiIndex.from_frame(started))
    minute = np.rint(data["t_h"].to_numpy() * 60).astype(int)
    keep = ~(late & (minute < OFF_MINUTES))
    out = data[keep].copy()
    since = minute[keep] - OFF_MINUTES
    cold = late[keep] & (since < WARM_UP) & (out["channel"].to_numpy() == "coolant_temp")
    chill = np.where(cold, 10.0 * (1.0 - since / WARM_UP), 0.0)
    for column in ("mean", "min", "max"):
        out[column] = out[column].to_numpy() - chill
    return pd.DataFrame(out.reset_index(drop=True))


def ratios(model: FamilyModel, aggregates: pd.DataFrame) -> pd.Series:
    scores = model.score(aggregates)
    return pd.Series(scores["statistic"] / model.alarm_threshold)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return with_starts(synthetic.fleet(30, 60, windows=16, seed=1), share=0.15, seed=2)


@pytest.fixture(scope="module")
def split(history: pd.DataFrame) -> FamilyModel:
    return train_family("concrete_pump", history, CODES, config=FAST)[0]


@pytest.fixture(scope="module")
def pooled(history: pd.DataFrame) -> FamilyModel:
    config = replace(FAST, split_partial=False)
    return train_family("concrete_pump", history, CODES, config=config)[0]


def test_complete_windows_are_those_with_every_bucket() -> None:
    features = pd.DataFrame({"buckets": [60.0, 59.0, 35.0, 61.0]})
    assert complete(features, 60.0).tolist() == [True, False, False, True]


def test_partial_windows_get_a_scale_of_their_own(split: FamilyModel, pooled: FamilyModel) -> None:
    assert split.partial_scale > 2.0
    assert pooled.partial_scale == 1.0


def test_a_fault_in_a_full_window_stands_out_more_when_transients_do_not_train_the_detector(
    split: FamilyModel, pooled: FamilyModel
) -> None:
    fault = {3: Injected("cooling_fouling", 0.3)}
    window = synthetic.fleet(30, 60, seed=1, noise_seed=9, faults=fault)
    found, blunt = ratios(split, window), ratios(pooled, window)
    healthy_split = found.drop(index=3, level="equipment_id").quantile(0.99)
    faulty_split = float(found.xs(3, level="equipment_id").iloc[0])
    faulty_pooled = float(blunt.xs(3, level="equipment_id").iloc[0])
    assert faulty_split > 1.0 > healthy_split
    assert faulty_split > 2 * faulty_pooled
    assert faulty_pooled < 1.0  # the transients had taught the detector to shrug it off


def test_healthy_started_windows_do_not_alarm(split: FamilyModel) -> None:
    fresh = with_starts(synthetic.fleet(30, 60, windows=4, seed=1, noise_seed=7), 0.5, seed=3)
    features = window_features(fresh, split.load_model)
    partial = ~complete(features[split.usable(features)], split.buckets_per_window)
    flagged = ratios(split, fresh) > 1.0
    assert partial.sum() > 30
    assert flagged[partial].mean() <= 0.05

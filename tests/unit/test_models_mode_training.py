"""Where the failure-mode classifier's faults are injected, and how many of each it sees."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models import synthetic
from models.family import FamilyModel, TrainingConfig, injection_hosts, train_family
from models.features import window_features
from models.injection import Injected
from models.mode_training import train_classifier

CODES = [c.code for c in synthetic.PUMP]
FAST = TrainingConfig(injections=240)


@pytest.fixture(scope="module")
def trained() -> tuple[FamilyModel, pd.DataFrame]:
    history = synthetic.fleet(24, 60, windows=10, seed=4)
    model, _ = train_family("concrete_pump", history, CODES, FAST)
    return model, history


def _features(model: FamilyModel, aggregates: pd.DataFrame) -> pd.DataFrame:
    features = window_features(aggregates, model.load_model)
    return features[model.usable(features)]


def test_hosts_leave_out_suspected_machines_and_windows_over_the_alarm(
    trained: tuple[FamilyModel, pd.DataFrame],
) -> None:
    model, _ = trained
    # machine 3 wears its pump (flagged), machine 5 is merely suspected of degrading
    worn = synthetic.fleet(
        8, 60, windows=4, seed=4, noise_seed=2, faults={3: Injected("hydraulic_pump_wear", 0.9)}
    )
    features = _features(model, worn)
    machines = features.index.get_level_values("equipment_id")
    statistic = model.detector.statistic(model.z_scores(features).to_numpy())
    assert (statistic[machines == 3] > model.alarm_threshold).all()  # the premise

    hosts = injection_hosts(model, features, suspects={5})

    kept = set(hosts.index.get_level_values("equipment_id"))
    assert kept == {1, 2, 4, 6, 7, 8}
    assert len(hosts) == len(features) - 8  # machines 3 and 5, four windows each
    kept_statistic = model.detector.statistic(model.z_scores(hosts).to_numpy())
    assert (kept_statistic <= model.alarm_threshold).all()


def test_with_too_few_healthy_windows_every_window_hosts(
    trained: tuple[FamilyModel, pd.DataFrame],
) -> None:
    model, history = trained
    features = _features(model, history)
    machines = set(features.index.get_level_values("equipment_id"))

    hosts = injection_hosts(model, features, suspects=machines - {1})

    assert len(hosts) == len(features)  # machine 1's ten windows are fewer than twenty


def test_a_mode_the_detector_seldom_sees_is_injected_again_until_it_has_enough(
    trained: tuple[FamilyModel, pd.DataFrame],
) -> None:
    model, history = trained
    hosts = _features(model, history)
    # faint faults: at most 0.2 of the way to failure, many go unflagged
    faint = replace(FAST, injection_d=(0.05, 0.2), min_detected=0.5, extra_rounds=3)
    enough = int(np.ceil(0.5 * faint.injections / 8))

    _, once = train_classifier(model, history, hosts, replace(faint, extra_rounds=0), print)
    short = [m for m, n in once["detected"].items() if n < enough]
    assert short, once["detected"]  # the premise: one round leaves some mode short
    assert once["injected"] == faint.injections

    _, again = train_classifier(model, history, hosts, faint, print)

    assert again["injected"] > faint.injections
    assert again["injected"] <= 4 * faint.injections
    # the first round is the same; only the short modes are injected again
    for mode, n in once["detected"].items():
        if mode in short:
            assert again["detected"][mode] >= n
        else:
            assert again["detected"][mode] == n
    assert sum(again["detected"][m] for m in short) > sum(once["detected"][m] for m in short)
    rounds = again["injected"] // faint.injections
    for mode, n in again["detected"].items():
        assert n >= enough or rounds == 4, (mode, n)
    assert sum(again["detected"].values()) == again["trained_on"]

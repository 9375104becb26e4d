"""A family model end to end on synthetic data: detection, modes, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from models import synthetic
from models.family import FamilyModel, health_score, train_family
from models.injection import MODES, Injected
from models.mode_training import sensor_threshold
from models.modes import FailureModeClassifier, is_sensor_mode, signature_names

CODES = [c.code for c in synthetic.PUMP]


@parametrize_with_checks([FailureModeClassifier(n_estimators=10)])
def test_classifier_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


@pytest.fixture(scope="module")
def model() -> FamilyModel:
    history = synthetic.fleet(30, 60, windows=16, seed=1)
    trained, metrics = train_family("concrete_pump", history, CODES)
    assert metrics["modes"]["held_out_accuracy"] > 0.9
    return trained


FAULTS = {
    1: Injected("bearing_wear", 0.8),
    2: Injected("hydraulic_pump_wear", 0.8),
    3: Injected("cooling_fouling", 0.8),
    4: Injected("seal_hose_leak", 0.8),
    5: Injected("sensor_stuck", 1.0, "coolant_temp"),
    6: Injected("sensor_drift", 0.9, "hydraulic_oil_temp"),
    7: Injected("sensor_noisy", 0.8, "hydraulic_pressure"),
    8: Injected("sensor_dropout", 0.8, "pump_vibration"),
}


def test_each_failure_mode_is_found_and_named(model: FamilyModel) -> None:
    window = synthetic.fleet(30, 60, seed=1, noise_seed=9, faults=FAULTS)
    scores = model.score(window).droplevel("window")
    for machine, fault in FAULTS.items():
        row = scores.loc[machine]
        assert row["anomalous"], fault.mode
        assert row["mode"] == fault.mode
        assert row["sensor_fault"] == is_sensor_mode(fault.mode)
        assert row["score"] < 50
    healthy = scores.drop(index=list(FAULTS))
    assert not healthy["anomalous"].any()
    assert healthy["mode"].isna().all()
    assert healthy["score"].median() > 80


def test_a_sensor_stuck_for_the_last_fifth_of_the_window_is_named_stuck(
    model: FamilyModel,
) -> None:
    """Its noise has barely fallen and its level steps away from the load like a sudden
    leak's; its buckets repeating one reading tell it apart."""
    window = synthetic.fleet(30, 60, seed=1, noise_seed=9)
    pick = (window["equipment_id"] == 7) & (window["channel"] == "hydraulic_pressure")
    late = pick & (window["bucket"] >= window.loc[pick, "bucket"].quantile(0.8))
    window.loc[late, ["mean", "min", "max"]] = window.loc[late, "mean"].iloc[0]
    row = model.score(window).droplevel("window").loc[7]
    assert row["anomalous"]
    assert row["mode"] == "sensor_stuck"
    assert row["sensor_fault"]


def test_explanations_name_the_channels_that_moved(model: FamilyModel) -> None:
    window = synthetic.fleet(30, 60, seed=1, noise_seed=9, faults=FAULTS)
    scores = model.score(window).droplevel("window")
    shares = scores[model.channels]
    assert np.allclose(shares.sum(axis=1), 1.0)
    texts = dict(zip(scores.index, model.explain(scores), strict=True))
    assert texts[1].startswith("pump vibration ")
    assert texts[3].startswith("coolant temp ")
    assert texts[7].startswith("hydraulic pressure ")
    assert texts[1].split(",")[0].endswith(" %")


def test_health_score_scale() -> None:
    scores = health_score(np.array([0.0, 2.0, 6.0]), alarm=2.0)
    assert scores.tolist() == pytest.approx([100.0, 50.0, 10.0])


def test_signatures_cover_every_role_and_mode() -> None:
    assert len(signature_names()) == 9 * 7 + 6
    assert len(MODES) == 8


def test_a_dropout_thins_the_readings_before_whole_buckets_go() -> None:
    """An injected dropout loses readings one by one: early on every bucket remains with
    fewer readings and a narrower range, near the end whole buckets go."""

    def vibration(degradation: float | None) -> pd.DataFrame:
        faults = (
            {1: Injected("sensor_dropout", degradation, "pump_vibration")} if degradation else {}
        )
        window = synthetic.fleet(1, 600, seed=3, noise_seed=4, faults=faults)
        return window[window["channel"] == "pump_vibration"]

    healthy, early, late = vibration(None), vibration(0.3), vibration(0.99)
    assert len(early) == len(healthy)  # 60 readings a bucket: no bucket lost them all
    kept = 1 - (0.05 + 0.95 * 0.3)
    assert early["count"].sum() == pytest.approx(kept * healthy["count"].sum(), rel=0.05)
    assert (early["max"] - early["min"]).mean() < (healthy["max"] - healthy["min"]).mean()
    assert len(late) < 0.6 * len(healthy)  # a bucket survives with 1 - (1 - 0.0095)^60


def test_a_stuck_sensor_repeats_what_it_read_from_the_moment_it_stuck() -> None:
    """Stuck injections begin anywhere, often inside the window: before that moment the
    channel is as it was, from it on every bucket repeats one reading."""
    healthy = synthetic.fleet(12, 60, seed=3, noise_seed=4)
    faults = {m: Injected("sensor_stuck", 1.0, "coolant_temp") for m in range(12)}
    stuck = synthetic.fleet(12, 60, seed=3, noise_seed=4, faults=faults)
    starts = []
    for m in range(12):
        pick = (stuck["equipment_id"] == m) & (stuck["channel"] == "coolant_temp")
        after = stuck[pick].sort_values("bucket")
        before = healthy[pick.to_numpy()].sort_values("bucket")
        changed = ~np.isclose(after["min"].to_numpy(), before["min"].to_numpy())
        first = int(np.argmax(changed)) if changed.any() else len(after)
        starts.append(first)
        assert (after["max"].to_numpy()[first:] == after["min"].to_numpy()[first:]).all()
        assert after["mean"].iloc[first:].nunique() <= 1
    assert min(starts) == 0 < max(starts) < 60


def test_injected_aggregates_keep_their_column_types() -> None:
    faults = {
        1: Injected("sensor_dropout", 0.5, "pump_vibration"),
        2: Injected("bearing_wear", 0.5),
    }
    window = synthetic.fleet(3, 60, seed=3, faults=faults)
    assert window.dtypes.equals(synthetic.fleet(3, 60, seed=3).dtypes)


def test_the_sensor_threshold_weighs_a_technician_sent_for_nothing() -> None:
    """Held-out P(sensor): sensor faults at 0.35-0.9, machine faults at 0.1-0.45. With
    both errors weighing the same, 0.35 (every sensor fault found, one machine fault in
    four read as a sensor) ties with 0.5 (every machine fault kept, one sensor fault in
    four read as the machine) and the even split wins; when a sensor fault read as the
    machine weighs twice, 0.35 does."""
    p = np.array([0.35, 0.6, 0.7, 0.9, 0.1, 0.2, 0.3, 0.45])
    sensor = np.array([True] * 4 + [False] * 4)
    assert sensor_threshold(p, sensor) == 0.5
    assert sensor_threshold(p, sensor, sensor_weight=2.0) == 0.35
    assert sensor_threshold(p[~sensor], sensor[~sensor]) == 0.5  # one kind only: the default

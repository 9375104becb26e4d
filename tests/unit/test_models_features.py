"""Window features: load conditioning, the signature of each fault, vectorisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import synthetic
from models.errors import NotEnoughDataError
from models.features import LoadModel, arrange, window_features
from models.injection import Injected

CODES = [c.code for c in synthetic.PUMP] + ["operating_hours", "gps_lat"]


@pytest.fixture(scope="module")
def load_model() -> LoadModel:
    history = synthetic.fleet(30, 60, windows=8, seed=3)
    model = LoadModel.for_channels(CODES)
    return model.fit(arrange(history, model.channels))


def features_of(load_model: LoadModel, faults: dict[int, Injected]) -> pd.DataFrame:
    window = synthetic.fleet(30, 60, seed=3, noise_seed=5, faults=faults)
    return window_features(window, load_model).droplevel("window")


def test_counters_and_positions_are_not_health_channels(load_model: LoadModel) -> None:
    assert "operating_hours" not in load_model.channels
    assert "gps_lat" not in load_model.channels
    assert load_model.load == "engine_load"


def test_the_load_explains_healthy_readings(load_model: LoadModel) -> None:
    healthy = features_of(load_model, {})
    # temperatures follow the load with a lag: the conditioned level stays small
    coolant = healthy["coolant_temp:level"].abs()
    assert coolant.median() < 1.0  # degrees C, on a 12 C idle-to-full swing
    assert healthy["pump_vibration:coverage"].eq(1.0).all()


def test_each_fault_has_its_signature(load_model: LoadModel) -> None:
    faults = {
        1: Injected("cooling_fouling", 0.8),
        2: Injected("sensor_drift", 0.8, "coolant_temp"),
        3: Injected("sensor_stuck", 1.0, "coolant_temp"),
        4: Injected("sensor_noisy", 0.8, "hydraulic_pressure"),
        5: Injected("sensor_dropout", 0.8, "pump_vibration"),
        6: Injected("bearing_wear", 0.8),
    }
    f = features_of(load_model, faults)
    healthy = f.drop(index=list(faults))
    # fouling heats more under load; a drifting sensor is off by the same at any load
    assert f.loc[1, "coolant_temp:level"] > 5
    assert f.loc[1, "coolant_temp:load_corr"] > 0.7
    assert abs(f.loc[2, "coolant_temp:level"]) > 2
    assert abs(f.loc[2, "coolant_temp:load_corr"]) < 0.5
    # a stuck sensor has no within-bucket range and no longer follows the load
    assert f.loc[3, "coolant_temp:noise"] < healthy["coolant_temp:noise"].min() - 5
    assert f.loc[4, "hydraulic_pressure:noise"] > healthy["hydraulic_pressure:noise"].max() + 1
    assert f.loc[5, "pump_vibration:coverage"] < 0.6
    assert f.loc[6, "pump_vibration:level"] > healthy["pump_vibration:level"].max() + 1


def test_features_are_the_same_for_a_machine_alone_or_in_a_fleet(load_model: LoadModel) -> None:
    window = synthetic.fleet(
        30, 60, seed=3, noise_seed=5, faults={7: Injected("bearing_wear", 0.7)}
    )
    fleet = window_features(window, load_model)
    alone = window_features(window[window["equipment_id"] == 7], load_model)
    assert alone.to_numpy() == pytest.approx(fleet.loc[[(7, 0)]].to_numpy())


def test_missing_columns_and_channels_are_reported(load_model: LoadModel) -> None:
    window = synthetic.fleet(2, 10, seed=3)
    with pytest.raises(ValueError, match="lack columns"):
        window_features(window.drop(columns=["t_h"]), load_model)
    with pytest.raises(NotEnoughDataError, match="no readings"):
        window_features(window[window["channel"] == "nothing"], load_model)
    assert np.isfinite(window_features(window, load_model).to_numpy()).all()


def test_coverage_counts_the_readings_a_sensor_lost(load_model: LoadModel) -> None:
    """A sensor that loses half its readings shows it while every bucket still holds one;
    a machine that sends fewer readings on every channel at once lost nothing."""
    window = synthetic.fleet(30, 60, seed=3, noise_seed=5)
    machine, channel = window["equipment_id"], window["channel"]
    lossy = (machine == 5) & (channel == "pump_vibration")
    window.loc[lossy, "count"] = window.loc[lossy, "count"] // 2
    window.loc[machine == 6, "count"] = window.loc[machine == 6, "count"] // 3
    f = window_features(window, load_model).droplevel("window")
    assert f.loc[5, "pump_vibration:coverage"] == pytest.approx(0.5)
    assert f.loc[5, "coolant_temp:coverage"] == pytest.approx(1.0)
    assert f.loc[6].filter(like=":coverage").eq(1.0).all()


def test_load_share_tells_a_drifting_sensor_from_a_fault_that_grows_with_the_load(
    load_model: LoadModel,
) -> None:
    """A worn pump loses pressure in proportion to the load (all of its deviation follows
    the load); a drifting pressure sensor is off by the same amount at every load."""
    faults = {
        1: Injected("hydraulic_pump_wear", 0.8),
        2: Injected("sensor_drift", 0.8, "hydraulic_pressure"),
    }
    f = features_of(load_model, faults)
    assert f.loc[1, "hydraulic_pressure:load_share"] > 0.6
    assert abs(f.loc[2, "hydraulic_pressure:load_share"]) < 0.3
    assert f["engine_load:load_share"].eq(0.0).all()
    assert (f["load_spread"] > 0).all()


def test_flat_is_the_share_of_buckets_a_stuck_sensor_repeated_itself(
    load_model: LoadModel,
) -> None:
    window = synthetic.fleet(30, 60, seed=3, noise_seed=5)
    stuck = (window["equipment_id"] == 4) & (window["channel"] == "coolant_temp")
    late = stuck & (window["bucket"] >= window.loc[stuck, "bucket"].median())
    frozen = window.loc[late, "mean"].iloc[0]
    window.loc[late, ["mean", "min", "max"]] = frozen
    f = window_features(window, load_model).droplevel("window")
    assert f.loc[4, "coolant_temp:flat"] == pytest.approx(late.sum() / stuck.sum())
    assert f.drop(index=4)["coolant_temp:flat"].eq(0.0).all()
    assert f.loc[4, "hydraulic_pressure:flat"] == 0.0

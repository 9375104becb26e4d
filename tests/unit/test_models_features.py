"""Window features: load conditioning, the signature of each fault, vectorisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import synthetic
from models.errors import NotEnoughDataError
from models.features import LoadModel, arrange, expected_range, window_features
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


def test_expected_range_is_the_normal_range_in_standard_deviations() -> None:
    """Known values: 2 / sqrt(pi) for two readings, the tables' 2.326 for five and 3.078
    for ten, a simulated 4.64 for sixty; none for fewer than two or an unknown count."""
    d2 = expected_range(np.array([[0, 1, 2], [5, 10, 60]], dtype=np.float64))
    assert d2.shape == (2, 3)
    assert d2[0, :2].tolist() == [0.0, 0.0]
    assert d2[0, 2] == pytest.approx(2 / np.sqrt(np.pi), rel=1e-6)
    assert d2[1, :2] == pytest.approx([2.326, 3.078], abs=1e-3)
    samples = np.random.default_rng(0).normal(size=(100_000, 60))
    assert d2[1, 2] == pytest.approx((samples.max(axis=1) - samples.min(axis=1)).mean(), rel=3e-3)
    assert expected_range(np.array([np.nan]))[0] == 0.0


def sampled(interval_s: int, sd: dict[str, float], minutes: int = 240) -> pd.DataFrame:
    """Raw readings of one machine every ``interval_s`` seconds (its load steps once a
    minute; each channel follows it, plus normal noise of ``sd``), aggregated into
    one-minute buckets and one-hour windows as models/store.py does."""
    rng = np.random.default_rng(interval_s)
    channels = {c.code: c for c in synthetic.PUMP}
    times = np.arange(0, minutes * 60, interval_s)
    minute = times // 60
    load = rng.uniform(0.3, 0.9, minutes)[minute]
    frames = []
    for code, noise in sd.items():
        ch = channels[code]
        value = ch.idle + (ch.full - ch.idle) * load + rng.normal(0.0, noise, times.size)
        frames.append(pd.DataFrame({"channel": code, "minute": minute, "value": value}))
    raw = pd.concat(frames)
    out = (
        raw.groupby(["channel", "minute"])["value"]
        .agg(["mean", "min", "max", "count"])
        .reset_index()
    )
    out["equipment_id"] = 1
    out["window"] = out["minute"] // 60
    out["bucket"] = pd.Timestamp("2026-11-30T00:00:00Z") + pd.to_timedelta(out["minute"], "min")
    out["t_h"] = (out["minute"] % 60) / 60.0
    return out.drop(columns="minute")


def test_noise_is_the_sensors_deviation_whatever_the_sampling_rate() -> None:
    """The same sensors read every 1, 5 or 10 seconds (60, 12 or 6 readings a bucket):
    ``noise`` is the log of their standard deviation each time (within 0.15: four hourly
    windows of 60 buckets; the raw mean range, as before, was 0.93 to 1.53 above it). Once a minute (a bucket of
    one reading) a sensor's spread cannot be seen: NaN, not a sensor gone quiet."""
    sd = {"engine_load": 1.5, "oil_pressure": 0.06, "pump_vibration": 0.12}
    model = LoadModel.for_channels(list(sd))
    model = model.fit(arrange(sampled(5, sd), model.channels))
    for interval in (1, 5, 10):
        f = window_features(sampled(interval, sd), model)
        for code, deviation in sd.items():
            assert f[f"{code}:noise"].to_numpy() == pytest.approx(np.log(deviation), abs=0.15)
    slow = window_features(sampled(60, sd), model)
    assert slow.filter(like=":noise").isna().all().all()
    assert slow.filter(like=":level").notna().all().all()

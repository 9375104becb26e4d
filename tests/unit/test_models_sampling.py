"""A family model trained on history sampled at one rate scores telemetry sampled at
another: the noise feature is each sensor's standard deviation, not a bucket's range
(which grows with the readings in it), and history of one reading a bucket, which
cannot show it, trains a model that leaves it out and says so."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models import synthetic
from models.errors import SamplingMismatchError
from models.family import FamilyModel, TrainingConfig, train_family
from models.features import window_features
from models.injection import Injected

CODES = [c.code for c in synthetic.PUMP]
FAST = TrainingConfig(injections=200)
NOISE = [f"{c}:noise" for c in CODES]


def trained(samples_per_bucket: int) -> tuple[FamilyModel, dict[str, object]]:
    """16 hourly windows of 30 pumps, each one-minute bucket of ``samples_per_bucket``."""
    history = synthetic.fleet(30, 60, windows=16, seed=1, samples_per_bucket=samples_per_bucket)
    return train_family("concrete_pump", history, CODES, config=FAST)


def live(faults: dict[int, Injected] | None = None, samples_per_bucket: int = 60) -> pd.DataFrame:
    """Four more hours of the same pumps, read every second (60 readings a bucket)."""
    return synthetic.fleet(
        30,
        60,
        windows=4,
        seed=1,
        noise_seed=9,
        faults=faults,
        samples_per_bucket=samples_per_bucket,
    )


def anomalous(model: FamilyModel, window: pd.DataFrame) -> set[int]:
    scores = model.score(window)
    flagged = scores[scores["anomalous"]]
    return {int(m) for m in flagged.index.get_level_values("equipment_id")}


def test_a_model_trained_every_second_and_a_half_reads_one_second_telemetry() -> None:
    """40 readings a bucket in training, 60 live (within the tolerance): no healthy
    machine is flagged, and a sensor that turned noisy still is, as a sensor."""
    model, metrics = trained(40)
    assert metrics["unlearned_features"] == []
    assert metrics["readings_per_bucket"] == 40.0
    assert anomalous(model, live()) == set()
    noisy = live({3: Injected("sensor_noisy", 0.6, "pump_vibration")})
    assert anomalous(model, noisy) == {3}
    scores = model.score(noisy).xs(3, level="equipment_id")
    assert scores["sensor_fault"].all()
    leading = np.asarray(CODES)[scores[CODES].to_numpy().argmax(axis=1)]
    assert (leading == "pump_vibration").all()


def test_history_of_one_reading_a_bucket_trains_a_model_without_the_noise_feature() -> None:
    """Once a minute (a backfill at 60 s): no bucket shows a sensor's spread. The model
    learns every other feature, lists the noise ones as not learned and holds their
    z-scores at 0; on telemetry sampled as sparsely it flags healthy machines no more often
    than in training, and still finds a drifting sensor."""
    model, metrics = trained(1)
    assert metrics["unlearned_features"] == NOISE
    assert metrics["readings_per_bucket"] == 1.0
    assert model.unlearned == tuple(NOISE)
    # a short history of single readings sets a noisy threshold: a few healthy windows
    # cross it (its held-out rate was 0.8 %), as many as in training, not every machine
    healthy = live(samples_per_bucket=1)
    scores = model.score(healthy)
    assert len(scores) == 120
    assert scores["anomalous"].sum() <= 3
    drifting = live({5: Injected("sensor_drift", 1.0, "coolant_temp")}, 1)
    assert anomalous(model, drifting) - anomalous(model, healthy) == {5}
    assert model.score(drifting).xs(5, level="equipment_id")["anomalous"].all()
    features = window_features(live(), model.load_model)
    assert features[NOISE].notna().all().all()
    assert (model.z_scores(features)[NOISE] == 0.0).all().all()


@pytest.mark.parametrize("history", [1, 12])
def test_telemetry_sampled_far_faster_than_the_history_is_refused(history: int) -> None:
    """The bucket means of 60 readings are smoother than those of 12 and far smoother
    than single readings, which a tight model reads as faults in every machine: it
    refuses, saying why."""
    model, _ = trained(history)
    with pytest.raises(
        SamplingMismatchError, match=f"60 readings a bucket, the model learned from {history}:"
    ):
        model.score(live())


def test_a_machine_sampled_far_from_the_history_is_left_out_not_scored() -> None:
    """One gateway sends a reading a minute while the family sends one a second: that
    machine's bucket means are far noisier than the model knows (it would be flagged);
    it is left out and named, and the others are scored."""
    model, _ = trained(60)
    fleet = live()
    sparse = live(samples_per_bucket=1)
    mixed = pd.concat([fleet[fleet["equipment_id"] != 4], sparse[sparse["equipment_id"] == 4]])
    scores, missampled = model.score_sampled(mixed)
    assert missampled == {4: 1.0}
    machines = set(scores.index.get_level_values("equipment_id"))
    assert machines == set(range(1, 31)) - {4}
    assert not scores["anomalous"].any()
    # scored as its neighbours are, it would have been a false alarm
    unguarded = replace(model, readings_per_bucket=None)
    assert 4 in anomalous(unguarded, mixed)

"""models.replay: the scoring job over a period, window by window, as the live job sees it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from models import synthetic
from models.family import FamilyModel, train_family
from models.health import FAILURE_MULTIPLE, rul_hours
from models.injection import Injected
from models.replay import ReplaySettings, replay, replay_rul, sliding_windows

CODES = [c.code for c in synthetic.PUMP]
START = pd.Timestamp("2026-11-02T00:00:00Z")
END = START + pd.Timedelta(hours=3)
SETTINGS = ReplaySettings(window_s=3600, step_s=1200)


@pytest.fixture(scope="module")
def model() -> FamilyModel:
    history = synthetic.fleet(20, 60, windows=12, seed=2)
    trained, _ = train_family("concrete_pump", history, CODES)
    return trained


@pytest.fixture(scope="module")
def period() -> pd.DataFrame:
    """Three hours of 20 machines, one with a bearing fault."""
    return synthetic.fleet(
        20,
        60,
        windows=3,
        seed=2,
        noise_seed=4,
        faults={5: Injected("bearing_wear", 0.8)},
        start=START,
    )


def test_every_bucket_is_in_each_window_that_covers_it(period: pd.DataFrame) -> None:
    windows = sliding_windows(period, START.to_pydatetime(), END.to_pydatetime(), SETTINGS)
    # windows end at 1:00, 1:20, ..., 3:00: seven of them
    assert sorted(windows["window"].unique()) == list(range(3, 10))
    one = windows[(windows["equipment_id"] == 1) & (windows["channel"] == "coolant_temp")]
    assert one.groupby("window").size().eq(60).all()  # a full hour of minute buckets each
    # the bucket at 1:30 is 10 minutes into the window ending at 2:20 (started 1:20)
    at = one[one["bucket"] == START + pd.Timedelta(minutes=90)]
    assert dict(zip(at["window"], at["t_h"], strict=True)) == {
        5: pytest.approx(50 / 60),
        6: pytest.approx(30 / 60),
        7: pytest.approx(10 / 60),
    }


def test_a_replayed_window_scores_as_the_live_job_would(
    model: FamilyModel, period: pd.DataFrame
) -> None:
    health = replay(model, period, START.to_pydatetime(), END.to_pydatetime(), SETTINGS)
    assert set(health["time"]) == {START + pd.Timedelta(minutes=20 * k) for k in range(3, 10)}
    # the live job at 2:00 reads 1:00 .. 2:00 as its one window (the synthetic fleet's
    # hours are drawn one by one: a window across two of them sees a jump)
    end = START + pd.Timedelta(minutes=120)
    live = period[(period["bucket"] >= end - pd.Timedelta(hours=1)) & (period["bucket"] < end)]
    live = live.assign(
        window=0, t_h=(live["bucket"] - (end - pd.Timedelta(hours=1))).dt.total_seconds() / 3600
    )
    scores = model.score(live).droplevel("window")
    replayed = health[health["time"] == end].set_index("equipment_id")
    assert replayed["statistic"].to_numpy() == pytest.approx(
        scores.loc[replayed.index, "statistic"].to_numpy()
    )
    assert replayed.loc[5, "anomalous"]
    assert replayed.loc[5, "mode"] == "bearing_wear"
    assert not replayed.drop(index=5)["anomalous"].any()
    assert replayed.loc[5, "ratio"] == pytest.approx(
        replayed.loc[5, "statistic"] / model.alarm_threshold
    )


def test_rul_of_a_replayed_window_is_the_live_jobs() -> None:
    hours = np.arange(10)
    times = pd.to_datetime(
        [START + timedelta(hours=int(h), minutes=m) for h in hours for m in (20, 40)], utc=True
    )
    statistic = np.repeat(1.0 + 0.5 * hours, 2)  # rising half an alarm level per hour
    health = pd.DataFrame(
        {
            "equipment_id": 7,
            "time": times,
            "statistic": statistic,
            "anomalous": statistic > 2.0,
        }
    )
    rul = replay_rul(health, limit=FAILURE_MULTIPLE * 2.0, history_h=72, horizon_h=720)
    last = len(health) - 1
    # the live job: the hours before now (complete ones), then now
    now = times[last]
    past = health[health["time"] < now.floor("h")]
    history = (
        past.assign(hour=past["time"].dt.floor("h").astype("int64") / 1e9)
        .groupby(["equipment_id", "hour"], as_index=False)["statistic"]
        .mean()
    )
    expected = rul_hours(
        np.array([7]),
        np.array([statistic[last]]),
        history,
        now_epoch=now.timestamp(),
        limit=FAILURE_MULTIPLE * 2.0,
        horizon_h=720,
    )
    assert rul.iloc[last].to_numpy() == pytest.approx(np.concatenate(expected))
    assert rul["rul_hours"].iloc[last] < 5  # 5 at the limit of 6, rising 0.5 per hour
    assert rul["rul_hours"][~health["anomalous"]].isna().all()

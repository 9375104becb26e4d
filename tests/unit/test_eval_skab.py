"""SKAB: any directory in its format, the protocol, and the figures on the shipped runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import evaluation, skab, skab_methods
from models.errors import DataError, DataNotFoundError
from models.metrics import Confusion

SHARED = Path(__file__).parents[2].parent / "shared" / "data"


def write_run(path: Path, rows: int, anomaly: tuple[int, int] | None, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "datetime": pd.date_range("2020-03-09 10:00:00", periods=rows, freq="s"),
            "Flow": rng.normal(32, 0.5, rows),
            "Current": rng.normal(1.2, 0.05, rows),
        }
    )
    if anomaly is not None:
        start, end = anomaly
        label = np.zeros(rows)
        label[start:end] = 1
        frame.loc[start : end - 1, "Flow"] -= 6.0  # the valve closes
        frame["anomaly"] = label
        frame["changepoint"] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False)


@pytest.fixture
def skab_dir(tmp_path: Path) -> Path:
    for i in range(3):
        write_run(tmp_path / "valve9" / f"{i}.csv", 900, (550, 750), seed=i)
    write_run(tmp_path / "anomaly-free" / "anomaly-free.csv", 2000, None, seed=10)
    return tmp_path


def test_any_skab_format_directory_is_read(skab_dir: Path) -> None:
    data = skab.load(skab_dir)
    assert [run.name for run in data.runs] == ["valve9/0", "valve9/1", "valve9/2"]
    assert len(data.anomaly_free) == 1
    assert data.channels == ["Flow", "Current"]
    assert data.runs[0].anomaly is not None
    assert data.runs[0].anomaly.sum() == 200


def test_a_missing_directory_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError, match=str(missing)):
        skab.load(missing)


def test_a_directory_without_labelled_runs_is_refused(tmp_path: Path) -> None:
    write_run(tmp_path / "free.csv", 500, None, seed=1)
    with pytest.raises(DataError, match="no labelled runs"):
        skab.load(tmp_path)


def test_the_protocol_trains_on_400_rows_and_sums_the_counts(skab_dir: Path) -> None:
    data = skab.load(skab_dir)
    seen: list[tuple[int, int]] = []

    def alarm_from_row_600(channels: pd.DataFrame, train_rows: int) -> np.ndarray:
        seen.append((len(channels), train_rows))
        out = np.zeros(len(channels) - train_rows, dtype=np.int64)
        out[600 - train_rows :] = 1
        return out

    total, per_run = skab.evaluate(data.runs, alarm_from_row_600)
    assert seen == [(900, 400)] * 3
    # per run: test rows 400..899; anomaly 550..749; alarms 600..899
    one = Confusion(tp=150, fn=50, fp=150, tn=150)
    assert per_run["valve9/0"] == one
    assert total == Confusion(tp=450, fn=150, fp=450, tn=450)


def test_the_detector_finds_the_closed_valve(skab_dir: Path) -> None:
    report = evaluation.evaluate_skab(skab_dir)
    assert {"f1", "far", "mar"} <= report.keys()
    assert report["mar"] < 5  # a 12-sigma drop in flow is found as it starts
    # a 10 % false-alarm budget, plus the rows just after the valve reopens
    assert report["far"] < 30
    assert report["f1"] > 0.8
    text = evaluation.table(report)
    assert "Conv-AE" in text
    assert "Hotelling T-squared (as SKAB runs it, measured here)" in text


def test_hotelling_reproduces_skabs_published_valve1_row() -> None:
    data = skab.load(SHARED / "skab")
    counts, _ = skab.evaluate(data.runs, skab_methods.hotelling_as_skab)
    assert (round(counts.f1, 2), round(counts.far, 2), round(counts.mar, 2)) == (
        0.65,
        19.94,
        44.05,
    )


def test_selection_uses_no_test_rows(skab_dir: Path) -> None:
    data = skab.load(skab_dir)
    # poison every test part: the selected method must not change
    poisoned = skab.SkabData(
        runs=[
            skab.Run(
                run.name,
                pd.concat(
                    [run.channels.iloc[:400], run.channels.iloc[400:] * 1000.0 + 7.0]
                ).reset_index(drop=True),
                run.anomaly,
            )
            for run in data.runs
        ],
        anomaly_free=data.anomaly_free,
        channels=data.channels,
    )
    candidates = skab_methods.CANDIDATES[:3]
    assert skab_methods.select(data, candidates)[0] == skab_methods.select(poisoned, candidates)[0]


def test_hysteresis_holds_an_alarm_until_the_statistic_falls_under_the_release_level() -> None:

    statistic = np.array([0.5, 2.5, 1.6, 1.2, 2.1, 1.5, 0.5, 3.0])
    plain = skab_methods.DriftAwareMethod(threshold=2.0)
    held = skab_methods.DriftAwareMethod(threshold=2.0, release=0.7)  # off under 1.4
    assert plain.alarms(statistic).tolist() == [0, 1, 0, 0, 1, 0, 0, 1]
    assert held.alarms(statistic).tolist() == [0, 1, 1, 0, 1, 1, 0, 1]

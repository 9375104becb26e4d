"""SKAB: any directory in its format, the protocol, and the figures on the shipped runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import evaluation, skab, skab_crossval, skab_methods
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
    # settings from the other runs' labels: the 12-sigma drop in flow is found as it starts
    assert report["folds"] == 3
    assert report["mar"] < 5
    assert report["far"] < 15
    assert report["f1"] > 0.9
    alone = report["healthy_only"]
    assert alone["mar"] < 5
    # a 10 % false-alarm budget, plus the rows just after the valve reopens
    assert alone["far"] < 30
    assert alone["f1"] > 0.8
    text = evaluation.table(report)
    assert "Conv-AE" in text
    assert "Hotelling T-squared (as SKAB runs it, measured here)" in text
    assert "settings from the other runs' labels" in text
    assert "settings from healthy training data only" in text


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


def test_alarms_at_several_thresholds_are_the_alarms_at_each() -> None:
    statistic = np.random.default_rng(3).gamma(2.0, 1.0, size=400)
    thresholds = np.array([0.5, 1.5, 2.5, 4.0, 9.0])
    for release in (1.0, 0.7, 0.5):
        method = skab_methods.DriftAwareMethod(release=release)
        grid = method.alarms_at(statistic, thresholds)
        for row, threshold in zip(grid, thresholds, strict=True):
            assert row.tolist() == method.alarms(statistic, threshold).tolist()


def test_a_method_can_watch_some_channels_only(skab_dir: Path) -> None:
    run = skab.load(skab_dir).runs[0]
    flow = skab_methods.DriftAwareMethod(window=5, spread_window=None, channels=("Flow",))
    alone = skab_methods.DriftAwareMethod(window=5, spread_window=None)
    expected = alone.statistic(run.channels[["Flow"]], 400)
    assert np.array_equal(flow.statistic(run.channels, 400), expected)
    assert flow.describe().startswith("Flow only, window 5")


def noisy_valve_runs(directory: Path, n: int) -> None:
    """Runs whose valve closes gently (flow -1.5 sd) while the current, healthy, wanders
    off after the training rows: only a detector that watches the flow finds the fault."""
    for i in range(n):
        rng = np.random.default_rng(100 + i)
        rows = 1000
        label = np.zeros(rows)
        label[600:800] = 1
        flow = rng.normal(32.0, 0.5, rows)
        flow[600:800] -= 0.75
        current = rng.normal(1.2, 0.05, rows)
        current[400:] += np.cumsum(rng.normal(0.0, 0.02, rows - 400))
        frame = pd.DataFrame(
            {
                "datetime": pd.date_range("2020-03-09 10:00:00", periods=rows, freq="s"),
                "Flow": flow,
                "Current": current,
                "anomaly": label,
                "changepoint": 0.0,
            }
        )
        directory.mkdir(parents=True, exist_ok=True)
        frame.to_csv(directory / f"{i}.csv", sep=";", index=False)


def test_cross_validation_watches_the_channel_the_other_runs_show_the_fault_in(
    tmp_path: Path,
) -> None:
    noisy_valve_runs(tmp_path / "valve9", 4)
    runs = skab.load(tmp_path).runs
    result = skab_crossval.cross_validate(runs)
    assert [fold.runs for fold in result.folds] == [[run.name] for run in runs]
    assert all(fold.method.channels == ("Flow",) for fold in result.folds)
    assert all(fold.development.far <= 10.0 for fold in result.folds)
    every_channel = skab_methods.DriftAwareMethod(window=20, spread_window=None, threshold=4.0)
    blind, _ = skab.evaluate(runs, every_channel)
    assert result.total.f1 > 0.8
    assert result.total.f1 > blind.f1 + 0.2
    # each held-out run is scored by the protocol itself, with the setting chosen
    assert result.total == sum(result.per_run.values(), Confusion())


def test_a_runs_own_test_part_does_not_choose_the_setting_that_scores_it(
    tmp_path: Path,
) -> None:
    noisy_valve_runs(tmp_path / "valve9", 4)
    runs = skab.load(tmp_path).runs
    methods = skab_crossval.candidates(["Flow", "Current"])[::5]
    clean = skab_crossval.cross_validate(runs, 2, methods=methods)
    # poison the first fold's test parts: values and labels
    poisoned = [
        skab.Run(
            run.name,
            pd.concat([run.channels.iloc[:400], run.channels.iloc[400:] * 50.0 - 3.0]).reset_index(
                drop=True
            ),
            1 - run.anomaly if run.anomaly is not None else None,
        )
        if k < 2
        else run
        for k, run in enumerate(runs)
    ]
    dirty = skab_crossval.cross_validate(poisoned, 2, methods=methods)
    assert dirty.folds[0].method == clean.folds[0].method  # chosen on runs 2 and 3 only
    assert dirty.folds[0].development == clean.folds[0].development


def test_folds_are_consecutive_groups_of_runs() -> None:
    assert skab_crossval.fold_of_runs(5, 2).tolist() == [0, 0, 0, 1, 1]
    assert skab_crossval.fold_of_runs(3, 3).tolist() == [0, 1, 2]
    with pytest.raises(DataError, match="2 to 3 folds"):
        skab_crossval.fold_of_runs(3, 4)
    with pytest.raises(DataError, match="2 to 3 folds"):
        skab_crossval.fold_of_runs(3, 1)


def test_the_best_setting_keeps_within_the_false_alarm_budget() -> None:
    # (methods, thresholds, tp/fp/fn/tn): the highest F1 alarms on 20 % of normal rows
    pooled = np.array(
        [
            [[90, 20, 10, 80], [70, 5, 30, 95]],
            [[60, 0, 40, 100], [70, 5, 30, 95]],
        ]
    )
    assert skab_crossval.best_setting(pooled, 0.10) == (0, 1)  # first of the tie
    assert skab_crossval.best_setting(pooled, 0.25) == (0, 0)

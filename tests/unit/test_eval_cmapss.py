"""C-MAPSS: any directory in its format (one or six operating conditions), and the RUL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import cmapss, evaluation
from models.errors import DataError, DataNotFoundError

CONDITIONS = np.array(
    [[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100], [42, 0.84, 100]]
)


def engines(units: int, seed: int, *, six: bool, truncate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows in C-MAPSS' 26 columns; sensors = condition offset + wear + noise."""
    design = np.random.default_rng(0)  # the same engine type in training and test
    offsets = design.normal(0, 50, (6, 21))
    sensitivity = design.normal(0, 3, 21)
    noise = np.full(21, 0.5)
    # two sensors set by the flight condition alone (as s1 and s5 are in C-MAPSS)
    sensitivity[[0, 4]] = 0.0
    noise[[0, 4]] = 0.0
    rng = np.random.default_rng(seed)
    rows, remaining = [], []
    for unit in range(1, units + 1):
        life = int(rng.integers(130, 230))
        end = int(rng.integers(40, life - 5)) if truncate else life
        cycles = np.arange(1, end + 1)
        which = rng.integers(0, 6, end) if six else np.zeros(end, dtype=int)
        settings = CONDITIONS[which] + rng.normal(0, 0.002, (end, 3))
        wear = np.exp(3 * cycles / life) - 1  # slow, then fast
        sensors = (
            500 + offsets[which] + wear[:, None] * sensitivity + rng.normal(0, 1, (end, 21)) * noise
        )
        rows.append(np.column_stack([np.full(end, unit), cycles, settings, sensors]))
        remaining.append(life - end)
    return np.vstack(rows), np.array(remaining, dtype=float)


def write_subset(directory: Path, name: str, *, six: bool) -> None:
    train, _ = engines(60, 1, six=six, truncate=False)
    test, truth = engines(40, 2, six=six, truncate=True)
    directory.mkdir(parents=True, exist_ok=True)
    fmt = ["%d", "%d"] + ["%.4f"] * 24
    np.savetxt(directory / f"train_{name}.txt", train, fmt=fmt)
    np.savetxt(directory / f"test_{name}.txt", test, fmt=fmt)
    np.savetxt(directory / f"RUL_{name}.txt", truth, fmt="%d")


@pytest.fixture
def six_condition_dir(tmp_path: Path) -> Path:
    write_subset(tmp_path, "FD002", six=True)
    return tmp_path


def test_subsets_are_found_by_their_files(six_condition_dir: Path) -> None:
    write_subset(six_condition_dir, "FD003", six=False)
    assert cmapss.available(six_condition_dir) == ["FD002", "FD003"]
    data = cmapss.load_subset(six_condition_dir, "fd002")
    assert data.name == "FD002"
    assert list(data.train.columns[:5]) == ["unit", "cycle", "setting1", "setting2", "setting3"]
    assert data.true_rul.shape == (40,)


def test_missing_data_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "nowhere")):
        cmapss.available(tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match="FD004 not found"):
        cmapss.load_subset(tmp_path, "FD004")


def test_a_truth_file_of_the_wrong_length_is_refused(six_condition_dir: Path) -> None:
    np.savetxt(six_condition_dir / "RUL_FD002.txt", np.arange(3))
    with pytest.raises(DataError, match="3 values for 40 test units"):
        cmapss.load_subset(six_condition_dir, "FD002")


def test_six_conditions_are_normalised_and_the_rul_is_learned(six_condition_dir: Path) -> None:
    data = cmapss.load_subset(six_condition_dir, "FD002")
    quick = cmapss.Candidate(0.1, 80, 15, 40).regressor()
    pipeline = cmapss.RULPipeline(regressor=quick).fit(data.train)
    assert pipeline.regimes_ is not None
    assert pipeline.regimes_.n_regimes_ == 6
    assert "s1" not in pipeline.sensors_  # constant in every condition
    assert "s5" not in pipeline.sensors_
    point, lower, upper = pipeline.predict_last(data.test)
    truth = np.minimum(data.true_rul, 125)
    error = np.sqrt(np.mean((point - truth) ** 2))
    assert error < 6
    assert (lower <= point).all()
    assert (point <= upper).all()
    # one regime for everything: the condition offsets swamp the wear
    blind = cmapss.RULPipeline(regressor=quick, regime_tolerance=1e6).fit(data.train)
    assert blind.regimes_ is not None
    assert blind.regimes_.n_regimes_ == 1
    blind_error = np.sqrt(np.mean((blind.predict_last(data.test)[0] - truth) ** 2))
    assert blind_error > 1.5 * error


def test_the_report_has_the_benchmark_keys(
    six_condition_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cmapss, "DEFAULT", cmapss.Candidate(0.1, 60, 15, 40))  # fast
    report = evaluation.evaluate_cmapss(six_condition_dir, "all")
    (one,) = report["subsets"]
    assert one["subset"] == "FD002"
    assert {"rmse", "phm08"} <= one.keys()
    assert "C-MAPSS FD002" in evaluation.table(report)

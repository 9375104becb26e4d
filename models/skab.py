"""SKAB (Skoltech Anomaly Benchmark) data: any directory in its format, and its protocol.

A SKAB-format directory holds ``;``-separated CSV files (searched recursively) with a
``datetime`` column and numeric channels. Files with an ``anomaly`` column (0/1 per row;
``changepoint`` is optional) are labelled runs; files without one are anomaly-free
recordings. The outlier-detection protocol: each run on its own, the first 400 rows
train the detector, which predicts 0/1 for every later row; counts are summed over all
runs (models/metrics.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.errors import DataError, DataNotFoundError
from models.metrics import Confusion, confusion

TRAIN_ROWS = 400
LABELS = ("anomaly", "changepoint")


@dataclass(frozen=True)
class Run:
    """One recording: its channels in time order and, for labelled runs, the truth."""

    name: str
    channels: pd.DataFrame
    anomaly: NDArray[np.int64] | None = None

    @property
    def labelled(self) -> bool:
        return self.anomaly is not None


@dataclass(frozen=True)
class SkabData:
    runs: list[Run]
    anomaly_free: list[Run]
    channels: list[str]


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def read_run(path: Path, root: Path) -> Run:
    try:
        frame = pd.read_csv(path, sep=";")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable SKAB CSV file: {exc}") from exc
    if "datetime" not in frame.columns:
        raise DataError(f"{path}: no 'datetime' column (SKAB files are ';'-separated)")
    frame = frame.drop(columns=["datetime"])
    anomaly = None
    if "anomaly" in frame.columns:
        values = pd.to_numeric(frame["anomaly"], errors="coerce")
        if values.isna().any():
            raise DataError(f"{path}: 'anomaly' must be 0 or 1 on every row")
        anomaly = (values.to_numpy() > 0).astype(np.int64)
    channels = frame.drop(columns=[c for c in LABELS if c in frame.columns])
    try:
        channels = channels.astype(np.float64)
    except ValueError as exc:
        raise DataError(f"{path}: a channel column is not numeric: {exc}") from exc
    name = str(path.relative_to(root).with_suffix(""))
    return Run(name=name, channels=channels.reset_index(drop=True), anomaly=anomaly)


def load(directory: Path | str) -> SkabData:
    """Read every run of a SKAB-format directory (recursively), labelled and not."""
    root = Path(directory)
    if not root.is_dir():
        raise DataNotFoundError(
            f"SKAB data directory not found: {root} (expected ';'-separated CSV files with a "
            "'datetime' column and, for labelled runs, an 'anomaly' column)"
        )
    files = sorted(root.rglob("*.csv"), key=_natural_key)
    if not files:
        raise DataNotFoundError(f"no CSV files under {root}")
    runs: list[Run] = []
    free: list[Run] = []
    for path in files:
        run = read_run(path, root)
        (runs if run.labelled else free).append(run)
    if not runs:
        raise DataError(f"no labelled runs (CSV files with an 'anomaly' column) under {root}")
    channels = list(runs[0].channels.columns)
    for run in runs + free:
        if list(run.channels.columns) != channels:
            raise DataError(
                f"{run.name}: channels {list(run.channels.columns)} differ from {channels}"
            )
        if run.labelled and len(run.channels) <= TRAIN_ROWS:
            raise DataError(f"{run.name}: {len(run.channels)} rows, need more than {TRAIN_ROWS}")
    return SkabData(runs=runs, anomaly_free=free, channels=channels)


# A method takes a run's channels (all rows, time order) and the number of training
# rows, and returns 0/1 predictions for the rows after them. It may only fit on
# ``channels[:train_rows]``.
Method = Callable[[pd.DataFrame, int], NDArray[np.int64]]


def evaluate(
    runs: Sequence[Run], method: Method, train_rows: int = TRAIN_ROWS
) -> tuple[Confusion, dict[str, Confusion]]:
    """Run the protocol: summed counts over the runs' test parts, and each run's own."""
    per_run: dict[str, Confusion] = {}
    total = Confusion()
    for run in runs:
        if run.anomaly is None:
            raise ValueError(f"{run.name} has no labels")
        predicted = np.asarray(method(run.channels, train_rows))
        truth = run.anomaly[train_rows:]
        if predicted.shape != truth.shape:
            raise ValueError(
                f"{run.name}: {predicted.shape[0]} predictions for {truth.shape[0]} test rows"
            )
        counts = confusion(truth, predicted)
        per_run[run.name] = counts
        total = total + counts
    return total, per_run


def pseudo_runs(recording: pd.DataFrame, length: int) -> list[pd.DataFrame]:
    """Cut a long anomaly-free recording into consecutive runs of ``length`` rows."""
    return [
        recording.iloc[start : start + length].reset_index(drop=True)
        for start in range(0, len(recording) - length + 1, length)
    ]

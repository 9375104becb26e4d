"""NASA C-MAPSS turbofan data: any directory in its format, and the RUL pipeline.

A C-MAPSS-format directory holds, per subset ``FD00n``, ``train_FD00n.txt``,
``test_FD00n.txt`` and ``RUL_FD00n.txt``: whitespace-separated, no header, 26 columns
(unit, cycle, three operating settings, 21 sensors); the RUL file has one number per
test unit, the true remaining cycles after its last test cycle.

The pipeline (fitted on the training units only):
1. operating regimes from the three settings (one for FD001/FD003, six for FD002/FD004;
   models/regimes.py), and every sensor standardized per regime;
2. sensors constant in every regime dropped;
3. causal per-unit features of each remaining sensor (rolling means, exponential mean,
   drift from the unit's first cycles, slope, spread; models/sequence.py) and the cycle;
4. ``RULRegressor`` on every training cycle, target capped at ``cap`` (125 cycles).
One prediction per test unit, at its last cycle, scored against the uncapped truth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import GroupKFold

from models.errors import DataError, DataNotFoundError
from models.regimes import OperatingRegimes, RegimeScaler
from models.rul import RULRegressor
from models.sequence import degradation_features

SETTINGS = ["setting1", "setting2", "setting3"]
SENSORS = [f"s{i}" for i in range(1, 22)]
COLUMNS = ["unit", "cycle", *SETTINGS, *SENSORS]
_SUBSET = re.compile(r"^train_(FD\d{3})\.txt$", re.IGNORECASE)

# Published FD001 RMSE (../shared/data/README.md).
PUBLISHED: list[tuple[str, str, float]] = [
    ("SVR", "FD001", 20.96),
    ("CNN (Babu et al. 2016)", "FD001", 18.45),
    ("Random forest, rolling mean/std", "FD001", 18.0),
    ("Deep LSTM (Zheng et al. 2017)", "FD001", 16.14),
]


@dataclass(frozen=True)
class Subset:
    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    true_rul: NDArray[np.float64]  # one per test unit, in the order of their unit numbers


def available(directory: Path | str) -> list[str]:
    """The subsets (``FD001`` ...) that have a training file in the directory."""
    root = Path(directory)
    if not root.is_dir():
        raise DataNotFoundError(f"C-MAPSS data directory not found: {root}")
    names = [m[1].upper() for p in root.iterdir() if (m := _SUBSET.match(p.name))]
    return sorted(names)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataNotFoundError(f"C-MAPSS file not found: {path}")
    try:
        frame = pd.read_csv(path, sep=r"\s+", header=None, engine="python")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable C-MAPSS file: {exc}") from exc
    if frame.shape[1] != len(COLUMNS):
        raise DataError(f"{path}: {frame.shape[1]} columns, C-MAPSS files have {len(COLUMNS)}")
    frame.columns = COLUMNS
    frame = frame.astype({"unit": np.int64, "cycle": np.int64})
    return frame.sort_values(["unit", "cycle"], kind="stable").reset_index(drop=True)


def _file(root: Path, prefix: str, subset: str) -> Path:
    for candidate in (f"{prefix}_{subset}.txt", f"{prefix}_{subset.lower()}.txt"):
        if (root / candidate).is_file():
            return root / candidate
    return root / f"{prefix}_{subset}.txt"


def load_subset(directory: Path | str, subset: str) -> Subset:
    root = Path(directory)
    found = available(root)
    name = subset.upper()
    if name not in found:
        raise DataNotFoundError(
            f"C-MAPSS subset {name} not found in {root} (found: {', '.join(found) or 'none'})"
        )
    train = _read(_file(root, "train", name))
    test = _read(_file(root, "test", name))
    rul_path = _file(root, "RUL", name)
    if not rul_path.is_file():
        raise DataNotFoundError(f"C-MAPSS file not found: {rul_path}")
    true_rul = np.loadtxt(rul_path, dtype=np.float64, ndmin=1)
    units = test["unit"].nunique()
    if true_rul.shape[0] != units:
        raise DataError(f"{rul_path}: {true_rul.shape[0]} values for {units} test units")
    return Subset(name=name, train=train, test=test, true_rul=true_rul)


def training_rul(frame: pd.DataFrame) -> NDArray[np.float64]:
    """Remaining cycles at every training row (run-to-failure: the last cycle fails)."""
    last = frame.groupby("unit")["cycle"].transform("max")
    return (last - frame["cycle"]).to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class Candidate:
    """Hyperparameters of the regressor tried by :func:`select`."""

    learning_rate: float
    max_iter: int
    max_leaf_nodes: int
    min_samples_leaf: int

    def regressor(self, cap: float = 125.0) -> RULRegressor:
        return RULRegressor(
            cap=cap,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
        )


CANDIDATES: tuple[Candidate, ...] = (
    Candidate(0.05, 300, 31, 40),
    Candidate(0.05, 300, 15, 80),
    Candidate(0.1, 150, 31, 40),
)
# Chosen by ``select`` on FD001's training units (docs/models.md lists the scores).
DEFAULT = CANDIDATES[1]


@dataclass
class RULPipeline:
    """Regimes, per-regime scaling, features and the regressor, fitted together."""

    regressor: RULRegressor = field(default_factory=DEFAULT.regressor)
    regime_tolerance: float = 0.05
    windows: tuple[int, ...] = (5, 10, 20)
    regimes_: OperatingRegimes | None = None
    scaler_: RegimeScaler | None = None
    sensors_: list[str] = field(default_factory=list)

    def _scaled(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        assert self.regimes_ is not None  # noqa: S101
        assert self.scaler_ is not None  # noqa: S101
        regimes = self.regimes_.predict(frame[SETTINGS].to_numpy())
        return self.scaler_.transform(frame[SENSORS].to_numpy(), regimes=regimes)

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Causal features of every row (the pipeline must be fitted)."""
        keep = [SENSORS.index(s) for s in self.sensors_]
        scaled = self._scaled(frame)[:, keep]
        out = degradation_features(
            scaled, self.sensors_, frame["unit"].to_numpy(), windows=self.windows
        )
        out.insert(0, "cycle", frame["cycle"].to_numpy(dtype=np.float64))
        return out

    def fit_preprocessing(self, train: pd.DataFrame) -> RULPipeline:
        """Regimes, per-regime scaling and the sensors kept, from the training units."""
        self.regimes_ = OperatingRegimes(tolerance=self.regime_tolerance).fit(
            train[SETTINGS].to_numpy()
        )
        regimes = self.regimes_.predict(train[SETTINGS].to_numpy())
        self.scaler_ = RegimeScaler().fit(train[SENSORS].to_numpy(), regimes=regimes)
        self.sensors_ = [s for s, c in zip(SENSORS, self.scaler_.constant_, strict=True) if not c]
        if not self.sensors_:
            raise DataError("every sensor is constant in the training data")
        return self

    def fit(self, train: pd.DataFrame) -> RULPipeline:
        self.fit_preprocessing(train)
        self.regressor.fit(
            self.features(train), training_rul(train), groups=train["unit"].to_numpy()
        )
        return self

    def predict_last(
        self, test: pd.DataFrame
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """RUL (point, lower, upper) at each test unit's last cycle, in unit order."""
        features = self.features(test)
        last = test.groupby("unit", sort=True)["cycle"].idxmax().to_numpy()
        rows = features.iloc[last]
        point = self.regressor.predict(rows)
        lower, upper = self.regressor.predict_interval(rows)
        return point, lower, upper


def select(
    train: pd.DataFrame,
    candidates: tuple[Candidate, ...] = CANDIDATES,
    *,
    cap: float = 125.0,
    folds: int = 5,
    progress: Callable[[str], None] = lambda _msg: None,
) -> tuple[Candidate, list[tuple[Candidate, float]]]:
    """Grouped cross-validation over the training units (never the test units): the
    candidate with the lowest RMSE against the capped target on held-out units' cycles."""
    pipeline = RULPipeline()
    pipeline.fit_preprocessing(train)
    features = pipeline.features(train).to_numpy()
    target = np.minimum(training_rul(train), cap)
    units = train["unit"].to_numpy()
    splits = list(
        GroupKFold(n_splits=min(folds, len(np.unique(units)))).split(features, target, units)
    )
    table: list[tuple[Candidate, float]] = []
    for candidate in candidates:
        squared: list[NDArray[np.float64]] = []
        for fit_rows, held_rows in splits:
            booster = candidate.regressor(cap)._booster()
            booster.fit(features[fit_rows], target[fit_rows])
            squared.append((booster.predict(features[held_rows]) - target[held_rows]) ** 2)
        score = float(np.sqrt(np.concatenate(squared).mean()))
        progress(f"  {candidate}: cross-validated RMSE {score:.2f}")
        table.append((candidate, score))
    return min(table, key=lambda row: row[1])[0], table

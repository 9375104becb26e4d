"""Health rows (RUL from the statistic's trend), artefacts and the scoring benchmark."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from models import artefacts, bench
from models.errors import ModelVersionError
from models.health import rul_hours

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def history(machine: int, values: list[float]) -> pd.DataFrame:
    hours = [NOW.timestamp() - 3600 * (len(values) - i) for i in range(len(values))]
    return pd.DataFrame({"equipment_id": machine, "hour": hours, "statistic": values})


def test_rul_extrapolates_the_hourly_statistic_to_the_failure_level() -> None:
    past = pd.concat([history(1, [1.0, 2.0, 3.0, 4.0]), history(2, [1.0, 1.0, 1.0, 1.0])])
    estimate, lower, upper = rul_hours(
        np.array([1, 2, 3]),
        np.array([5.0, 1.0, 9.0]),
        past,
        now_epoch=NOW.timestamp(),
        limit=10.0,
        horizon_h=720.0,
    )
    assert estimate[0] == pytest.approx(5.0)  # +1 per hour, 5 to go
    assert lower[0] <= estimate[0] <= upper[0]
    assert estimate[1] == 720.0  # flat: beyond the horizon
    assert np.isnan(estimate[2])  # a single point: unknown


def test_an_artefact_round_trips_with_its_library_versions() -> None:
    blob, sha, meta = artefacts.dump({"weights": [1, 2, 3]})
    assert meta["libraries"]["scikit-learn"] == artefacts.library_versions()["scikit-learn"]
    assert artefacts.load(blob, sha, meta, what="m", retrain="r") == {"weights": [1, 2, 3]}


def test_a_changed_artefact_or_other_libraries_are_refused_before_unpickling() -> None:
    blob, sha, meta = artefacts.dump([1])
    with pytest.raises(ModelVersionError, match="checksum"):
        artefacts.load(blob + b"x", sha, meta, what="m", retrain="r")
    older = {**meta, "libraries": {**meta["libraries"], "numpy": "1.26.4"}}
    with pytest.raises(ModelVersionError, match=r"numpy 1\.26\.4 \(running .*Retrain it \(r\)"):
        artefacts.load(blob, sha, older, what="m", retrain="r")
    with pytest.raises(ModelVersionError, match="not a Prognos model artefact"):
        artefacts.load(pickle.dumps(1), sha, {}, what="m", retrain="r")
    earlier = {**meta, "format": "prognos-family-model/2"}
    with pytest.raises(ModelVersionError, match=r"another Prognos release .*Retrain it \(r\)"):
        artefacts.load(blob, sha, earlier, what="m", retrain="r")


def test_versions_match_on_the_parts_that_matter() -> None:
    running = {
        "scikit-learn": "1.9.1",
        "numpy": "2.4.6",
        "scipy": "1.17.1",
        "pandas": "2.3.3",
        "python": "3.11.7",
    }
    assert artefacts.mismatches({**running, "numpy": "2.4.0", "python": "3.11.2"}, running) == []
    assert artefacts.mismatches({**running, "scikit-learn": "1.9.0"}, running) == [
        "scikit-learn 1.9.0 (running 1.9.1)"
    ]


def test_the_vectorised_scorer_agrees_with_the_naive_loop() -> None:
    # how much faster it is, and whether it meets its target, is the benchmark's to say
    # (`prognos bench score`, docs/benchmarks.md): a timed test fails on a busy machine
    result = bench.run(400, baseline_machines=40, history_machines=40, pin=False)
    assert result["same_statistics"]
    assert result["speedup"] > 0
    assert result["vectorised_machines_per_min"] > 0

"""Training, the registry and the scoring job against the real PostgreSQL + TimescaleDB.

A fleet of concrete pumps gets a day of healthy minute rollups (``readings_1m``, as the
rollup job writes them), is trained, and then one hour in which some machines carry a
known fault is scored: the health rows must name those machines, their failure modes
and the channels, and leave the healthy machines alone; the HTTP API serves them.

The loaded fleet, and the same fleet trained, are built once for the module; each test
that starts from one gets a copy of its own (``database_from``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from models import registry, store, synthetic
from models.errors import ModelVersionError, NoActiveModelError
from models.injection import Injected
from models.scoring import ScoringJob, ScoringSettings
from models.training import TrainSettings, train
from prognos import cli
from prognos.bench_score import load_rollups, register_fleet
from prognos.localservices import Endpoints
from tests.fixtures.database import as_template, new_database

MACHINES = 12
DAY0 = pd.Timestamp("2026-11-01T00:00:00Z")
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # the scored hour is 00:00-01:00 on day 2
FAULTS = {
    3: Injected("bearing_wear", 0.9),
    5: Injected("cooling_fouling", 0.9),
    7: Injected("sensor_stuck", 1.0, "hydraulic_pressure"),
    9: Injected("seal_hose_leak", 0.8),
}
LEAK = 9


@pytest.fixture
def registered(conn: psycopg.Connection[Any]) -> dict[str, int]:
    return register_fleet(conn, MACHINES)


@pytest.fixture(scope="module")
def loaded(endpoints: Endpoints) -> Iterator[str]:
    """A template: the fleet registered, a day of healthy history and the scored hour."""
    with new_database(endpoints) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            ids = register_fleet(conn, MACHINES)
            load_rollups(conn, synthetic.fleet(MACHINES, 60, windows=24, seed=4, start=DAY0), ids)
            load_rollups(conn, scored_hour(), ids)
        yield as_template(url)


@pytest.fixture(scope="module")
def trained(endpoints: Endpoints, loaded: str) -> Iterator[str]:
    """A template: ``loaded``, with version 1 trained on the day before the scored hour."""
    with new_database(endpoints, template=loaded) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            (outcome,) = train(conn, SETTINGS, now=NOW - timedelta(hours=1))
            assert outcome.version == 1, outcome.message
        yield as_template(url)


def scored_hour() -> pd.DataFrame:
    return synthetic.fleet(
        MACHINES, 60, seed=4, noise_seed=1, faults=FAULTS, start=DAY0 + pd.Timedelta(days=1)
    )


SETTINGS = TrainSettings(days=1, window_s=3600, bucket_s=60, source="rollup")


@pytest.mark.database_from("loaded")
def test_train_registers_an_active_version_with_its_metadata(
    conn: psycopg.Connection[Any],
) -> None:
    messages: list[str] = []
    (outcome,) = train(conn, SETTINGS, now=NOW - timedelta(hours=1), progress=messages.append)
    assert outcome.version == 1, outcome.message
    assert any("batch 1/1" in m for m in messages)  # progress was reported
    (version,) = registry.versions(conn, "concrete_pump")
    assert version.active
    meta = version.metadata
    assert meta["data_range"][0].startswith("2026-11-01T00:00")
    assert meta["metrics"]["windows"] == 24 * MACHINES
    assert "pump_vibration:level" in meta["features"]
    assert "operating_hours" not in meta["channels"]
    assert meta["libraries"]["scikit-learn"]
    # a second training is version 2 and the only active one
    (again,) = train(conn, SETTINGS, now=NOW - timedelta(hours=1))
    assert again.version == 2
    assert registry.active_versions(conn) == {"concrete_pump": 2}
    registry.activate(conn, "concrete_pump", 1)
    assert registry.active_versions(conn) == {"concrete_pump": 1}


@pytest.mark.database_from("trained")
def test_scoring_finds_the_faulty_machines_and_names_their_modes(
    conn: psycopg.Connection[Any], pool: ConnectionPool
) -> None:
    job = ScoringJob(pool, ScoringSettings(window_s=3600, bucket_s=60, source="rollup"))
    report = job.run_once(NOW)
    assert report.scored == MACHINES
    rows = conn.execute(
        "SELECT equipment_id, score, anomalous, mode, sensor_fault, contributions, explanation,"
        " model_version, time, rul_hours FROM health ORDER BY equipment_id"
    ).fetchall()
    by_machine = {r[0]: r for r in rows}
    assert {r[8] for r in rows} == {NOW}
    # the job read the hour from the database as the model sees it in memory
    model, _, _ = registry.load(conn, "concrete_pump")
    expected = model.score(scored_hour()).droplevel("window")
    for machine, fault in FAULTS.items():
        _, score, anomalous, mode, sensor, contributions, explanation, version, _, _ = by_machine[
            machine
        ]
        assert anomalous, machine
        assert score < 50
        assert mode == expected.loc[machine, "mode"]
        assert sensor == expected.loc[machine, "sensor_fault"]
        # one window is one vote (the alert rule votes over hours): the clear signatures
        # are named; single-window accuracy per mode is tests/unit/test_models_modes.py's
        if machine != LEAK:
            assert mode == fault.mode
            assert sensor == fault.mode.startswith("sensor_")
        assert abs(sum(contributions.values()) - 1.0) < 1e-3
        assert version == 1
        assert "%" in explanation
    assert "pump vibration" in by_machine[3][6].split(",")[0]
    assert "coolant temp" in by_machine[5][6].split(",")[0]
    healthy = [r for m, r in by_machine.items() if m not in FAULTS]
    assert not any(r[2] for r in healthy)
    assert all(r[3] is None for r in healthy)
    assert np.median([r[1] for r in healthy]) > 70  # half the alarm threshold scores 80
    # scoring the same window again replaces the rows
    job.run_once(NOW + timedelta(seconds=20))
    (count,) = conn.execute("SELECT count(*) FROM health").fetchone() or (0,)
    assert count == MACHINES


def test_telemetry_sampled_far_faster_than_the_history_is_not_scored(
    conn: psycopg.Connection[Any],
    pool: ConnectionPool,
    registered: dict[str, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """History of one reading a minute (a backfill at 60 s), telemetry of one a second:
    the model's scores would flag every machine, so the job writes none for the family,
    says why in every run's report and once in the log."""
    sparse = synthetic.fleet(MACHINES, 60, windows=24, seed=4, start=DAY0, samples_per_bucket=1)
    load_rollups(conn, sparse, registered)
    load_rollups(conn, scored_hour(), registered)
    (outcome,) = train(conn, SETTINGS, now=NOW - timedelta(hours=1))
    assert outcome.version == 1, outcome.message
    (version,) = registry.versions(conn, "concrete_pump")
    assert version.metadata["metrics"]["readings_per_bucket"] == 1.0
    assert len(version.metadata["metrics"]["unlearned_features"]) == 8  # every channel's noise
    job = ScoringJob(pool, ScoringSettings(window_s=3600, bucket_s=60, source="rollup"))
    with caplog.at_level("ERROR", logger="models.scoring"):
        first = job.run_once(NOW)
        second = job.run_once(NOW + timedelta(minutes=1))
    for report in (first, second):
        assert report.scored == 0
        assert "60 readings a bucket, the model learned from 1" in report.skipped["concrete_pump"]
    assert [r.getMessage() for r in caplog.records].count(
        f"health scoring skips concrete_pump: {first.skipped['concrete_pump']}"
    ) == 1
    assert conn.execute("SELECT count(*) FROM health").fetchone() == (0,)


def test_a_machine_sampled_far_from_the_history_is_left_out_and_named_once(
    conn: psycopg.Connection[Any],
    pool: ConnectionPool,
    registered: dict[str, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The family reads every second, one machine's gateway once a minute: the job scores
    the others and names that machine in its report every run, in the log once."""
    load_rollups(conn, synthetic.fleet(MACHINES, 60, windows=24, seed=4, start=DAY0), registered)
    hour = scored_hour()
    sparse = synthetic.fleet(
        MACHINES, 60, seed=4, noise_seed=1, start=DAY0 + pd.Timedelta(days=1), samples_per_bucket=1
    )
    odd = 2  # machine ids are 1..MACHINES
    mixed = pd.concat([hour[hour["equipment_id"] != odd], sparse[sparse["equipment_id"] == odd]])
    load_rollups(conn, mixed, registered)
    train(conn, SETTINGS, now=NOW - timedelta(hours=1))
    job = ScoringJob(pool, ScoringSettings(window_s=3600, bucket_s=60, source="rollup"))
    with caplog.at_level("WARNING", logger="models.scoring"):
        reports = [job.run_once(NOW), job.run_once(NOW + timedelta(minutes=1))]
    for report in reports:
        assert report.missampled == {"concrete_pump": {odd: 1.0}}
        assert report.scored == MACHINES - 1
    left_out = [
        r for r in caplog.records if "leaves out 1 concrete_pump machines" in r.getMessage()
    ]
    assert len(left_out) == 1
    scored = {m for (m,) in conn.execute("SELECT DISTINCT equipment_id FROM health").fetchall()}
    assert scored == set(range(1, MACHINES + 1)) - {odd}


@pytest.mark.database_from("trained")
def test_the_api_serves_the_fleet_health_and_each_machine_history(
    conn: psycopg.Connection[Any],
    pool: ConnectionPool,
    served_api: str,
) -> None:
    job = ScoringJob(pool, ScoringSettings(window_s=3600, bucket_s=60, source="rollup"))
    earlier = NOW - timedelta(minutes=10)
    job.run_once(earlier)
    job.run_once(NOW)
    model, _, _ = registry.load(conn, "concrete_pump")
    with httpx.Client(base_url=served_api, timeout=10) as api:
        ranked = api.get("/fleet/health").json()
        assert len(ranked) == MACHINES  # each machine once: its latest window
        assert {pd.Timestamp(r["time"]) for r in ranked} == {pd.Timestamp(NOW)}
        scores = [r["score"] for r in ranked]
        assert scores == sorted(scores)  # the least healthy first
        assert {r["equipment_id"] for r in ranked[: len(FAULTS)]} == set(FAULTS)
        stored = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT equipment_id, score, statistic, mode, explanation FROM health"
                " WHERE time = %s",
                (NOW,),
            ).fetchall()
        }
        for row in ranked:
            score, statistic, mode, explanation = stored[row["equipment_id"]]
            assert row["score"] == pytest.approx(score)
            assert row["mode"] == mode
            assert row["explanation"] == explanation
            assert row["serial_number"] == f"CP-{row['equipment_id']:06d}"
            assert row["ratio"] == pytest.approx(statistic / model.alarm_threshold)
            assert (row["ratio"] > 1.0) == row["anomalous"]
            assert sum(row["contributions"].values()) == pytest.approx(1.0, abs=1e-3)
            assert row["model_version"] == 1
        leak = next(r for r in ranked if r["equipment_id"] == LEAK)
        assert leak["mode"] is not None
        assert 0 < leak["mode_probability"] <= 1

        below = api.get("/fleet/health", params={"below": 50}).json()
        assert {r["equipment_id"] for r in below} == set(FAULTS)
        assert api.get("/fleet/health", params={"family": "excavator"}).json() == []
        assert len(api.get("/fleet/health", params={"limit": 2}).json()) == 2
        assert api.get("/fleet/health", params={"below": 101}).status_code == 422

        window = {"start": (NOW - timedelta(hours=2)).isoformat(), "end": NOW.isoformat()}
        history = api.get("/equipment/3/health", params=window).json()  # end is exclusive
        assert history["serial_number"] == "CP-000003"
        assert [pd.Timestamp(p["time"]) for p in history["points"]] == [pd.Timestamp(earlier)]
        window["end"] = (NOW + timedelta(seconds=1)).isoformat()
        points = api.get("/equipment/3/health", params=window).json()["points"]
        assert [pd.Timestamp(p["time"]) for p in points] == [
            pd.Timestamp(earlier),
            pd.Timestamp(NOW),
        ]  # oldest first
        assert points[-1]["score"] == pytest.approx(stored[3][0])
        latest = api.get("/equipment/3/health", params={**window, "limit": 1}).json()
        assert [pd.Timestamp(p["time"]) for p in latest["points"]] == [pd.Timestamp(NOW)]
        assert api.get("/equipment/999/health").status_code == 404
        backwards = {"start": NOW.isoformat(), "end": earlier.isoformat()}
        assert api.get("/equipment/3/health", params=backwards).status_code == 422


@pytest.mark.database_from("trained")
def test_an_operator_lists_the_versions_and_rolls_back_to_an_earlier_one(
    conn: psycopg.Connection[Any],
    pool: ConnectionPool,
    served_api: str,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # version 1 is the template's; a second, on other data
    (second,) = train(conn, SETTINGS, now=NOW - timedelta(hours=2))
    assert second.version == 2, second.message
    with httpx.Client(base_url=served_api, timeout=10) as api:
        listed = api.get("/models").json()
        assert [(v["version"], v["active"]) for v in listed] == [(2, True), (1, False)]
        first = listed[1]
        meta = registry.versions(conn, "concrete_pump")[0].metadata
        assert first["data_range"] == meta["data_range"]
        assert first["windows"] == meta["metrics"]["windows"] == 24 * MACHINES
        assert first["readings_per_bucket"] == 60.0  # synthetic minutes of 60 readings
        assert first["alarm_threshold"] == pytest.approx(meta["metrics"]["alarm_threshold"])
        assert first["classifier_accuracy"] == pytest.approx(
            meta["metrics"]["modes"]["held_out_accuracy"]
        )
        assert first["libraries"]["scikit-learn"] == meta["libraries"]["scikit-learn"]
        assert "pump_vibration" in first["channels"]
        assert api.get("/models", params={"family": "excavator"}).json() == []

        assert cli.main(["models", "list"]) == 0
        table = capsys.readouterr().out.splitlines()
        assert table[0].split()[:3] == ["family", "version", "active"]
        assert len(table) == 3
        assert table[1].split()[:2] == ["concrete_pump", "1"]
        assert "yes" not in table[1].split()
        assert table[2].split()[:3] == ["concrete_pump", "2", "yes"]
        assert "2026-11-01 .. 2026-11-01" in table[1]  # the data it was trained on
        assert f"{24 * MACHINES:,}" in table[1]
        assert cli.main(["models", "activate", "concrete_pump", "1"]) == 0
        assert capsys.readouterr().out.strip() == "concrete_pump: version 1 active (was 2)"
        assert [(v["version"], v["active"]) for v in api.get("/models").json()] == [
            (2, False),
            (1, True),
        ]
        # scoring switches to the version made active
        ScoringJob(pool, ScoringSettings(window_s=3600, bucket_s=60, source="rollup")).run_once(NOW)
        versions = conn.execute("SELECT DISTINCT model_version FROM health").fetchall()
        assert versions == [(1,)]

        assert cli.main(["models", "activate", "concrete_pump", "7"]) == 1
        assert "concrete_pump has no model version 7" in capsys.readouterr().err
        assert registry.active_versions(conn) == {"concrete_pump": 1}  # unchanged


@pytest.mark.database_from("trained")
def test_rul_follows_a_rising_statistic(
    conn: psycopg.Connection[Any], pool: ConnectionPool
) -> None:
    model, _, _ = registry.load(conn, "concrete_pump")
    alarm = model.alarm_threshold
    # machine 3's statistic rose steadily over the last 10 hours
    for hours_ago in range(10, 0, -1):
        conn.execute(
            "INSERT INTO health (time, equipment_id, score, statistic, anomalous, contributions,"
            " explanation, family, model_version) VALUES (%s, 3, 50, %s, false, '{}', '', "
            "'concrete_pump', 1)",
            (NOW - timedelta(hours=hours_ago), alarm * (0.1 + 0.05 * (10 - hours_ago))),
        )
    ScoringJob(pool, ScoringSettings(window_s=3600, bucket_s=60)).run_once(NOW)
    rul, low, high = conn.execute(
        "SELECT rul_hours, rul_low_hours, rul_high_hours FROM health WHERE equipment_id = 3 "
        "AND time = %s",
        (NOW,),
    ).fetchone() or (None, None, None)
    assert rul is not None
    assert low <= rul <= high
    assert rul < 720  # on its way to failure, within the horizon


@pytest.mark.database_from("trained")
def test_a_model_from_other_library_versions_is_refused_clearly(
    conn: psycopg.Connection[Any], pool: ConnectionPool
) -> None:
    conn.execute("UPDATE model_versions SET active = false")
    with pytest.raises(NoActiveModelError, match="prognos train --family concrete_pump"):
        registry.load(conn, "concrete_pump")
    registry.activate(conn, "concrete_pump", 1)
    registry.load(conn, "concrete_pump")
    conn.execute(
        "UPDATE model_versions SET metadata = jsonb_set(metadata, '{libraries,scikit-learn}',"
        " '\"0.24.2\"')"
    )
    with pytest.raises(ModelVersionError, match=r"scikit-learn 0\.24\.2 \(running "):
        registry.load(conn, "concrete_pump")
    report = ScoringJob(pool, ScoringSettings()).run_once(NOW)
    assert report.scored == 0
    assert "other library versions" in report.skipped["concrete_pump"]


def test_raw_readings_are_bucketed_with_time_bucket(
    conn: psycopg.Connection[Any], registered: dict[str, int]
) -> None:
    start = datetime(2026, 11, 3, tzinfo=UTC)
    values = [20.0, 22.0, 30.0, 31.0]
    for k, v in enumerate(values):
        conn.execute(
            "INSERT INTO readings (time, equipment_id, channel_id, value) VALUES (%s, 2, %s, %s)",
            (start + timedelta(seconds=20 * k), registered["coolant_temp"], v),
        )
    frame = store.window_aggregates(
        conn, start, start + timedelta(minutes=2), bucket_s=60, window_s=120, source="raw"
    )
    assert len(frame) == 2
    first = frame.sort_values("bucket").iloc[0]
    assert (first["mean"], first["min"], first["max"], first["count"]) == (24.0, 20.0, 30.0, 3)
    assert first["channel"] == "coolant_temp"
    assert first["t_h"] == 0.0


def test_prognos_train_from_the_command_line(
    conn: psycopg.Connection[Any], database_url: str, registered: dict[str, int]
) -> None:
    recent = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=13)
    load_rollups(conn, synthetic.fleet(MACHINES, 60, windows=12, seed=4, start=recent), registered)
    env = {**os.environ, "PROGNOS_DATABASE_URL": database_url}
    out = subprocess.run(
        [sys.executable, "-m", "prognos.cli", "train", "--days", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "concrete_pump: version 1 active" in out.stdout
    assert "batch 1/1" in out.stderr  # progress
    assert registry.active_versions(conn) == {"concrete_pump": 1}

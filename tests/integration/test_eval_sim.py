"""``prognos eval sim`` end to end on a small fleet with faults scheduled at known times:
backfill through the ingest writer, training on the first days, replay of the scoring job
and the model-alert rule, metrics against the fault truth."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest

from device_sim.fleet import load_fleet
from models.sim_metrics import render
from prognos import eval_sim

FLEET = """
seed = 11

[simulation]
schedule = "continuous"
machines_per_customer = 4

[[fleet]]
family = "concrete_pump"
count = 5
regions = ["Hunan"]
commissioned = [2026-01-20, 2026-01-25]

[[fleet]]
family = "air_compressor"
count = 5
regions = ["Jiangsu"]
commissioned = [2026-01-20, 2026-01-25]

[network]
tier2 = 1
tier3 = 0

[[faults]]                  # bearing wear from the first test day: 16 operating hours,
serial = "CP-00002"         # two working days of a pump in day shifts
mode = "bearing_wear"
onset = 2026-02-04T00:00:00Z
failure = 2026-02-04T16:00:00Z

[[faults]]                  # a stuck sensor on day 4
serial = "AC-00003"
mode = "sensor_stuck"
channel = "discharge_temp"
onset = 2026-02-05T00:00:00Z
failure = 2026-02-05T00:00:00Z

[evaluation]
start = 2026-02-01
train_days = 3
test_days = 3
interval_s = 120
bucket_s = 600
window_s = 3600
step_s = 600
"""


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET)
    return path


def test_a_small_fleet_is_evaluated_against_its_fault_truth(
    fleet_file: Path, database_url: str, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    plan = eval_sim.load_plan(fleet_file)
    assert (plan.split - plan.start).days == 3
    truth = tmp_path / "truth.csv"
    messages: list[str] = []
    report = eval_sim.evaluate(
        load_fleet(fleet_file), plan, database_url, truth_csv=truth, progress=messages.append
    )
    assert any("backfill" in m for m in messages)  # progress
    assert report["readings"] > 100_000
    # the bearing fails inside the test period and is caught ahead of the failure
    assert report["machine_faults_due"] == 1
    assert report["caught"] == 1
    assert report["per_mode"]["bearing_wear"]["lead_time_median_h"] > 2
    # the stuck sensor is called a sensor fault, not a machine fault
    assert report["sensor_faults"]["in_period"] == 1
    assert report["sensor_faults"]["classified_as_sensor"] == 1
    assert report["sensor_faults"]["mistaken_for_machine"] == 0
    assert report["machine_months"] == pytest.approx(1.0)  # 10 machines x 3 days
    assert set(report["models"]) == {"concrete_pump", "air_compressor"}
    # the truth is in the table and the CSV, and the models in the registry
    (faults,) = conn.execute("SELECT count(*) FROM sim_fault_truth").fetchone() or (0,)
    assert faults == 2
    assert truth.read_text().count("\n") == 3  # header and two faults
    (versions,) = conn.execute("SELECT count(*) FROM model_versions WHERE active").fetchone() or (
        0,
    )
    assert versions == 2
    text = render(report)
    assert "bearing_wear" in text
    assert "false alarms per 100 machine-months" in text


def test_a_workdir_keeps_the_history_for_the_next_run_of_the_same_fleet(fleet_file: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="prognos-eval-work-"))
    work.chmod(0o755)  # the private PostgreSQL runs as another user
    said: list[list[str]] = [[], [], []]
    try:
        first = eval_sim.main(fleet_file, workdir=work, progress=said[0].append)
        again = eval_sim.main(fleet_file, workdir=work, progress=said[1].append)
        assert any("backfill" in m for m in said[0])
        assert not any("backfill" in m for m in said[1])
        assert any("reusing the history" in m for m in said[1])
        assert "backfill_s" not in again["seconds"]
        # trained and replayed afresh on the same readings: the same figures
        for key in ("readings", "health_rows", "caught", "machine_alerts", "sensor_checks"):
            assert again[key] == first[key], key
        # the rule alone, replayed on the health the last run kept: its figures, no database
        said.append([])
        rule = eval_sim.main(fleet_file, workdir=work, rule_only=True, progress=said[3].append)
        assert any("replaying the rule on the health kept" in m for m in said[3])
        assert not any("PostgreSQL" in m for m in said[3])
        for key in ("health_rows", "caught", "machine_alerts", "sensor_checks", "per_mode"):
            assert rule[key] == again[key], key
        assert set(rule["seconds"]) == {"rule_and_metrics_s", "total_s"}
        assert rule["rule_only"]
        assert "rule_only" not in again
        # ... and with other settings of the rule: a window over the alarm alerts at once
        eager = eval_sim.main(
            fleet_file,
            workdir=work,
            rule_only=True,
            policy=eval_sim.policy_from(["persist_s=0", "severe_persist_s=0"]),
        )
        assert eager["policy"]["persist_s"] == 0.0
        assert eager["policy_changes"] == {"persist_s": 0.0, "severe_persist_s": 0.0}
        assert rule["policy_changes"] == {}
        assert "Rule settings not the shipped ones: persist_s=0, severe" in render(eager)
        assert "The rule alone, on the health scored" in render(eager)
        assert "The rule alone" not in render(again)
        assert eager["machine_alerts"] >= rule["machine_alerts"]
        assert eager["transitions"] != rule["transitions"]
        # another fleet file builds its own history first
        fleet_file.write_text(FLEET.replace("seed = 11", "seed = 12"))
        other = eval_sim.main(fleet_file, workdir=work, progress=said[2].append)
        assert any("backfill" in m for m in said[2])
        assert other["fleet_seed"] == 12
        assert other["readings"] > 100_000
        # the health kept is the new fleet's: the first fleet's is no longer there
        fleet_file.write_text(FLEET)
        with pytest.raises(eval_sim.DataError, match="keeps no history of this fleet file"):
            eval_sim.main(fleet_file, workdir=work, rule_only=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_fleet_file_without_an_evaluation_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.split("[evaluation]", maxsplit=1)[0])
    with pytest.raises(eval_sim.DataError, match=r"no \[evaluation\] table"):
        eval_sim.load_plan(path)

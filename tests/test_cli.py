"""The command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from prognos.cli import status_line

COMMANDS = ["up", "down", "status", "migrate", "seed", "sim", "ingest", "api", "run"]


def prognos(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prognos.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_help_lists_every_subcommand() -> None:
    out = prognos("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert f"    {command} " in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_has_its_own_help(command: str) -> None:
    out = prognos(command, "--help")
    assert out.returncode == 0
    assert out.stdout.startswith(f"usage: prognos {command}")


def test_without_a_database_the_error_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROGNOS_")}
    env["PROGNOS_HOME"] = str(tmp_path)
    out = prognos("migrate", env=env)
    assert out.returncode == 1
    assert "no database" in out.stderr
    assert "prognos up" in out.stderr
    assert "PROGNOS_DATABASE_URL" in out.stderr


def test_invalid_settings_are_refused() -> None:
    env = {**os.environ, "PROGNOS_MQTT_URL": "http://broker"}
    out = prognos("status", env=env)
    assert out.returncode == 2
    assert "PROGNOS_MQTT_URL must look like mqtt://host:port" in out.stderr


def test_the_status_line_says_what_ran_and_which_families_went_unscored() -> None:
    status = {
        "ingest": {"stored": 6400, "received": 256, "quarantined": {"schema": 1}, "duplicates": 0},
        "alerts_opened": 1,
        "webhooks_delivered": 2,
        "health_scored": 16,
        "health_skipped": {"excavator": "excavator: the telemetry has 60 readings a bucket ..."},
        "health_missampled": {"concrete_pump": [3, 4], "truck_crane": [9]},
    }
    assert status_line(status) == (
        "status: 6400 readings stored from 256 messages (1 quarantined, 0 duplicates); "
        "1 alerts opened; 2 webhooks delivered; 16 health scores; "
        "health not scored for excavator (the log says why); "
        "3 machines not scored, sampled unlike their model's history"
    )
    assert status_line({"health_scored": 0, "health_skipped": {}}) == "status: 0 health scores"

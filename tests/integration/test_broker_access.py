"""Per-machine access control on a real Mosquitto that enforces it.

The broker's password file and ACL are generated from the registry: a machine may
publish to its own telemetry topic only, the ingest account may only read, unknown or
wrong credentials are refused at CONNECT, and changes (new machines, a disabled one, a
rotated secret) reach the running broker.
"""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from device_sim import mqtt_wire
from device_sim.fleet import load_fleet
from device_sim.load import LoadCounters, LoadError, LoadPublisher
from ingest.broker_accounts import IssuedCredential, device_accounts, provision, set_enabled
from ingest.worker import IngestWorker, WorkerConfig
from prognos import device_access
from prognos.endpoints import Resolved
from prognos.localservices import LocalMosquitto
from prognos.runner import Platform
from prognos.seed import seed
from prognos.settings import ApiSettings, IngestSettings, MqttAddress, Settings, SimSettings
from tests.waiting import wait_for

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"
PREFIX = "prognos-access/v1"


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalMosquitto]:
    home = Path(tempfile.mkdtemp(prefix="prognos-access-"))
    home.chmod(0o755)
    b = LocalMosquitto(home, secure=True, topic_prefix=PREFIX)
    b.start()
    yield b
    b.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def secrets_(conn: psycopg.Connection[Any], broker: LocalMosquitto) -> dict[str, str]:
    """The demo fleet registered, every machine given a secret, the broker told."""
    seed(conn, load_fleet(DEMO_FLEET))
    issued = provision(conn)
    assert broker.sync_devices(device_accounts(conn, PREFIX))
    secrets = {c.serial: c.password for c in issued}
    wait_for(  # the broker reloads its files on SIGHUP, asynchronously
        lambda: accepts(broker, "CP-0001", secrets["CP-0001"]), 10, "the broker's reload"
    )
    return secrets


def accepts(broker: LocalMosquitto, username: str, password: str) -> bool:
    """Whether the broker lets this login connect (right now)."""
    publisher = LoadPublisher(
        "127.0.0.1",
        broker.port,
        client_id=f"probe-{uuid.uuid4().hex[:8]}",
        username=username,
        password=password,
    )
    try:
        publisher.connect()
    except LoadError:
        return False
    publisher.close()
    return True


@pytest.fixture
def worker(database_url: str, broker: LocalMosquitto) -> Iterator[IngestWorker]:
    login = MqttAddress.parse(broker.url)
    assert login.username == "prognos-ingest"
    w = IngestWorker(
        WorkerConfig(
            database_url=database_url,
            mqtt_host=login.host,
            mqtt_port=login.port,
            mqtt_username=login.username,
            mqtt_password=login.password,
            topic_prefix=PREFIX,
            client_id=f"ingest-{uuid.uuid4().hex[:8]}",
            share_group=f"g{uuid.uuid4().hex[:8]}",
            batch_age_s=0.05,
        )
    )
    w.start()
    assert w.wait_connected(10), "the ingest account could not connect"
    time.sleep(0.2)
    yield w
    w.stop()


def publish(
    broker: LocalMosquitto, username: str | None, password: str | None, serial: str, value: float
) -> LoadCounters:
    """One QoS 1 message as ``username`` to ``serial``'s topic; what the broker answered."""
    publisher = LoadPublisher(
        "127.0.0.1",
        broker.port,
        client_id=f"dev-{uuid.uuid4().hex[:8]}",
        username=username,
        password=password,
    )
    publisher.connect()
    t = datetime.now(UTC).isoformat()
    payload = json.dumps(
        {"v": 1, "device": serial, "samples": [{"t": t, "values": {"coolant_temp": value}}]}
    )
    publisher.publish(mqtt_wire.topic_bytes(f"{PREFIX}/{serial}/telemetry"), payload.encode())
    assert publisher.flush(5), "no PUBACK"
    publisher.close()
    return publisher.counters


def stored_values(conn: psycopg.Connection[Any]) -> list[float]:
    return [r[0] for r in conn.execute("SELECT value FROM readings ORDER BY value").fetchall()]


def test_a_machine_publishes_its_own_telemetry_and_nobody_elses(
    conn: psycopg.Connection[Any],
    broker: LocalMosquitto,
    secrets_: dict[str, str],
    worker: IngestWorker,
) -> None:
    own = publish(broker, "CP-0001", secrets_["CP-0001"], "CP-0001", 81.0)
    assert (own.acked, own.refused) == (1, 0)
    forged = publish(broker, "CP-0001", secrets_["CP-0001"], "CP-0002", 82.0)
    assert forged.refusals == {0x87: 1}  # PUBACK "not authorized"
    wait_for(lambda: stored_values(conn) == [81.0], 10, "the machine's own reading stored")
    time.sleep(0.5)
    assert stored_values(conn) == [81.0]  # the forged one never reached ingest
    assert worker.stats.received == 1
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("CP-0001", "not-its-secret"),
        ("XX-9999", "whatever"),
        (None, None),  # anonymous
        ("CP-0001", None),
    ],
)
def test_unknown_or_wrong_credentials_are_refused_at_connect(
    broker: LocalMosquitto, secrets_: dict[str, str], username: str | None, password: str | None
) -> None:
    publisher = LoadPublisher(
        "127.0.0.1", broker.port, client_id="intruder", username=username, password=password
    )
    with pytest.raises(LoadError, match="refused the connection"):
        publisher.connect()


def test_another_machines_secret_does_not_open_its_own_account(
    broker: LocalMosquitto, secrets_: dict[str, str]
) -> None:
    with pytest.raises(LoadError, match="refused the connection"):
        publish(broker, "CP-0001", secrets_["CP-0002"], "CP-0001", 1.0)


def test_the_ingest_account_reads_and_cannot_publish(
    broker: LocalMosquitto, secrets_: dict[str, str]
) -> None:
    login = MqttAddress.parse(broker.url)
    answer = publish(broker, login.username, login.password, "CP-0001", 1.0)
    assert answer.refusals == {0x87: 1}


def test_disabling_and_rotating_reach_the_running_broker(
    conn: psycopg.Connection[Any], broker: LocalMosquitto, secrets_: dict[str, str]
) -> None:
    old = secrets_["EX-0001"]
    set_enabled(conn, "EX-0001", False)
    assert broker.sync_devices(device_accounts(conn, PREFIX))
    wait_for(lambda: not accepts(broker, "EX-0001", old), 10, "EX-0001 refused")
    assert accepts(broker, "EX-0002", secrets_["EX-0002"])  # the others are not affected
    set_enabled(conn, "EX-0001", True)
    assert broker.sync_devices(device_accounts(conn, PREFIX))
    wait_for(lambda: accepts(broker, "EX-0001", old), 10, "EX-0001 let back")
    assert publish(broker, "EX-0001", old, "EX-0001", 1.0).acked == 1

    (rotated,) = provision(conn, serials=["EX-0001"], rotate=True)
    assert broker.sync_devices(device_accounts(conn, PREFIX))
    wait_for(lambda: accepts(broker, "EX-0001", rotated.password), 10, "the new secret")
    assert not accepts(broker, "EX-0001", old)
    assert publish(broker, "EX-0001", rotated.password, "EX-0001", 1.0).acked == 1
    row = conn.execute(
        "SELECT rotations FROM device_credentials c JOIN equipment e ON e.id = c.equipment_id "
        "WHERE e.serial_number = 'EX-0001'"
    ).fetchone()
    assert row == (1,)


def test_only_hashes_are_stored_and_the_broker_files_are_private(
    conn: psycopg.Connection[Any], broker: LocalMosquitto, secrets_: dict[str, str]
) -> None:
    stored = [r[0] for r in conn.execute("SELECT password_hash FROM device_credentials")]
    assert stored
    assert all(h.startswith("$7$101$") for h in stored)
    assert not set(secrets_.values()) & set(stored)
    for path in (broker.access.passwd, broker.access.acl, broker.access.accounts_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert not any(s in path.read_text() for s in secrets_.values())


@pytest.fixture
def platform_on_secure_broker(
    database_url: str, broker: LocalMosquitto, tmp_path: Path
) -> Iterator[Callable[[], Platform]]:
    started: list[Platform] = []

    def start() -> Platform:
        settings = Settings(
            home=tmp_path,
            database_url=database_url,
            topic_prefix=PREFIX,
            ingest=IngestSettings(
                client_id=f"ingest-{uuid.uuid4().hex[:8]}",
                share_group=f"g{uuid.uuid4().hex[:8]}",
                batch_age_ms=100,
            ),
            api=ApiSettings(port=0),
            sim=SimSettings(speed=30.0, samples_per_message=2),
        )
        fleet = load_fleet(DEMO_FLEET)
        platform = Platform(
            settings,
            Resolved(database_url, MqttAddress.parse(broker.url), broker.url),
            fleet=fleet,
            seed_fleet=fleet,
            with_api=False,
            local_broker=broker,
        )
        started.append(platform)
        platform.start()
        return platform

    yield start
    for p in started:
        p.stop()


def test_the_platform_gives_each_simulated_machine_its_own_identity(
    conn: psycopg.Connection[Any],
    broker: LocalMosquitto,
    platform_on_secure_broker: Callable[[], Platform],
    tmp_path: Path,
) -> None:
    platform_on_secure_broker()
    fleet = load_fleet(DEMO_FLEET)
    serials = sorted(m.serial for m in fleet.machines)

    def machines_heard() -> list[str]:
        return [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT e.serial_number FROM readings r "
                "JOIN equipment e ON e.id = r.equipment_id ORDER BY 1"
            ).fetchall()
        ]

    wait_for(lambda: machines_heard() == serials, 30, "readings from every simulated machine")
    credentials = device_access.read_credentials(tmp_path / "devices" / "credentials.csv")
    assert sorted(credentials) == serials
    assert stat.S_IMODE((tmp_path / "devices" / "credentials.csv").stat().st_mode) == 0o600
    log = broker.logfile.read_text()
    for serial in serials:  # each connected under its own user name
        assert f"u'{serial}'" in log
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)


def test_credentials_issued_for_the_simulator_are_kept_across_restarts(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    seed(conn, load_fleet(DEMO_FLEET))
    path = tmp_path / "devices" / "credentials.csv"
    first = device_access.ensure_simulated_credentials(conn, path)
    assert first == len(load_fleet(DEMO_FLEET).machines)
    before = device_access.read_credentials(path)
    assert device_access.ensure_simulated_credentials(conn, path) == 0  # nothing new
    assert device_access.read_credentials(path) == before
    path.unlink()  # lost: every machine gets a new secret the file knows
    assert device_access.ensure_simulated_credentials(conn, path) == first
    assert set(device_access.read_credentials(path)) == set(before)
    assert device_access.read_credentials(path) != before


def test_issued_credentials_carry_the_serial_as_user_name(
    conn: psycopg.Connection[Any],
) -> None:
    seed(conn, load_fleet(DEMO_FLEET))
    issued = provision(conn, serials=["CP-0001"])
    assert issued == [IssuedCredential("CP-0001", "CP-0001", issued[0].password)]
    assert provision(conn, serials=["CP-0001"]) == []  # has one already
    with pytest.raises(KeyError):
        provision(conn, serials=["NOPE-1"])
    since = datetime.now(UTC) - timedelta(minutes=1)
    row = conn.execute(
        "SELECT issued_at > %s, enabled FROM device_credentials", (since,)
    ).fetchone()
    assert row == (True, True)

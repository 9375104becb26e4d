"""Ingest under faults: every published reading is stored exactly once, whatever breaks.

Each test runs ``prognos ingest`` as a separate process (as it is deployed) against a
PostgreSQL + TimescaleDB and a Mosquitto of this module's own, so they can be stopped,
killed and restarted without disturbing other tests. A load publisher sends readings
whose values are their indexes (0 .. N-1) at QoS 1 while the fault happens; at the end
the database must hold each value exactly once: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from device_sim.load import LoadPlan, LoadPublisher, LoadReport, publish_plan
from prognos import bench_ingest
from prognos.errors import PrognosError
from prognos.localservices import LocalServices
from prognos.settings import MqttAddress
from tests.fixtures.ingest_process import IngestProcess
from tests.waiting import wait_for

MACHINES = 20
PREFIX = "prognos-faults/v1"  # the topics this module's broker grants its accounts


@pytest.fixture(scope="module")
def own_services() -> Iterator[LocalServices]:
    home = Path(tempfile.mkdtemp(prefix="prognos-faults-"))
    home.chmod(0o755)
    services = LocalServices(home, durable=True, topic_prefix=PREFIX)  # access control on
    try:
        services.start()
    except PrognosError as exc:
        services.stop()
        pytest.fail(f"the fault-test services could not start: {exc}", pytrace=False)
    yield services
    services.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def database(own_services: LocalServices) -> str:
    if not own_services.postgres.is_running():  # a test that failed half-way stopped it
        own_services.postgres.start()
    name = f"faults_{uuid.uuid4().hex[:10]}"
    url, _ids = bench_ingest.fresh_database(own_services.postgres.url, name, MACHINES)
    return url


@pytest.fixture
def gateway(own_services: LocalServices) -> MqttAddress:
    """The login of a gateway: it may publish the telemetry of any machine."""
    if not own_services.mosquitto.is_running():
        own_services.mosquitto.start()
    return MqttAddress.parse(own_services.mosquitto.gateway_url)


@pytest.fixture
def ingest(database: str, own_services: LocalServices) -> Iterator[Callable[[str], IngestProcess]]:
    started: list[IngestProcess] = []
    group = f"g{uuid.uuid4().hex[:8]}"

    def make(client_id: str) -> IngestProcess:
        proc = IngestProcess(
            database_url=database,
            mqtt_url=own_services.mosquitto.url,  # the ingest account
            topic_prefix=PREFIX,
            client_id=f"{client_id}-{group}",
            share_group=group,
        )
        started.append(proc)
        return proc.start()

    yield make
    for proc in started:
        proc.kill()


@pytest.fixture
def start_load(gateway: MqttAddress) -> Iterator[Callable[..., Load]]:
    """Start a load publisher; each is cancelled when the test ends, even half-way."""
    started: list[Load] = []

    def start(*, rounds: int, rate_msgs: float, samples: int = 5) -> Load:
        load = Load(gateway, rounds=rounds, rate_msgs=rate_msgs, samples=samples)
        started.append(load)
        return load.start()

    yield start
    for load in started:
        load.publisher.cancel()


class Load:
    """A load publisher in a thread: ``messages_per_machine`` rounds at ``rate_msgs``."""

    def __init__(self, login: MqttAddress, *, rounds: int, rate_msgs: float, samples: int) -> None:
        self.plan = LoadPlan(
            serials=tuple(f"B-{i:05d}" for i in range(MACHINES)),
            channels=("c0", "c1"),
            messages_per_machine=rounds,
            samples_per_message=samples,
            base_ms=(int(time.time()) - 3600) * 1000,
            prefix=PREFIX,
        )
        self.publisher = LoadPublisher(
            login.host,
            login.port,
            client_id=f"load-{uuid.uuid4().hex[:8]}",
            username=login.username,
            password=login.password,
        )
        self.rate_msgs = rate_msgs
        self.report: LoadReport | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def total(self) -> int:
        return self.plan.readings

    def _run(self) -> None:
        try:
            self.report = publish_plan(
                self.publisher, self.plan, range(MACHINES), rate_msgs=self.rate_msgs
            )
        except BaseException as exc:
            self.error = exc
        finally:
            self.publisher.close()

    def start(self) -> Load:
        self.publisher.connect()
        self._thread.start()
        return self

    def join(self, timeout_s: float = 180.0) -> LoadReport:
        self._thread.join(timeout_s)
        if self.error is not None:
            raise AssertionError(f"the load publisher failed: {self.error}") from self.error
        assert self.report is not None, "the load publisher did not finish"
        counters = self.publisher.counters
        assert counters.refused == 0, f"the broker refused messages: {counters.refusals}"
        assert counters.acked == self.plan.messages
        # "No matching subscribers": the broker dropped them; the worker never could see them.
        assert counters.unrouted == 0, f"{counters.unrouted} messages found no subscriber"
        return self.report


def stored(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT count(*) FROM readings").fetchone()
    except psycopg.OperationalError:
        return -1
    return int(row[0]) if row else 0


def assert_each_stored_once(url: str, total: int, procs: list[IngestProcess]) -> None:
    def complete() -> bool:
        return stored(url) >= total

    try:
        wait_for(complete, 90, f"{total} readings stored")
    except AssertionError:
        logs = "\n\n".join(f"--- {p.client_id}\n{p.log_tail(30)}" for p in procs)
        raise AssertionError(f"only {stored(url)} of {total} readings stored\n{logs}") from None
    time.sleep(0.5)  # anything stored twice would land now
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT value), min(value), max(value) FROM readings"
        ).fetchone()
    assert row is not None
    count, distinct, low, high = row
    assert (distinct, low, high) == (total, 0, total - 1), "a reading was lost"
    assert count == total, f"{count - total} readings stored twice"


def wait_until_stored(url: str, at_least: int) -> int:
    wait_for(lambda: stored(url) >= at_least, 60, f"{at_least} readings stored")
    return stored(url)


def health_of(proc: IngestProcess) -> dict[str, Any]:
    health = proc.health()
    assert health is not None, f"no /health from {proc.client_id}"
    return health


def test_a_worker_killed_mid_stream_loses_and_duplicates_nothing(
    database: str,
    ingest: Callable[[str], IngestProcess],
    start_load: Callable[..., Load],
) -> None:
    worker = ingest("kill")
    load = start_load(rounds=400, rate_msgs=1500)
    at_kill = wait_until_stored(database, load.total // 5)
    worker.kill()  # SIGKILL: batches in flight are neither committed nor acknowledged
    assert at_kill < load.total, "the kill came after the stream ended"
    time.sleep(1.0)  # the broker queues for the dead worker's session meanwhile
    worker.start()  # the same client id resumes the session: unacked ones come again
    load.join()
    assert_each_stored_once(database, load.total, [worker])


def test_the_database_away_for_30_s_under_load_loses_and_duplicates_nothing(
    database: str,
    ingest: Callable[[str], IngestProcess],
    start_load: Callable[..., Load],
    own_services: LocalServices,
) -> None:
    worker = ingest("dbdown")
    load = start_load(rounds=1000, rate_msgs=500)
    wait_until_stored(database, 2000)
    own_services.postgres.stop()
    try:
        time.sleep(5)
        health = health_of(worker)
        assert health["database"] is False
        assert health["status"] == "degraded"
        stalled = health["platform"]["ingest"]
        time.sleep(25)
        later = health_of(worker)["platform"]["ingest"]
        # Nothing was acknowledged meanwhile: the worker holds a bounded backlog,
        # the broker keeps the rest.
        assert later["stored"] == stalled["stored"]
        assert later["storage_failures"] > stalled["storage_failures"]
    finally:
        own_services.postgres.start()
    load.join()
    assert_each_stored_once(database, load.total, [worker])
    assert "prognos_ingest_storage_failures_total" in worker.metrics()


def test_a_broker_restart_under_load_loses_and_duplicates_nothing(
    database: str,
    ingest: Callable[[str], IngestProcess],
    start_load: Callable[..., Load],
    own_services: LocalServices,
) -> None:
    worker = ingest("brokerrestart")
    port = own_services.mosquitto.port
    load = start_load(rounds=500, rate_msgs=1500)
    wait_until_stored(database, load.total // 5)
    own_services.mosquitto.stop()  # SIGTERM: Mosquitto saves sessions and queues
    time.sleep(2.0)
    own_services.mosquitto.start()
    assert own_services.mosquitto.port == port, "the broker came back on another port"
    report = load.join()
    assert report.reconnects >= 1
    assert_each_stored_once(database, load.total, [worker])
    wait_for(lambda: health_of(worker)["broker"] is True, 30, "the worker reconnected")
    assert health_of(worker)["platform"]["ingest"]["connects"] >= 2


def test_two_workers_sharing_the_load_one_killed_lose_and_duplicate_nothing(
    database: str,
    ingest: Callable[[str], IngestProcess],
    start_load: Callable[..., Load],
) -> None:
    first, second = ingest("shared-a"), ingest("shared-b")
    load = start_load(rounds=500, rate_msgs=1500)
    wait_until_stored(database, load.total // 4)
    first.kill()
    time.sleep(2.0)  # the survivor goes on; the broker queues the dead one's share
    first.start()
    load.join()
    assert_each_stored_once(database, load.total, [first, second])
    assert health_of(second)["platform"]["ingest"]["stored"] > 0
    assert health_of(first)["platform"]["ingest"]["received"] > 0


def test_a_retired_worker_hands_over_its_queue_and_leaves_the_group(
    database: str,
    ingest: Callable[[str], IngestProcess],
    start_load: Callable[..., Load],
) -> None:
    """Scaling in: a stopped member of a share group keeps receiving its share (queued in
    its session, lost when the session expires); retiring it loses nothing."""
    staying, leaving = ingest("stay"), ingest("leave")
    leaving.stop()  # SIGTERM: it flushes and disconnects; its session stays subscribed
    first = start_load(rounds=100, rate_msgs=2000)
    first.join()
    wait_until_stored(database, first.total // 3)  # the stayer's share, at least
    time.sleep(1.0)
    assert stored(database) < first.total, "the stopped worker's share was not queued for it"
    out = leaving.retire()
    assert "retired:" in out
    assert_each_stored_once(database, first.total, [staying, leaving])
    # The group is the stayer alone now: nothing more is queued for the retired worker.
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("TRUNCATE readings")
    second = start_load(rounds=100, rate_msgs=2000)
    second.join()
    assert_each_stored_once(database, second.total, [staying])

"""Webhook delivery against a real HTTP receiver: signatures, retries, giving up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from alerts.outbox import emit
from alerts.receiver import WebhookReceiver
from alerts.webhooks import WebhookDispatcher

SECRET = "s3cret"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(secret=SECRET).start()
    yield r
    r.stop()


def deliveries(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT status, attempts, last_status_code, last_error FROM webhook_deliveries"
    ).fetchall()


def run_until(
    dispatcher: WebhookDispatcher, conn: psycopg.Connection[Any], status: str, timeout_s: float = 10
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dispatcher.run_once()
        rows = deliveries(conn)
        if rows and all(r[0] == status for r in rows):
            return
        time.sleep(0.05)
    raise AssertionError(f"deliveries not {status}: {deliveries(conn)}")


def test_failed_deliveries_are_retried_until_accepted(
    pool: ConnectionPool,
    conn: psycopg.Connection[Any],
    http: httpx.Client,
    receiver: WebhookReceiver,
) -> None:
    receiver.fail_next = 2
    emit(conn, "alert.opened", "alert", 1, {"id": 1})
    dispatcher = WebhookDispatcher(
        pool, http, urls=[receiver.url], secret=SECRET, retry_base_s=0.05
    )
    run_until(dispatcher, conn, "delivered")
    status, attempts, code, error = deliveries(conn)[0]
    assert (status, attempts, code, error) == ("delivered", 3, 204, None)
    assert [r.event["data"] for r in receiver.received] == [{"id": 1}]


def test_a_receiver_that_rejects_the_signature_leads_to_failed_after_max_attempts(
    pool: ConnectionPool,
    conn: psycopg.Connection[Any],
    http: httpx.Client,
    receiver: WebhookReceiver,
) -> None:
    emit(conn, "work_order.created", "work_order", 7, {"id": 7})
    dispatcher = WebhookDispatcher(
        pool, http, urls=[receiver.url], secret="wrong", max_attempts=3, retry_base_s=0.05
    )
    run_until(dispatcher, conn, "failed")
    status, attempts, _code, error = deliveries(conn)[0]
    assert (status, attempts) == ("failed", 3)
    assert "HTTP 401" in error
    assert receiver.received == []


def test_every_event_goes_to_every_endpoint_once(
    pool: ConnectionPool,
    conn: psycopg.Connection[Any],
    http: httpx.Client,
    receiver: WebhookReceiver,
) -> None:
    other = WebhookReceiver(secret=SECRET).start()
    try:
        for i in range(5):
            emit(conn, "alert.opened", "alert", i, {"id": i})
        dispatcher = WebhookDispatcher(pool, http, urls=[receiver.url, other.url], secret=SECRET)
        run_until(dispatcher, conn, "delivered")
        dispatcher.run_once()  # nothing more to send
        for r in (receiver, other):
            assert sorted(e["data"]["id"] for e in r.events()) == [0, 1, 2, 3, 4]
        assert conn.execute(
            "SELECT count(*) FROM outbox WHERE dispatched_at IS NULL"
        ).fetchone() == (0,)
    finally:
        other.stop()

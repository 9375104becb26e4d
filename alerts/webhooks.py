"""Signed webhook delivery of outbox events, with retries.

Every event in the outbox is fanned out into one delivery per configured endpoint.
A delivery is POSTed as JSON ``{"id", "type", "created_at", "data"}`` with headers
``Prognos-Event``, ``Prognos-Delivery`` and ``Prognos-Signature: t=<unix>,v1=<hex>``,
where ``v1`` is HMAC-SHA256 over ``"<t>." + body`` with the shared secret. A non-2xx
answer or a network error is retried with jittered exponential backoff until
``max_attempts``; deliveries are claimed with a lease so several dispatchers never
send the same one at once. Receivers deduplicate by the event ``id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from psycopg_pool import ConnectionPool

from alerts.errors import DeliveryError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Prognos-Signature"
EVENT_HEADER = "Prognos-Event"
DELIVERY_HEADER = "Prognos-Delivery"
LEASE_S = 120  # longer than a claimed batch takes to send (CLAIM_BATCH x the timeout)
CLAIM_BATCH = 10


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance_s: int = 300
) -> bool:
    """Check a ``Prognos-Signature`` header (for receivers, and the tests)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected.encode(), given.encode())


def backoff_s(attempts: int, base_s: float = 5.0) -> float:
    """Seconds before the next try after ``attempts`` failed ones (jittered, capped at 1 h)."""
    base = min(base_s * 2 ** min(max(attempts - 1, 0), 30), 3600.0)
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter


@dataclass(frozen=True)
class Delivery:
    id: int
    url: str
    attempts: int
    event_id: int
    event_type: str
    payload: dict[str, Any]
    created_at: datetime

    def body(self) -> bytes:
        return json.dumps(
            {
                "id": self.event_id,
                "type": self.event_type,
                "created_at": self.created_at.isoformat(),
                "data": self.payload,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()


class WebhookDispatcher:
    """Fans outbox events out to endpoints and sends the deliveries that are due."""

    def __init__(
        self,
        pool: ConnectionPool,
        client: httpx.Client,
        *,
        urls: list[str],
        secret: str,
        max_attempts: int = 12,
        retry_base_s: float = 5.0,
    ) -> None:
        self.pool = pool
        self.client = client
        self.urls = list(urls)
        self.secret = secret
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.delivered = 0  # since start, for status lines
        self.failed_attempts = 0

    def run_once(self) -> int:
        """One pass: fan out new events, send due deliveries. Returns deliveries sent OK."""
        self.fan_out()
        return self.deliver_due()

    def fan_out(self, limit: int = 1000) -> int:
        """Create one delivery per endpoint for each new event.

        With no endpoint configured nothing is marked: the events wait in the outbox
        for the first endpoint that is configured.
        """
        if not self.urls:
            return 0
        with self.pool.connection() as conn, conn.transaction():
            ids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM outbox WHERE dispatched_at IS NULL ORDER BY id LIMIT %s "
                    "FOR UPDATE SKIP LOCKED",
                    (limit,),
                ).fetchall()
            ]
            if not ids:
                return 0
            for url in self.urls:
                conn.execute(
                    "INSERT INTO webhook_deliveries (event_id, url) SELECT unnest(%s::bigint[]), %s "
                    "ON CONFLICT DO NOTHING",
                    (ids, url),
                )
            conn.execute("UPDATE outbox SET dispatched_at = now() WHERE id = ANY(%s)", (ids,))
        return len(ids)

    def _claim(self, limit: int) -> list[Delivery]:
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                """SELECT d.id, d.url, d.attempts, o.id, o.event_type, o.payload, o.created_at
                   FROM webhook_deliveries d JOIN outbox o ON o.id = d.event_id
                   WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                   ORDER BY d.next_attempt_at, d.id LIMIT %s
                   FOR UPDATE OF d SKIP LOCKED""",
                (limit,),
            ).fetchall()
            if rows:
                conn.execute(
                    "UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => %s) "
                    "WHERE id = ANY(%s)",
                    (LEASE_S, [r[0] for r in rows]),
                )
        return [Delivery(int(r[0]), r[1], int(r[2]), int(r[3]), r[4], r[5], r[6]) for r in rows]

    def send(self, delivery: Delivery) -> int:
        """POST one delivery; returns the status code, raises DeliveryError unless 2xx."""
        body = delivery.body()
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: delivery.event_type,
            DELIVERY_HEADER: str(delivery.id),
            SIGNATURE_HEADER: sign(self.secret, int(time.time()), body),
        }
        try:
            response = self.client.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(
                f"HTTP {response.status_code}: {response.text[:200]}", response.status_code
            )
        return response.status_code

    def deliver_due(self, limit: int = CLAIM_BATCH) -> int:
        ok = 0
        for delivery in self._claim(limit):
            attempts = delivery.attempts + 1
            try:
                code = self.send(delivery)
            except DeliveryError as exc:
                final = attempts >= self.max_attempts
                self.failed_attempts += 1
                log.warning(
                    "webhook delivery %d of event %d to %s failed (attempt %d%s): %s",
                    delivery.id,
                    delivery.event_id,
                    delivery.url,
                    attempts,
                    ", giving up" if final else "",
                    exc,
                )
                with self.pool.connection() as conn:
                    conn.execute(
                        "UPDATE webhook_deliveries SET attempts = %s, last_error = %s, "
                        "last_status_code = %s, status = %s, "
                        "next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
                        (
                            attempts,
                            str(exc)[:500],
                            exc.status_code,
                            "failed" if final else "pending",
                            backoff_s(attempts, self.retry_base_s),
                            delivery.id,
                        ),
                    )
                continue
            with self.pool.connection() as conn:
                conn.execute(
                    "UPDATE webhook_deliveries SET attempts = %s, status = 'delivered', "
                    "last_status_code = %s, last_error = NULL, delivered_at = now() WHERE id = %s",
                    (attempts, code, delivery.id),
                )
            ok += 1
            self.delivered += 1
            log.info(
                "webhook delivered",
                extra={
                    "delivery_id": delivery.id,
                    "event_id": delivery.event_id,
                    "event_type": delivery.event_type,
                    "url": delivery.url,
                },
            )
        return ok

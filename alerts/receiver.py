"""A webhook receiver that checks signatures and keeps what it got.

The demo runs one when no webhook URL is configured, and the tests run one as the
real HTTP endpoint the dispatcher posts to. Duplicate deliveries of an event (same
``id``) are accepted and counted, as a receiver should.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerts.webhooks import EVENT_HEADER, SIGNATURE_HEADER, verify

log = logging.getLogger(__name__)


@dataclass
class Received:
    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    signature_ok: bool


@dataclass
class WebhookReceiver:
    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    fail_next: int = 0  # answer 503 to this many requests first (to exercise retries)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "receiver not started"  # noqa: S101
        return f"http://{self.host}:{self._server.server_address[1]}/hooks"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        self.send_response(503)
                        self.end_headers()
                        return
                ok = verify(receiver.secret, self.headers.get(SIGNATURE_HEADER, ""), body)
                if not ok:
                    self.send_response(401)
                    self.end_headers()
                    return
                event = json.loads(body)
                with receiver._lock:
                    receiver.received.append(Received(event, body, dict(self.headers.items()), ok))
                log.info(
                    "webhook received",
                    extra={
                        "event_type": self.headers.get(EVENT_HEADER),
                        "event_id": event.get("id"),
                    },
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                r.event
                for r in self.received
                if event_type is None or r.event.get("type") == event_type
            ]

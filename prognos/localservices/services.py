"""Both local services together, with their URLs recorded in ``home/services.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from prognos.errors import ServiceError
from prognos.localservices.mosquitto import LocalMosquitto
from prognos.localservices.postgres import LocalPostgres


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    mqtt_url: str


class LocalServices:
    """Both local services, with their URLs recorded in ``home/services.json``."""

    def __init__(
        self,
        home: Path,
        *,
        durable: bool = True,
        secure_broker: bool = True,
        topic_prefix: str = "prognos/v1",
    ) -> None:
        self.home = home
        self.postgres = LocalPostgres(home, durable=durable)
        self.mosquitto = LocalMosquitto(home, secure=secure_broker, topic_prefix=topic_prefix)
        self.state_file = home / "services.json"

    def start(self, *, postgres: bool = True, mosquitto: bool = True) -> Endpoints:
        self.home.mkdir(parents=True, exist_ok=True)
        state = self._read_state()
        if postgres:
            state["database_url"] = self.postgres.start()
        if mosquitto:
            state["mqtt_url"] = self.mosquitto.start()
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        self.state_file.chmod(0o600)
        return Endpoints(state.get("database_url", ""), state.get("mqtt_url", ""))

    def stop(self) -> None:
        errors: list[str] = []
        for service in (self.mosquitto, self.postgres):
            try:
                service.stop()
            except ServiceError as exc:
                errors.append(str(exc))
        self.state_file.unlink(missing_ok=True)
        if errors:
            raise ServiceError("; ".join(errors))

    def _read_state(self) -> dict[str, str]:
        try:
            data = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {k: str(v) for k, v in data.items()}

    def running_endpoints(self) -> dict[str, str]:
        """URLs of the local services that are running now (keys as in Endpoints)."""
        out: dict[str, str] = {}
        if self.postgres.is_running():
            out["database_url"] = self.postgres.url
        if self.mosquitto.is_running():
            out["mqtt_url"] = self.mosquitto.url
        return out

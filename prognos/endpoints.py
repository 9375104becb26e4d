"""Which database and broker to use: external ones from the settings, else the local ones."""

from __future__ import annotations

from dataclasses import dataclass

from prognos.errors import ConfigurationError
from prognos.localservices import LocalServices
from prognos.settings import MqttAddress, Settings


@dataclass(frozen=True)
class Resolved:
    database_url: str
    mqtt: MqttAddress
    mqtt_url: str


def resolve(settings: Settings, *, need_mqtt: bool = True) -> Resolved:
    local = (
        LocalServices(settings.home).running_endpoints()
        if (settings.database_url is None or settings.mqtt_url is None)
        else {}
    )
    db = settings.database_url or local.get("database_url")
    if not db:
        raise ConfigurationError(
            "no database: start the local one with `prognos up` (or `make demo`), or set "
            "PROGNOS_DATABASE_URL to a PostgreSQL server with TimescaleDB"
        )
    mqtt_url = settings.mqtt_url or local.get("mqtt_url")
    if not mqtt_url:
        if need_mqtt:
            raise ConfigurationError(
                "no MQTT broker: start the local one with `prognos up` (or `make demo`), or set "
                "PROGNOS_MQTT_URL to mqtt://host:port"
            )
        mqtt_url = "mqtt://127.0.0.1:1883"
    return Resolved(db, MqttAddress.parse(mqtt_url), mqtt_url)

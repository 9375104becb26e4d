"""prognos.settings: validation, nested environment variables, MQTT URL parsing."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from prognos.settings import MqttAddress, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("PROGNOS_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert settings.database_url is None
    assert settings.mqtt_url is None
    assert settings.topic_prefix == "prognos/v1"
    assert settings.ingest.batch_size == 5000
    assert settings.webhooks.urls == []


@pytest.mark.parametrize("url", ["mqtt://localhost:1883", "tcp://10.0.0.5:1883", "mqtt://broker"])
def test_good_mqtt_url(url: str) -> None:
    assert Settings(mqtt_url=url).mqtt_url == url


@pytest.mark.parametrize(
    "url", ["http://broker:1883", "mqtts://broker:8883", "localhost:1883", "broker", ""]
)
def test_bad_mqtt_url_scheme(url: str) -> None:
    with pytest.raises(ValidationError, match="PROGNOS_MQTT_URL must look like"):
        Settings(mqtt_url=url)


@pytest.mark.parametrize(
    "url", ["postgresql://prognos@db/prognos", "postgres://u:p@127.0.0.1:5432/prognos"]
)
def test_good_database_url(url: str) -> None:
    assert Settings(database_url=url).database_url == url


@pytest.mark.parametrize(
    "url", ["mysql://u@db/prognos", "postgresql+psycopg://u@db/x", "host=db dbname=x", ""]
)
def test_bad_database_url_scheme(url: str) -> None:
    with pytest.raises(ValidationError, match="PROGNOS_DATABASE_URL must look like"):
        Settings(database_url=url)


def test_bad_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGNOS_MQTT_URL", "http://broker")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("PROGNOS_MQTT_URL", "mqtt://broker:1884")
    monkeypatch.setenv("PROGNOS_DATABASE_URL", "sqlite:///x.db")
    with pytest.raises(ValidationError):
        Settings()


def test_top_level_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGNOS_MQTT_URL", "mqtt://broker:1884")
    monkeypatch.setenv("PROGNOS_DB_POOL_SIZE", "3")
    settings = Settings()
    assert settings.mqtt_url == "mqtt://broker:1884"
    assert settings.db_pool_size == 3


def test_nested_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGNOS_INGEST__BATCH_SIZE", "1234")
    monkeypatch.setenv("PROGNOS_API__PORT", "9090")
    settings = Settings()
    assert settings.ingest.batch_size == 1234
    assert settings.ingest.batch_age_ms == 200  # siblings keep their defaults
    assert settings.api.port == 9090


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_nested_environment_variable_is_validated(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PROGNOS_INGEST__BATCH_SIZE", value)
    with pytest.raises(ValidationError):
        Settings()


def test_health_retention_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().retention.policy().health_days == 90
    monkeypatch.setenv("PROGNOS_RETENTION__HEALTH_DAYS", "14")
    assert Settings().retention.policy().health_days == 14
    monkeypatch.setenv("PROGNOS_RETENTION__HEALTH_DAYS", "keep")
    assert Settings().retention.policy().health_days is None
    monkeypatch.setenv("PROGNOS_RETENTION__HEALTH_DAYS", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_webhook_urls_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGNOS_WEBHOOKS__URLS", '["https://a.example/h", "http://b:8000/h"]')
    assert Settings().webhooks.urls == ["https://a.example/h", "http://b:8000/h"]
    monkeypatch.setenv("PROGNOS_WEBHOOKS__URLS", '["ftp://a.example/h"]')
    with pytest.raises(ValidationError, match="webhook URL must be http"):
        Settings()


def test_webhook_secret_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGNOS_WEBHOOKS__SECRET", "s3cret")
    settings = Settings()
    assert settings.webhooks.secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_mqtt_address_without_credentials_or_port() -> None:
    address = MqttAddress.parse("mqtt://broker.example")
    assert (address.host, address.port) == ("broker.example", 1883)
    assert address.username is None
    assert address.password is None


def test_mqtt_address_with_port() -> None:
    address = MqttAddress.parse("tcp://10.1.2.3:8883")
    assert (address.host, address.port, address.username) == ("10.1.2.3", 8883, None)


def test_mqtt_address_with_credentials_and_port() -> None:
    address = MqttAddress.parse("mqtt://alice:pa55@Broker.Example:1884")
    assert address == MqttAddress(
        host="broker.example", port=1884, username="alice", password="pa55"
    )


def test_mqtt_address_with_user_only() -> None:
    address = MqttAddress.parse("mqtt://alice@broker")
    assert (address.username, address.password, address.port) == ("alice", None, 1883)


def test_mqtt_address_ipv6() -> None:
    address = MqttAddress.parse("mqtt://[::1]:1883")
    assert (address.host, address.port) == ("::1", 1883)


@pytest.mark.parametrize("url", ["mqtt://", "mqtt://:1883", "broker:1883", ""])
def test_mqtt_address_needs_a_host(url: str) -> None:
    with pytest.raises(ValueError, match="no host"):
        MqttAddress.parse(url)


def test_mqtt_address_decodes_percent_encoded_credentials() -> None:
    address = MqttAddress.parse("mqtt://ops%40site:p%40ss%3Aw0rd@broker")
    assert (address.username, address.password) == ("ops@site", "p@ss:w0rd")


def test_the_live_alert_cadence_is_the_one_the_evaluation_replays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prognos import eval_sim

    plan = eval_sim.load_plan(eval_sim.DEFAULT_FLEET)
    assert Settings().models.alert_step_s == plan.step_s == eval_sim.Plan(plan.start).step_s
    monkeypatch.setenv("PROGNOS_MODELS__ALERT_STEP_S", "300")
    assert Settings().models.alert_step_s == 300.0

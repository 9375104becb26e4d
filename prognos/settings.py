"""One typed settings object, read from ``PROGNOS_*`` environment variables.

Nested groups use a double underscore: ``PROGNOS_INGEST__BATCH_SIZE=5000``.
``PROGNOS_DATABASE_URL`` and ``PROGNOS_MQTT_URL`` select external servers; when they are
unset the platform uses the local services it starts itself under ``PROGNOS_HOME``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.retention import RetentionPolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class IngestSettings(BaseModel):
    """How the ingest worker subscribes and batches."""

    # Stable across restarts (the broker keeps the session under it); give every worker
    # on one host its own, for example PROGNOS_INGEST__CLIENT_ID=prognos-ingest-2.
    client_id: str = Field(default_factory=lambda: f"prognos-ingest-{socket.gethostname()}")
    share_group: str = "prognos-ingest"
    batch_size: int = Field(5000, ge=1, description="flush a batch at this many readings")
    batch_age_ms: int = Field(200, ge=1, description="flush a batch this old")
    max_payload_bytes: int = Field(256 * 1024, ge=64)
    session_expiry_s: int = Field(3600, ge=1)
    receive_maximum: int = Field(
        10_000,
        ge=2,
        le=65_535,
        description="unacknowledged messages the broker may send; a batch flushes at half",
    )
    inbox_messages: int = Field(
        20_000, ge=1, description="messages read ahead of decoding, at most (then TCP pushes back)"
    )
    max_future_s: float = Field(300.0, ge=0, description="reject readings this far ahead")
    max_past_s: float = Field(90 * 86400.0, ge=0, description="reject readings this old")
    access_sync_s: float = Field(
        30.0, gt=0, description="seconds between syncs of the local broker's accounts"
    )


class WebhookSettings(BaseModel):
    """Where outbox events are delivered, and how they are signed."""

    urls: list[str] = Field(default_factory=list)
    secret: SecretStr = SecretStr("")
    timeout_s: float = Field(5.0, gt=0)
    max_attempts: int = Field(12, ge=1)
    poll_interval_s: float = Field(1.0, gt=0)
    retry_base_s: float = Field(5.0, gt=0, description="first retry delay; doubles per attempt")

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if urlsplit(url).scheme not in {"http", "https"}:
                raise ValueError(f"webhook URL must be http(s): {url!r}")
        return urls


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class OpsSettings(BaseModel):
    """Where a process without the API (``prognos ingest``) serves /health and /metrics."""

    host: str = "127.0.0.1"
    port: int = Field(9400, ge=0, le=65535, description="0: any free port")


class SimSettings(BaseModel):
    fleet_file: Path = PROJECT_ROOT / "examples" / "demo-fleet.toml"
    speed: float = Field(1.0, gt=0, description="simulated seconds per real second")
    interval_s: float = Field(1.0, gt=0, description="simulated seconds between samples")
    samples_per_message: int = Field(5, ge=1, description="samples batched in one message")
    backfill_interval_s: float = Field(
        60.0,
        gt=0,
        description="sample interval of backfills (models trained on them score only"
        " telemetry sampled within a factor of 2 of it: docs/models.md, Sampling)",
    )
    buffer_samples: int = Field(3600, ge=1, description="store-and-forward buffer per machine")
    truth_file: Path | None = Field(None, description="fault truth CSV; default home/sim-truth.csv")
    credentials_file: Path | None = Field(
        None, description="CSV of serial,username,password: per-machine MQTT credentials"
    )


class RollupSettings(BaseModel):
    """The rollup refresh job (ingest/rollups.py, docs/rollups.md)."""

    enabled: bool = True
    interval_s: float = Field(10.0, gt=0, description="seconds between refresh runs")
    max_buckets: int = Field(60, ge=1, description="dirty buckets per transaction")
    max_batches: int = Field(50, ge=1, description="transactions per level and run")


class RetentionSettings(BaseModel):
    """Days to keep each table (ingest/retention.py); "keep" (or empty) = forever."""

    enabled: bool = True
    raw_days: int | None = Field(30, ge=1)
    minute_days: int | None = Field(365, ge=1)
    hourly_days: int | None = Field(None, ge=1)
    health_days: int | None = Field(90, ge=1, description="the health models' scored windows")
    interval_s: float = Field(3600.0, gt=0, description="seconds between retention runs")

    @field_validator("raw_days", "minute_days", "hourly_days", "health_days", mode="before")
    @classmethod
    def _keep(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "keep", "none", "null"}:
            return None
        return value

    @model_validator(mode="after")
    def _rollups_outlive_sources(self) -> RetentionSettings:
        self.policy()  # raises ValueError when a rollup would be dropped before its source
        return self

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            raw_days=self.raw_days,
            minute_days=self.minute_days,
            hourly_days=self.hourly_days,
            health_days=self.health_days,
        )


class ModelSettings(BaseModel):
    """Health models: scoring, training and the benchmarks (models/, docs/models.md)."""

    data_dir: Path = PROJECT_ROOT.parent / "shared" / "data"  # SKAB and C-MAPSS for eval
    source: Literal["rollup", "raw"] = "rollup"  # readings_1m, or raw readings
    scoring_enabled: bool = True
    alerts_enabled: bool = True  # model alerts after each scoring run (prognos/model_alerts.py)
    score_interval_s: float = Field(60.0, gt=0, description="seconds between scoring runs")
    window_s: float = Field(3600.0, gt=0, description="scoring window: the latest N seconds")
    bucket_s: float = Field(60.0, gt=0, description="time_bucket width of the features")
    alert_step_s: float = Field(
        600.0,
        gt=0,
        description="the model-alert rule reads at most one health row per N seconds "
        "(the cadence `prognos eval sim` replays and measures)",
    )
    training_days: float = Field(7.0, gt=0, description="history a training run reads")
    retrain_interval_s: float | None = Field(
        None, gt=0, description="retrain every N seconds; unset = only on `prognos train`"
    )


class Settings(BaseSettings):
    """Everything configurable about a Prognos deployment."""

    model_config = SettingsConfigDict(
        env_prefix="PROGNOS_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = PROJECT_ROOT / ".prognos"
    database_url: str | None = None
    mqtt_url: str | None = None
    topic_prefix: str = "prognos/v1"
    log_level: str = "INFO"
    db_pool_size: int = Field(8, ge=1)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    sim: SimSettings = Field(default_factory=SimSettings)
    rollups: RollupSettings = Field(default_factory=RollupSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, url: str | None) -> str | None:
        if url is not None and urlsplit(url).scheme not in {"mqtt", "tcp"}:
            raise ValueError(f"PROGNOS_MQTT_URL must look like mqtt://host:port, got {url!r}")
        return url

    @field_validator("database_url")
    @classmethod
    def _pg_scheme(cls, url: str | None) -> str | None:
        if url is not None and urlsplit(url).scheme not in {"postgresql", "postgres"}:
            raise ValueError(
                f"PROGNOS_DATABASE_URL must look like postgresql://user@host/db, got {url!r}"
            )
        return url


class MqttAddress(BaseModel):
    """A broker address parsed from an ``mqtt://user:password@host:port`` URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> MqttAddress:
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"no host in MQTT URL {url!r}")
        return cls(
            host=parts.hostname,
            port=parts.port or 1883,
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

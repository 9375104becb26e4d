"""Telemetry protocol v1 (docs/protocol.md): decoding and validation, no I/O.

Topic ``{prefix}/{serial_number}/telemetry``; payload a UTF-8 JSON object::

    {"v": 1, "device": "CP-0001", "seq": 17,
     "samples": [{"t": "2026-11-22T08:00:00.000Z", "values": {"coolant_temp": 84.2}}, ...]}

``t`` is an ISO-8601 time with a zone, or Unix epoch milliseconds. A message whose
envelope is wrong is rejected whole; a reading that is wrong (unknown channel, not a
finite number, outside the channel's physical limits, time out of bounds) is rejected
alone and the rest of the message is stored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import isfinite

from ingest.batch import Reading, from_us, to_us
from ingest.catalog import Catalog, ChannelSpec, EquipmentSpec
from ingest.errors import Rejected

PROTOCOL_VERSION = 1

# Quarantine reasons (dead_letters.reason).
OVERSIZED = "oversized"
BAD_TOPIC = "bad_topic"
MALFORMED_JSON = "malformed_json"
BAD_SCHEMA = "bad_schema"
UNSUPPORTED_VERSION = "unsupported_version"
UNKNOWN_EQUIPMENT = "unknown_equipment"
TOPIC_MISMATCH = "topic_mismatch"
UNKNOWN_CHANNEL = "unknown_channel"
NOT_FINITE = "not_finite"
OUT_OF_PHYSICAL_RANGE = "out_of_physical_range"
TIMESTAMP_FUTURE = "timestamp_future"
TIMESTAMP_PAST = "timestamp_past"


@dataclass(frozen=True)
class Limits:
    max_payload_bytes: int = 256 * 1024
    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=90)


@dataclass
class Decoded:
    """What one message yields: readings as columns, and readings rejected (reason, detail)."""

    serial_number: str
    equipment_id: int
    times_us: list[int] = field(default_factory=list)
    channel_ids: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def readings(self) -> list[Reading]:
        return [
            Reading(from_us(t), self.equipment_id, c, v)
            for t, c, v in zip(self.times_us, self.channel_ids, self.values, strict=True)
        ]


def serial_from_topic(topic: str, prefix: str) -> str:
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head) or not topic.endswith("/telemetry"):
        raise Rejected(BAD_TOPIC, f"topic {topic!r} is not {head}{{serial}}/telemetry")
    serial = topic[len(head) : -len("/telemetry")]
    if not serial or "/" in serial:
        raise Rejected(BAD_TOPIC, f"topic {topic!r} has no single serial-number level")
    return serial


def parse_time(raw: object) -> datetime:
    if isinstance(raw, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ValueError("time is not finite")
        return datetime.fromtimestamp(raw / 1000.0, tz=UTC)
    if isinstance(raw, str):
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError(f"time {raw!r} has no time zone")
        return parsed.astimezone(UTC)
    raise ValueError(
        f"time must be an ISO-8601 string or epoch milliseconds, got {type(raw).__name__}"
    )


# Epoch milliseconds that datetime can represent (years 1 to 9999).
_MIN_MS = -62_135_596_800_000
_MAX_MS = 253_402_300_799_999

_NON_FINITE_TEXT = frozenset({"nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"})


def check_value(where: str, value: object, channel: ChannelSpec) -> float:
    """A reading's value as a float within the channel's physical limits, or Rejected."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        if value is None or (isinstance(value, str) and value.lower() in _NON_FINITE_TEXT):
            raise Rejected(NOT_FINITE, f"{where}: {value!r} is not a finite number")
        raise Rejected(BAD_SCHEMA, f"{where}: {value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise Rejected(NOT_FINITE, f"{where}: an integer too large for a float") from None
    if not math.isfinite(number):
        raise Rejected(NOT_FINITE, f"{where}: {value!r} is not a finite number")
    if not channel.physical_min <= number <= channel.physical_max:
        raise Rejected(
            OUT_OF_PHYSICAL_RANGE,
            f"{where}: {number} outside [{channel.physical_min}, {channel.physical_max}]",
        )
    return number


def _envelope(
    topic: str, payload: bytes, catalog: Catalog, prefix: str, limits: Limits
) -> tuple[EquipmentSpec, list[object]]:
    if len(payload) > limits.max_payload_bytes:
        raise Rejected(OVERSIZED, f"{len(payload)} bytes > limit {limits.max_payload_bytes}")
    serial = serial_from_topic(topic, prefix)
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(MALFORMED_JSON, str(exc)) from None
    except RecursionError:
        raise Rejected(MALFORMED_JSON, "JSON nested too deeply") from None
    if not isinstance(body, dict):
        raise Rejected(BAD_SCHEMA, f"payload must be a JSON object, got {type(body).__name__}")
    version = body.get("v")
    if isinstance(version, bool) or version != PROTOCOL_VERSION:
        raise Rejected(UNSUPPORTED_VERSION, f"'v' must be {PROTOCOL_VERSION}, got {version!r}")
    device = body.get("device", serial)
    if device != serial:
        raise Rejected(TOPIC_MISMATCH, f"payload device {device!r} on the topic of {serial!r}")
    spec = catalog.get(serial)
    if spec is None:
        raise Rejected(UNKNOWN_EQUIPMENT, f"no machine with serial number {serial!r}")
    samples = body.get("samples")
    if not isinstance(samples, list) or not samples:
        raise Rejected(BAD_SCHEMA, "'samples' must be a non-empty list")
    return spec, samples


def decode(
    topic: str,
    payload: bytes,
    *,
    catalog: Catalog,
    prefix: str,
    now: datetime,
    limits: Limits = Limits(),
) -> Decoded:
    """Decode one message; raises Rejected when the whole message must be quarantined."""
    spec, samples = _envelope(topic, payload, catalog, prefix, limits)
    decoded = Decoded(serial_number=spec.serial_number, equipment_id=spec.id)
    channels = spec.channels
    times, chans, vals = decoded.times_us, decoded.channel_ids, decoded.values
    earliest = now - limits.max_past
    latest = now + limits.max_future
    earliest_us, latest_us = to_us(earliest), to_us(latest)
    for index, sample in enumerate(samples):
        if not isinstance(sample, dict) or not isinstance(sample.get("values"), dict):
            raise Rejected(BAD_SCHEMA, f"samples[{index}] must be an object with a 'values' object")
        raw_t = sample.get("t")
        if type(raw_t) is int and _MIN_MS <= raw_t <= _MAX_MS:
            at_us = raw_t * 1000  # epoch milliseconds, the common case: no datetime
        else:
            try:
                at_us = to_us(parse_time(raw_t))
            except (ValueError, OverflowError, OSError) as exc:
                raise Rejected(BAD_SCHEMA, f"samples[{index}].t: {exc}") from None
        if at_us > latest_us:
            decoded.rejected.append(
                Rejected(
                    TIMESTAMP_FUTURE,
                    f"samples[{index}].t {from_us(at_us).isoformat()} is after {latest.isoformat()}",
                )
            )
            continue
        if at_us < earliest_us:
            decoded.rejected.append(
                Rejected(
                    TIMESTAMP_PAST,
                    f"samples[{index}].t {from_us(at_us).isoformat()} is before {earliest.isoformat()}",
                )
            )
            continue
        for code, value in sample["values"].items():
            channel = channels.get(code)
            # The common case first, without building any text: a finite float in range.
            if (
                channel is not None
                and type(value) is float
                and isfinite(value)
                and channel.physical_min <= value <= channel.physical_max
            ):
                times.append(at_us)
                chans.append(channel.id)
                vals.append(value)
                continue
            where = f"samples[{index}].values.{code}"
            if channel is None:
                decoded.rejected.append(
                    Rejected(UNKNOWN_CHANNEL, f"{where}: the model has no channel {code!r}")
                )
                continue
            try:
                number = check_value(where, value, channel)
            except Rejected as rej:
                decoded.rejected.append(rej)
                continue
            times.append(at_us)
            chans.append(channel.id)
            vals.append(number)
    return decoded

"""ingest.protocol.decode: envelope rejections, per-reading rejections, time handling."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from ingest import protocol as p
from ingest.catalog import Catalog, ChannelSpec, EquipmentSpec
from ingest.errors import Rejected

PREFIX = "prognos/v1"
TOPIC = "prognos/v1/CP-0001/telemetry"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NOW_ISO = "2026-11-22T08:00:00.000Z"
# 56 years of 365 days + 14 leap days + 325 days into 2026, plus 8 h: 1_795_334_400 s.
NOW_MS = ((56 * 365 + 14 + 325) * 86400 + 8 * 3600) * 1000

CATALOG = Catalog(
    {
        "CP-0001": EquipmentSpec(
            7,
            "CP-0001",
            {
                "coolant_temp": ChannelSpec(11, "coolant_temp", -40.0, 150.0),
                "rpm": ChannelSpec(12, "rpm", 0.0, math.inf),
            },
        ),
        "CP-0002": EquipmentSpec(8, "CP-0002", {}),
    }
)


def payload(samples: object, **envelope: object) -> bytes:
    body = {"v": 1, "device": "CP-0001", "seq": 17, "samples": samples}
    body.update(envelope)
    return json.dumps(body).encode()


def sample(values: dict[str, object], t: object = NOW_ISO) -> dict[str, object]:
    return {"t": t, "values": values}


def run(data: bytes, topic: str = TOPIC, **kwargs: object) -> p.Decoded:
    return p.decode(topic, data, catalog=CATALOG, prefix=PREFIX, now=NOW, **kwargs)


def reason_of(data: bytes, topic: str = TOPIC, **kwargs: object) -> str:
    with pytest.raises(Rejected) as info:
        run(data, topic, **kwargs)
    return info.value.reason


def reasons(decoded: p.Decoded) -> list[str]:
    return [r.reason for r in decoded.rejected]


def test_good_message_with_iso_time() -> None:
    decoded = run(payload([sample({"coolant_temp": 84.2, "rpm": 3000})]))
    assert decoded.serial_number == "CP-0001"
    assert decoded.equipment_id == 7
    assert decoded.rejected == []
    assert decoded.readings == [p.Reading(NOW, 7, 11, 84.2), p.Reading(NOW, 7, 12, 3000.0)]
    assert isinstance(decoded.readings[1].value, float)


def test_epoch_milliseconds_time() -> None:
    assert NOW_MS == 1_795_334_400_000
    decoded = run(payload([sample({"rpm": 1}, NOW_MS), sample({"rpm": 2}, NOW_MS - 1500)]))
    assert [r.time for r in decoded.readings] == [NOW, NOW - timedelta(milliseconds=1500)]
    assert decoded.readings[0].time.tzinfo is not None


def test_iso_time_with_offset_is_converted_to_utc() -> None:
    decoded = run(payload([sample({"rpm": 1}, "2026-11-22T16:00:00+08:00")]))
    (reading,) = decoded.readings
    assert reading.time == NOW
    assert reading.time.utcoffset() == timedelta(0)


def test_device_field_is_optional() -> None:
    data = json.dumps({"v": 1, "samples": [sample({"rpm": 5})]}).encode()
    assert [r.value for r in run(data).readings] == [5.0]


def test_oversized_payload_rejected_but_limit_itself_allowed() -> None:
    data = payload([sample({"rpm": 1})])
    assert reason_of(data, limits=p.Limits(max_payload_bytes=len(data) - 1)) == p.OVERSIZED
    assert len(run(data, limits=p.Limits(max_payload_bytes=len(data))).readings) == 1


def test_size_is_checked_before_anything_else() -> None:
    assert reason_of(b"x" * 65, "bad", limits=p.Limits(max_payload_bytes=64)) == p.OVERSIZED


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/CP-0001/telemetry",
        "prognos/v1/CP-0001/status",
        "prognos/v1/telemetry",
        "prognos/v1//telemetry",
        "prognos/v1/CP-0001/extra/telemetry",
        "prognos/v10/CP-0001/telemetry",
    ],
)
def test_bad_topic(topic: str) -> None:
    assert reason_of(payload([sample({"rpm": 1})]), topic) == p.BAD_TOPIC


def test_serial_from_topic_ignores_trailing_slash_of_prefix() -> None:
    assert p.serial_from_topic(TOPIC, "prognos/v1/") == "CP-0001"
    assert p.serial_from_topic(TOPIC, "prognos/v1") == "CP-0001"


@pytest.mark.parametrize("data", [b"", b"{not json", b'{"v": 1,', b'{"device": "\xff\xfe"}'])
def test_malformed_json(data: bytes) -> None:
    assert reason_of(data) == p.MALFORMED_JSON


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b"42",
        b'"text"',
        json.dumps({"v": 1, "device": "CP-0001"}).encode(),
        payload([]),
        payload({"t": NOW_ISO, "values": {"rpm": 1}}),
        payload(["not an object"]),
        payload([{"t": NOW_ISO}]),
        payload([{"t": NOW_ISO, "values": [1, 2]}]),
        payload([{"values": {"rpm": 1}}]),
        payload([sample({"rpm": 1}, "2026-11-22T08:00:00")]),
        payload([sample({"rpm": 1}, "yesterday")]),
        payload([sample({"rpm": 1}, True)]),
        payload([sample({"rpm": 1}), sample({"rpm": 2}, None)]),
    ],
)
def test_bad_schema_rejects_whole_message(data: bytes) -> None:
    assert reason_of(data) == p.BAD_SCHEMA


def test_naive_time_rejected_with_a_zone_message() -> None:
    with pytest.raises(Rejected) as info:
        run(payload([sample({"rpm": 1}, "2026-11-22T08:00:00")]))
    assert info.value.reason == p.BAD_SCHEMA
    assert "no time zone" in info.value.detail


@pytest.mark.parametrize("version", [None, 2, 0, "1"])
def test_unsupported_version(version: object) -> None:
    body = {"device": "CP-0001", "samples": [sample({"rpm": 1})]}
    if version is not None:
        body["v"] = version
    assert reason_of(json.dumps(body).encode()) == p.UNSUPPORTED_VERSION


def test_unknown_equipment() -> None:
    data = payload([sample({"rpm": 1})], device="CP-9999")
    assert reason_of(data, "prognos/v1/CP-9999/telemetry") == p.UNKNOWN_EQUIPMENT


def test_topic_mismatch() -> None:
    assert reason_of(payload([sample({"rpm": 1})], device="CP-0002")) == p.TOPIC_MISMATCH


def test_unknown_channel_rejected_alone() -> None:
    decoded = run(payload([sample({"oil_pressure": 3.0, "rpm": 1200})]))
    assert reasons(decoded) == [p.UNKNOWN_CHANNEL]
    assert "oil_pressure" in decoded.rejected[0].detail
    assert decoded.readings == [p.Reading(NOW, 7, 12, 1200.0)]


@pytest.mark.parametrize(
    "literal", ["NaN", "Infinity", "-Infinity", '"NaN"', '"nan"', '"inf"', '"-Infinity"', "null"]
)
def test_not_finite_rejected_alone(literal: str) -> None:
    text = payload([sample({"coolant_temp": "@", "rpm": 10})]).replace(b'"@"', literal.encode())
    decoded = run(text)
    assert reasons(decoded) == [p.NOT_FINITE]
    assert decoded.readings == [p.Reading(NOW, 7, 12, 10.0)]


@pytest.mark.parametrize("value", ["84.2", True, [1], {"x": 1}])
def test_non_numbers_rejected_alone_as_bad_schema(value: object) -> None:
    decoded = run(payload([sample({"coolant_temp": value, "rpm": 10})]))
    assert reasons(decoded) == [p.BAD_SCHEMA]
    assert [r.channel_id for r in decoded.readings] == [12]


@pytest.mark.parametrize(
    ("value", "kept"), [(150.0, True), (150.01, False), (-40.0, True), (-40.5, False)]
)
def test_physical_range_is_inclusive(value: float, kept: bool) -> None:
    decoded = run(payload([sample({"coolant_temp": value})]))
    assert [r.value for r in decoded.readings] == ([value] if kept else [])
    assert reasons(decoded) == ([] if kept else [p.OUT_OF_PHYSICAL_RANGE])


def test_unbounded_channel_accepts_huge_values_but_not_below_min() -> None:
    decoded = run(payload([sample({"rpm": 1e300}), sample({"rpm": -1})]))
    assert [r.value for r in decoded.readings] == [1e300]
    assert reasons(decoded) == [p.OUT_OF_PHYSICAL_RANGE]


def test_timestamp_bounds() -> None:
    ms = timedelta(milliseconds=1)
    times = [
        NOW + timedelta(minutes=5),
        NOW + timedelta(minutes=5) + ms,
        NOW - timedelta(days=90),
        NOW - timedelta(days=90) - ms,
    ]
    decoded = run(payload([sample({"rpm": i}, t.isoformat()) for i, t in enumerate(times)]))
    assert [(r.time, r.value) for r in decoded.readings] == [(times[0], 0.0), (times[2], 2.0)]
    assert reasons(decoded) == [p.TIMESTAMP_FUTURE, p.TIMESTAMP_PAST]


def test_custom_time_limits() -> None:
    limits = p.Limits(max_future=timedelta(0), max_past=timedelta(minutes=1))
    data = payload([sample({"rpm": 1}, NOW_MS + 1), sample({"rpm": 2}, NOW_MS - 61_000)])
    decoded = run(data, limits=limits)
    assert decoded.readings == []
    assert reasons(decoded) == [p.TIMESTAMP_FUTURE, p.TIMESTAMP_PAST]


def test_good_readings_kept_next_to_bad_ones() -> None:
    future = (NOW + timedelta(hours=1)).isoformat()
    data = payload(
        [
            sample({"coolant_temp": 80.5, "bogus": 1, "rpm": -5}),
            sample({"coolant_temp": 81.0}, future),
            sample({"rpm": 900}, NOW_MS),
        ]
    )
    decoded = run(data)
    assert decoded.readings == [p.Reading(NOW, 7, 11, 80.5), p.Reading(NOW, 7, 12, 900.0)]
    assert reasons(decoded) == [p.UNKNOWN_CHANNEL, p.OUT_OF_PHYSICAL_RANGE, p.TIMESTAMP_FUTURE]
    assert all(r.detail.startswith("samples[") for r in decoded.rejected)


def test_deeply_nested_json_is_quarantined() -> None:
    assert reason_of(b"[" * 100_000) in {p.MALFORMED_JSON, p.BAD_SCHEMA}


def test_huge_integer_value_is_rejected_not_raised() -> None:
    huge = b"1" + b"0" * 400  # a JSON integer far beyond the largest float
    decoded = run(payload([sample({"rpm": "@"})]).replace(b'"@"', huge))
    assert decoded.readings == []
    assert len(decoded.rejected) == 1


def test_boolean_version_is_unsupported() -> None:
    body = {"v": True, "device": "CP-0001", "samples": [sample({"rpm": 1})]}
    assert reason_of(json.dumps(body).encode()) == p.UNSUPPORTED_VERSION

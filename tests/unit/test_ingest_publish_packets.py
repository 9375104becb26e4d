"""The worker's own PUBLISH parsing (ingest/session.py parse_publish) against packets
written byte by byte from the MQTT 5 specification (3.3)."""

from __future__ import annotations

import struct

import pytest

from ingest.session import parse_publish

TOPIC = "prognos/v1/CP-0001/telemetry"
PAYLOAD = b'{"readings":[{"t":"2026-11-30T12:00:00Z","ch":"coolant_temp","v":88.5}]}'


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(
    qos: int, mid: int = 0, topic: str = TOPIC, properties: bytes = b"", *, dup: bool = False
) -> tuple[int, bytes]:
    command = 0x30 | (0x08 if dup else 0) | (qos << 1)
    name = topic.encode()
    body = struct.pack("!H", len(name)) + name
    if qos:
        body += struct.pack("!H", mid)
    body += varint(len(properties)) + properties + PAYLOAD
    return command, body


def user_property(key: str, value: str) -> bytes:
    k, v = key.encode(), value.encode()
    return b"\x26" + struct.pack("!H", len(k)) + k + struct.pack("!H", len(v)) + v


def test_qos1_with_its_packet_id_and_the_payload_after_the_properties() -> None:
    assert parse_publish(*publish(1, 513)) == (513, 1, TOPIC, PAYLOAD)
    props = user_property("gateway", "GW-7") * 20  # over 127 bytes: a two-byte length
    assert len(props) > 127
    assert parse_publish(*publish(1, 65535, properties=props, dup=True)) == (
        65535,
        1,
        TOPIC,
        PAYLOAD,
    )


def test_qos0_has_no_packet_id() -> None:
    assert parse_publish(*publish(0)) == (0, 0, TOPIC, PAYLOAD)


@pytest.mark.parametrize(
    "packet",
    [
        publish(2, 7),  # QoS 2: paho's state machine
        publish(1, 7, topic=""),  # a topic alias in place of the name
        (0x32, b"\x00\x30prognos"),  # topic cut short
        (0x32, publish(1, 7)[1][:32]),  # no packet id
        (0x32, struct.pack("!H", 2) + b"\xff\xfe" + b"\x00\x01\x00"),  # not UTF-8
        (0x32, struct.pack("!H", 1) + b"t" + b"\x00\x01" + b"\x10"),  # properties beyond the end
        (0x32, struct.pack("!H", 1) + b"t" + b"\x00\x01" + b"\xff\xff\xff\xff\x01"),  # varint
    ],
)
def test_what_it_cannot_take_goes_to_paho(packet: tuple[int, bytes]) -> None:
    assert parse_publish(*packet) is None

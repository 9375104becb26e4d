"""MQTT 5 packets for the load publisher: CONNECT, PUBLISH (QoS 1), PINGREQ, DISCONNECT.

Only what a publishing client needs, encoded and decoded as the MQTT 5.0 standard
(OASIS, 2019) lays out: fixed header, variable byte integers, UTF-8 strings and
properties. It exists because a load generator must publish tens of thousands of
messages a second from one process on a machine whose two cores it shares with the
broker, the database and the ingest workers under test: building a PUBLISH here is a
few byte concatenations, where paho-mqtt spends about 50 microseconds of Python per
message (docs/benchmarks.md). Simulated machines (``device_sim.publisher``) use paho.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
PINGREQ, PINGRESP, DISCONNECT = 0xC0, 0xD0, 0xE0
_PUBLISH_QOS1 = PUBLISH | 0x02
DUP_FLAG = 0x08

# Property identifiers (MQTT 5.0, section 2.2.2.2) and the size of their values.
SESSION_EXPIRY_INTERVAL = 0x11
RECEIVE_MAXIMUM = 0x21
_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_TWO = {0x13, 0x21, 0x22, 0x23}
_FOUR = {0x02, 0x11, 0x18, 0x27}
_VARINT = {0x0B}
_STRING = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BINARY = {0x09, 0x16}
_PAIR = {0x26}

NO_MATCHING_SUBSCRIBERS = 0x10

REASON_NAMES = {
    0x00: "success",
    0x10: "no matching subscribers",
    0x80: "unspecified error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8B: "server shutting down",
    0x90: "topic name invalid",
    0x95: "packet too large",
    0x97: "quota exceeded",
}


class ProtocolError(ValueError):
    """The broker sent bytes that are not a well-formed MQTT 5 packet."""


def varint(n: int) -> bytes:
    """A variable byte integer (at most 268,435,455)."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def read_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None when ``buf`` ends inside the integer."""
    value, shift = 0, 0
    for i in range(4):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ProtocolError("variable byte integer longer than four bytes")


def utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(
    client_id: str,
    *,
    username: str | None,
    password: str | None,
    keepalive_s: int,
    session_expiry_s: int,
    clean_start: bool,
) -> bytes:
    flags = (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    flags |= 0x02 if clean_start else 0
    props = bytes([SESSION_EXPIRY_INTERVAL]) + struct.pack("!I", session_expiry_s)
    body = utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s)
    body += varint(len(props)) + props + utf8(client_id)
    if username is not None:
        body += utf8(username)
    if password is not None:
        raw = password.encode()
        body += struct.pack("!H", len(raw)) + raw
    return bytes([CONNECT]) + varint(len(body)) + body


def publish_packet(topic: bytes, mid: int, payload: bytes) -> bytes:
    """A QoS 1 PUBLISH with no properties; ``topic`` is the length-prefixed UTF-8 name."""
    size = len(topic) + 3 + len(payload)  # packet id (2) and property length (1)
    return b"".join(
        (bytes([_PUBLISH_QOS1]), varint(size), topic, struct.pack("!H", mid), b"\x00", payload)
    )


def topic_bytes(topic: str) -> bytes:
    return utf8(topic)


PINGREQ_PACKET = bytes([PINGREQ, 0])
DISCONNECT_PACKET = bytes([DISCONNECT, 0])


@dataclass(frozen=True)
class ConnAck:
    session_present: bool
    reason: int
    receive_maximum: int  # 65,535 when the broker sets none


def parse_connack(body: bytes) -> ConnAck:
    if len(body) < 2:
        raise ProtocolError("CONNACK shorter than two bytes")
    receive_maximum = 65_535
    if len(body) > 2:
        props = _properties(body, 2)
        receive_maximum = props.get(RECEIVE_MAXIMUM, receive_maximum)
    return ConnAck(bool(body[0] & 0x01), body[1], receive_maximum)


def _properties(body: bytes, pos: int) -> dict[int, int]:
    """The integer-valued properties of a property block; others are skipped."""
    parsed = read_varint(body, pos)
    if parsed is None:
        raise ProtocolError("property length cut short")
    length, pos = parsed
    end = pos + length
    out: dict[int, int] = {}
    while pos < end:
        ident = body[pos]
        pos += 1
        if ident in _BYTE:
            out[ident], pos = body[pos], pos + 1
        elif ident in _TWO:
            out[ident], pos = struct.unpack_from("!H", body, pos)[0], pos + 2
        elif ident in _FOUR:
            out[ident], pos = struct.unpack_from("!I", body, pos)[0], pos + 4
        elif ident in _VARINT:
            value = read_varint(body, pos)
            if value is None:
                raise ProtocolError("property cut short")
            out[ident], pos = value
        elif ident in _STRING or ident in _BINARY:
            pos += 2 + struct.unpack_from("!H", body, pos)[0]
        elif ident in _PAIR:
            pos += 2 + struct.unpack_from("!H", body, pos)[0]
            pos += 2 + struct.unpack_from("!H", body, pos)[0]
        else:
            raise ProtocolError(f"unknown property identifier {ident:#x}")
    return out


def split_packets(buf: bytearray) -> list[tuple[int, bytes]]:
    """Remove every complete packet from the front of ``buf``: (first byte, body) each."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(buf):
        parsed = read_varint(buf, pos + 1)
        if parsed is None:
            break
        length, start = parsed
        if start + length > len(buf):
            break
        out.append((buf[pos], bytes(buf[start : start + length])))
        pos = start + length
    del buf[:pos]
    return out


def puback_of(body: bytes) -> tuple[int, int]:
    """(packet id, reason code) of a PUBACK body."""
    if len(body) < 2:
        raise ProtocolError("PUBACK shorter than two bytes")
    mid = (body[0] << 8) | body[1]
    return mid, body[2] if len(body) > 2 else 0

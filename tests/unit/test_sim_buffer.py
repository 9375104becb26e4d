"""Store-and-forward pieces: the bounded buffer, the jittered backoff, the wire format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from device_sim.buffer import Backoff, SampleBuffer
from device_sim.physics import Sample
from device_sim.wire import encode_message, encode_sample
from ingest.catalog import Catalog, ChannelSpec, EquipmentSpec
from ingest.protocol import decode


def test_buffer_keeps_order_and_drops_the_oldest_with_a_count() -> None:
    buf = SampleBuffer(5)
    buf.extend([b"1", b"2", b"3"])
    assert buf.dropped == 0
    buf.extend([b"4", b"5", b"6", b"7"])
    assert len(buf) == 5
    assert buf.dropped == 2
    assert buf.take(3) == [b"3", b"4", b"5"]
    buf.extend([b"8"] * 10)
    assert buf.dropped == 2 + 7  # 2 left + 10 new = 12 offered for 5 places
    assert buf.take(100) == [b"8"] * 5
    assert len(buf) == 0
    with pytest.raises(ValueError, match="at least one"):
        SampleBuffer(0)


def test_backoff_grows_is_jittered_capped_and_resets() -> None:
    b = Backoff(0.5, 8.0, seed=1)
    delays = [b.next_delay() for _ in range(10)]
    for k, d in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**k)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 8.0
    assert delays[6] >= 4.0  # capped at 8: still at least half of it
    others = Backoff(0.5, 8.0, seed=2)
    assert [others.next_delay() for _ in range(10)] != delays  # machines do not move together
    b.reset()
    assert b.next_delay() <= 0.5
    with pytest.raises(ValueError, match="backoff"):
        Backoff(0, 1)


def test_messages_decode_with_the_ingest_protocol_keeping_times_and_values() -> None:
    t0 = datetime(2026, 11, 22, 8, 0, 0, 250_000, tzinfo=UTC)
    samples = [
        Sample(t0, {"coolant_temp": 85.125, "engine_speed": 1600.5}),
        Sample(t0 + timedelta(seconds=60), {"coolant_temp": 86.0}),
    ]
    payload = encode_message("CP-0001", 7, [encode_sample(s) for s in samples])
    body = json.loads(payload)
    assert (body["v"], body["device"], body["seq"]) == (1, "CP-0001", 7)
    channels = {
        "coolant_temp": ChannelSpec(3, "coolant_temp", -40, 150),
        "engine_speed": ChannelSpec(4, "engine_speed", 0, 3500),
    }
    catalog = Catalog({"CP-0001": EquipmentSpec(11, "CP-0001", channels)})
    decoded = decode(
        "p/CP-0001/telemetry", payload, catalog=catalog, prefix="p", now=t0 + timedelta(minutes=2)
    )
    assert decoded.rejected == []
    got = sorted(zip(decoded.times_us, decoded.channel_ids, decoded.values, strict=True))
    t0_us = int(t0.timestamp() * 1_000_000)
    assert got == [
        (t0_us, 3, 85.125),
        (t0_us, 4, 1600.5),
        (t0_us + 60_000_000, 3, 86.0),
    ]

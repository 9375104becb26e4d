"""Messages into batches: limits checked per message, acks per connection, quarantine."""

from __future__ import annotations

import json
import time

from ingest.assembly import BatchAssembler, PendingBatch
from ingest.catalog import Catalog, ChannelSpec, EquipmentSpec
from ingest.protocol import Limits
from ingest.session import Chunk

CHANNELS = {f"c{i}": ChannelSpec(i + 1, f"c{i}", -1e9, 1e9) for i in range(5)}
CATALOG = Catalog({"M-1": EquipmentSpec(7, "M-1", CHANNELS)})


def message(first: int, samples: int = 10) -> bytes:
    t0 = int(time.time() * 1000) - 60_000
    body = {
        "v": 1,
        "samples": [
            {
                "t": t0 + first + s,
                "values": {f"c{c}": float(first * 5 + s * 5 + c) for c in range(5)},
            }
            for s in range(samples)
        ],
    }
    return json.dumps(body).encode()


def assembler() -> BatchAssembler:
    a = BatchAssembler(prefix="p", limits=Limits(), load_catalog=lambda: CATALOG)
    a.refresh_catalog(force=True)
    return a


def chunk(generation: int, payloads: list[bytes], first_mid: int = 1) -> Chunk:
    return Chunk(
        generation,
        time.time(),
        [(first_mid + i, 1, "p/M-1/telemetry", p) for i, p in enumerate(payloads)],
    )


def test_a_burst_is_split_at_the_batch_limit_and_continued() -> None:
    a = assembler()
    burst = chunk(1, [message(i * 10) for i in range(10)])  # 10 messages of 50 readings
    first = PendingBatch(readings_limit=120, messages_limit=1000)
    stopped = a.add_chunk(burst, first)
    assert stopped == 3  # 150 readings: full after the third message, not after all ten
    assert first.full
    assert len(first.readings) == 150
    assert first.acks == [(1, [1, 2, 3])]
    second = PendingBatch(readings_limit=1000, messages_limit=1000)
    assert a.add_chunk(burst, second, stopped) == 10
    assert second.acks == [(1, [4, 5, 6, 7, 8, 9, 10])]
    assert len(second.readings) == 350
    assert a.counts.received == 10


def test_the_message_limit_flushes_small_messages() -> None:
    a = assembler()
    batch = PendingBatch(readings_limit=10_000, messages_limit=4)
    assert a.add_chunk(chunk(1, [message(i, samples=1) for i in range(6)]), batch) == 4
    assert batch.full
    assert batch.messages == 4


def test_acks_are_grouped_by_the_connection_they_came_in_on() -> None:
    a = assembler()
    batch = PendingBatch()
    a.add_chunk(chunk(1, [message(0)], first_mid=5), batch)
    a.add_chunk(chunk(2, [message(10), message(20)], first_mid=5), batch)
    assert batch.acks == [(1, [5]), (2, [5, 6])]


def test_bad_messages_are_counted_and_kept_with_their_reason() -> None:
    a = assembler()
    batch = PendingBatch()
    payloads = [b"{not json", message(0), json.dumps({"v": 2, "samples": []}).encode()]
    a.add_chunk(chunk(1, payloads), batch)
    assert [d.reason for d in batch.dead] == ["malformed_json", "unsupported_version"]
    assert dict(a.counts.quarantined) == {"malformed_json": 1, "unsupported_version": 1}
    assert len(batch.readings) == 50
    assert batch.acks == [(1, [1, 2, 3])]  # quarantined messages are acknowledged too


def test_a_machine_registered_after_the_catalog_loaded_is_found_on_reload() -> None:
    catalogs = [Catalog(), CATALOG]
    a = BatchAssembler(
        prefix="p", limits=Limits(), load_catalog=lambda: catalogs.pop(0), reload_s=0.0
    )
    a.refresh_catalog(force=True)  # empty: M-1 is not known yet
    batch = PendingBatch()
    time.sleep(0.01)
    a.add_chunk(chunk(1, [message(0)]), batch)
    assert batch.dead == []
    assert len(batch.readings) == 50

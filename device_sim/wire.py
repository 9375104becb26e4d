"""Protocol v1 messages built from samples encoded one by one (docs/protocol.md).

A device buffers each sample as its JSON text with its original time; a message is
whatever samples go out together, wrapped with the version, serial and sequence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from device_sim.physics import Sample

# One encoder for every sample: json.dumps with separators builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def iso_time(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The machines of a fleet step share the step's time: formatted once per step.
_step_time = lru_cache(maxsize=256)(iso_time)


def encode_sample(sample: Sample) -> bytes:
    return _ENCODER.encode({"t": _step_time(sample.time), "values": sample.values}).encode()


def encode_message(serial: str, seq: int, samples: Sequence[bytes]) -> bytes:
    head = json.dumps({"v": 1, "device": serial, "seq": seq}, separators=(",", ":"))
    return head[:-1].encode() + b',"samples":[' + b",".join(samples) + b"]}"

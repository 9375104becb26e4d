"""alerts.webhooks: HMAC signatures, retry backoff, the delivery body."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from alerts.webhooks import Delivery, backoff_s, sign, verify

SECRET = "whsec_test"
TS = 1_795_334_400
BODY = b'{"a":1}'
# printf '%s' '1795334400.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
KNOWN_V1 = "3e9be57648a6140f68b344f2bead9027a8e223a0e16ff264c5f312877980cf25"


def test_sign_matches_an_independently_computed_hmac() -> None:
    assert sign(SECRET, TS, BODY) == f"t={TS},v1={KNOWN_V1}"


def test_sign_depends_on_timestamp_body_and_secret() -> None:
    base = sign(SECRET, TS, BODY)
    assert sign(SECRET, TS + 1, BODY).split("v1=")[1] != base.split("v1=")[1]
    assert sign(SECRET, TS, b'{"a":2}') != base
    assert sign("other", TS, BODY) != base


def test_round_trip() -> None:
    assert verify(SECRET, sign(SECRET, TS, BODY), BODY, now=TS)


def test_round_trip_with_the_real_clock() -> None:
    assert verify(SECRET, sign(SECRET, int(time.time()), BODY), BODY)
    assert not verify(SECRET, sign(SECRET, int(time.time()) - 3600, BODY), BODY)


def test_tampered_body_fails() -> None:
    header = sign(SECRET, TS, BODY)
    assert not verify(SECRET, header, b'{"a":2}', now=TS)
    assert not verify(SECRET, header, BODY + b" ", now=TS)


def test_wrong_secret_fails() -> None:
    assert not verify("whsec_other", sign(SECRET, TS, BODY), BODY, now=TS)


def test_tampered_signature_or_timestamp_fails() -> None:
    assert not verify(SECRET, f"t={TS},v1={'0' * 64}", BODY, now=TS)
    assert not verify(SECRET, f"t={TS + 1},v1={KNOWN_V1}", BODY, now=TS)


@pytest.mark.parametrize(("offset", "ok"), [(300, True), (301, False), (-300, True), (-301, False)])
def test_timestamp_tolerance(offset: int, ok: bool) -> None:
    assert verify(SECRET, sign(SECRET, TS, BODY), BODY, now=TS + offset) is ok


def test_custom_tolerance() -> None:
    header = sign(SECRET, TS, BODY)
    assert not verify(SECRET, header, BODY, now=TS + 11, tolerance_s=10)
    assert verify(SECRET, header, BODY, now=TS + 10, tolerance_s=10)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={KNOWN_V1}",
        f"t={TS}",
        f"t=soon,v1={KNOWN_V1}",
        f"t={TS};v1={KNOWN_V1}",
        f"t={TS},v1=",
        f"T={TS},V1={KNOWN_V1}",
    ],
)
def test_malformed_header_fails(header: str) -> None:
    assert verify(SECRET, header, BODY, now=TS) is False


def test_extra_header_fields_are_tolerated() -> None:
    assert verify(SECRET, f"{sign(SECRET, TS, BODY)},v0=legacy", BODY, now=TS)


def test_non_ascii_signature_fails_cleanly() -> None:
    assert verify(SECRET, f"t={TS},v1=é", BODY, now=TS) is False


# attempts -> base seconds: 5 * 2 ** (attempts - 1), capped at 3600 from attempt 11 (5120).
BASES = {0: 5, 1: 5, 2: 10, 3: 20, 4: 40, 5: 80, 6: 160, 7: 320, 8: 640, 9: 1280, 10: 2560}
BASES |= {11: 3600, 12: 3600, 50: 3600}


@pytest.mark.parametrize(("attempts", "base"), sorted(BASES.items()))
def test_backoff_is_jittered_within_20_percent(attempts: int, base: int) -> None:
    delays = [backoff_s(attempts) for _ in range(300)]
    assert min(delays) >= 0.8 * base
    assert max(delays) <= 1.2 * base
    assert len(set(delays)) > 1


def test_backoff_grows_until_the_cap() -> None:
    # Consecutive ranges [0.8 b, 1.2 b] and [1.6 b, 2.4 b] do not overlap while the base
    # doubles (up to 10 attempts: 2560 s), so this is strict there; the step into the cap
    # (2560 s to 3600 s) overlaps under jitter, and the cap test below covers it.
    for attempts in range(1, 10):
        for _ in range(50):
            assert backoff_s(attempts + 1) > backoff_s(attempts)


def test_backoff_caps_at_an_hour_plus_jitter() -> None:
    for attempts in (11, 12, 20, 100):
        delay = backoff_s(attempts)
        assert 3600 * 0.8 <= delay <= 3600 * 1.2


def delivery(payload: dict[str, object], created_at: datetime | None = None) -> Delivery:
    return Delivery(
        id=3,
        url="https://hooks.example/prognos",
        attempts=2,
        event_id=42,
        event_type="alert.opened",
        payload=payload,
        created_at=created_at or datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
    )


def test_body_is_compact_sorted_json() -> None:
    body = delivery({"b": 2, "a": [1, "x"]}).body()
    assert body == (
        b'{"created_at":"2026-11-22T08:00:00+00:00","data":{"a":[1,"x"],"b":2},'
        b'"id":42,"type":"alert.opened"}'
    )


def test_body_is_deterministic_whatever_the_key_order() -> None:
    first = delivery({"z": 1, "a": {"y": 2, "b": 3}}).body()
    second = delivery({"a": {"b": 3, "y": 2}, "z": 1}).body()
    assert first == second
    assert delivery({"z": 1, "a": {"y": 2, "b": 3}}).body() == first


def test_body_fields_and_round_trip() -> None:
    created = datetime(2026, 11, 22, 16, 30, 5, 123000, tzinfo=timezone(timedelta(hours=8)))
    decoded = json.loads(delivery({"alert_id": 9, "unit": "°C"}, created).body())
    assert decoded == {
        "id": 42,
        "type": "alert.opened",
        "created_at": "2026-11-22T16:30:05.123000+08:00",
        "data": {"alert_id": 9, "unit": "°C"},
    }


def test_signed_body_verifies() -> None:
    body = delivery({"k": "v"}).body()
    assert verify(SECRET, sign(SECRET, TS, body), body, now=TS)

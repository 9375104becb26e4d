"""Mosquitto's password file and ACL, rendered from accounts (no broker needed)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from ingest.broker_access import (
    AccessError,
    Account,
    check_username,
    device_account,
    gateway_account,
    hash_password,
    ingest_account,
    new_password,
    render_acl,
    render_password_file,
    verify_password,
)
from prognos.localservices import find_mosquitto


def test_a_hash_is_mosquittos_pbkdf2_sha512_format_and_verifies() -> None:
    hashed = hash_password("s3cret", salt=b"0123456789ab")
    kind, iterations, salt, key = hashed.split("$")[1:]
    assert (kind, iterations, salt) == ("7", "101", "MDEyMzQ1Njc4OWFi")
    assert len(key) == 88  # 64 bytes, base64
    assert verify_password("s3cret", hashed)
    assert not verify_password("s3cret!", hashed)
    assert hash_password("s3cret") != hash_password("s3cret")  # a random salt each time


def test_hashes_written_by_mosquitto_passwd_verify() -> None:
    """The broker's own tool and this module agree on the format."""
    passwd_tool = find_mosquitto().parent.parent / "bin" / "mosquitto_passwd"
    assert passwd_tool.exists(), f"{passwd_tool} is missing: run scripts/bootstrap.sh"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pw"
        subprocess.run(
            [str(passwd_tool), "-c", "-b", str(path), "CP-0001", "open sesame"], check=True
        )
        hashed = path.read_text().strip().split(":", 1)[1]
    assert verify_password("open sesame", hashed)
    assert not verify_password("open sesame ", hashed)


def test_malformed_hashes_do_not_verify() -> None:
    for bad in ("", "$6$abc", "$7$101$not base64!$xx", "$7$x$YQ==$YQ=="):
        assert not verify_password("x", bad)


def test_new_passwords_are_long_random_and_url_safe() -> None:
    passwords = {new_password() for _ in range(100)}
    assert len(passwords) == 100
    assert all(len(p) == 32 and p.replace("-", "").replace("_", "").isalnum() for p in passwords)


@pytest.mark.parametrize("name", ["", "a b", "x:y", "a/b", "a+", "#", "é", "x" * 129])
def test_names_that_would_break_the_files_are_refused(name: str) -> None:
    with pytest.raises(AccessError):
        check_username(name)


def test_each_account_gets_only_its_own_topics() -> None:
    accounts = [
        device_account("prognos/v1", "CP-0002", "$7$h2"),
        device_account("prognos/v1", "CP-0001", "$7$h1"),
        ingest_account("prognos/v1", "prognos-ingest", "$7$hi"),
        gateway_account("prognos/v1", "prognos-gateway", "$7$hg"),
    ]
    assert render_password_file(accounts) == (
        "CP-0001:$7$h1\nCP-0002:$7$h2\nprognos-gateway:$7$hg\nprognos-ingest:$7$hi\n"
    )
    acl = render_acl(accounts)
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in acl.split("\n\n")[1:] if b.strip()}
    assert blocks == {
        "user CP-0001": ["topic write prognos/v1/CP-0001/telemetry"],
        "user CP-0002": ["topic write prognos/v1/CP-0002/telemetry"],
        "user prognos-gateway": ["topic write prognos/v1/+/telemetry"],
        "user prognos-ingest": ["topic read prognos/v1/+/telemetry", "topic read $SYS/#"],
    }
    assert "pattern" not in acl
    assert "allow" not in acl


def test_two_different_accounts_with_one_name_are_refused() -> None:
    with pytest.raises(AccessError):
        render_acl([Account("CP-1", "$7$a"), Account("CP-1", "$7$b")])
    assert render_password_file([Account("CP-1", "$7$a"), Account("CP-1", "$7$a")]) == "CP-1:$7$a\n"

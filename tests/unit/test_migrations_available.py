"""prognos.migrations.available: the shipped migrations, ordered, with stable checksums."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from prognos import migrations
from prognos.migrations import Migration, available

SQL_DIR = Path(migrations.__file__).parent / "sql"
SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_first_migration_is_version_one() -> None:
    found = available()
    assert found
    assert found[0].version == 1
    assert found[0].name == "schema"
    assert "CREATE" in found[0].sql.upper()


def test_sorted_by_strictly_increasing_version() -> None:
    versions = [m.version for m in available()]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


def test_every_sql_file_is_listed() -> None:
    files = sorted(
        p.name for p in SQL_DIR.glob("*.sql") if re.match(r"^\d{4}_[a-z0-9_]+\.sql$", p.name)
    )
    assert [f"{m.version:04d}_{m.name}.sql" for m in available()] == files


def test_sql_is_the_file_content() -> None:
    for migration in available():
        path = SQL_DIR / f"{migration.version:04d}_{migration.name}.sql"
        assert migration.sql == path.read_text(encoding="utf-8")


def test_checksum_is_sha256_of_the_sql_and_stable() -> None:
    first = available()
    second = available()
    assert [m.checksum for m in first] == [m.checksum for m in second]
    for migration in first:
        path = SQL_DIR / f"{migration.version:04d}_{migration.name}.sql"
        assert migration.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
        assert re.fullmatch(r"[0-9a-f]{64}", migration.checksum)


def test_checksum_known_value_and_sensitivity() -> None:
    assert Migration(1, "empty", "").checksum == SHA256_EMPTY
    a = Migration(1, "x", "SELECT 1;")
    assert a.checksum == Migration(2, "other_name", "SELECT 1;").checksum
    assert a.checksum != Migration(1, "x", "SELECT 1; ").checksum

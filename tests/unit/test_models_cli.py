"""``prognos models list``'s table, from the rows ``GET /models`` serves (api.queries)."""

from __future__ import annotations

from datetime import UTC, datetime

from prognos.cli_models import versions_table

ROW = {
    "family": "air_compressor",
    "version": 2,
    "active": True,
    "created_at": datetime(2026, 12, 1, 4, 42, tzinfo=UTC),
    "data_range": ["2026-02-01T00:00:00+00:00", "2026-02-14T23:50:00+00:00"],
    "windows": 4465,
    "machines": 28,
    "readings_per_bucket": 12.0,
    "alarm_threshold": 1.3,
    "held_out_alarm_rate": 0.0142,
    "classifier_accuracy": 0.943,
    "channels": ["discharge_temp"],
    "libraries": {"scikit-learn": "1.9.1"},
}


def test_a_version_is_one_line_of_the_table() -> None:
    header, line = versions_table([ROW]).splitlines()
    assert header.split()[:3] == ["family", "version", "active"]
    assert line.split() == [
        "air_compressor",
        "2",
        "yes",
        "2026-12-01",
        "04:42",
        "2026-02-01",
        "..",
        "2026-02-14",
        "4,465",
        "28",
        "12",
        "1.30",
        "1.42%",
        "94%",
        "1.9.1",
    ]


def test_metadata_without_metrics_shows_dashes_not_errors() -> None:
    # a version saved before a metric existed: the query gives NULL for it
    row = {
        **dict.fromkeys(ROW),
        "family": "excavator",
        "version": 1,
        "active": False,
        "created_at": datetime(2026, 12, 1, 4, 35, tzinfo=UTC),
    }
    line = versions_table([row]).splitlines()[1]
    assert line.split() == ["excavator", "1", "2026-12-01", "04:35", "?", "..", "?"] + ["-"] * 7

"""``prognos models list``'s summary of a version, from metadata old or new."""

from __future__ import annotations

from prognos.cli_models import version_summary, versions_table

META = {
    "data_range": ["2026-02-01T00:00:00+00:00", "2026-02-14T23:50:00+00:00"],
    "metrics": {
        "windows": 4465,
        "machines": 28,
        "readings_per_bucket": 12.0,
        "alarm_threshold": 1.3,
        "held_out_alarm_rate": 0.0142,
        "modes": {"held_out_accuracy": 0.943},
    },
    "libraries": {"scikit-learn": "1.9.1"},
}


def test_a_version_is_summarised_from_its_metadata() -> None:
    row = version_summary("air_compressor", 2, "2026-12-01 04:42:00+00:00", True, META)
    assert row["windows"] == 4465
    assert row["classifier_accuracy"] == 0.943
    assert row["scikit_learn"] == "1.9.1"
    header, line = versions_table([row]).splitlines()
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
    row = version_summary("excavator", 1, "2026-12-01 04:35:00+00:00", False, {})
    assert row["windows"] is None
    assert row["data_range"] is None
    line = versions_table([row]).splitlines()[1]
    assert line.split() == ["excavator", "1", "2026-12-01", "04:35", "?", "..", "?"] + ["-"] * 7

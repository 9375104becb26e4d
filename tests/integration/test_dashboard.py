"""The dashboard in a real headless browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from device_sim.fleet import load_fleet
from ingest.catalog import load_catalog
from ingest.protocol import Reading
from ingest.writer import BatchWriter
from prognos import db
from prognos.endpoints import Resolved
from prognos.pipeline import AlertPipeline
from prognos.runner import Platform
from prognos.settings import ApiSettings, MqttAddress, Settings

DEMO_FLEET = Path(__file__).resolve().parents[2] / "examples" / "demo-fleet.toml"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "Chromium is not installed: run `make test` (scripts/bootstrap.sh --dev installs it)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def api_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    fleet = load_fleet(DEMO_FLEET)
    settings = Settings(home=tmp_path, database_url=database_url, api=ApiSettings(port=0))
    unused = MqttAddress(host="127.0.0.1", port=1)
    platform = Platform(
        settings,
        Resolved(database_url, unused, "mqtt://127.0.0.1:1"),
        seed_fleet=fleet,
        with_ingest=False,
    )
    platform.start()
    assert platform.pool is not None
    # Ten minutes of coolant readings for CP-0002, the last one out of range.
    with db.connect(database_url) as conn:
        machine = load_catalog(conn).get("CP-0002")
    assert machine is not None
    coolant = machine.channels["coolant_temp"].id
    # One reading per 30 s bucket, so each bucket's average is that reading.
    now = datetime.now(UTC)
    last = datetime.fromtimestamp(now.timestamp() // 30 * 30 - 15, UTC)
    readings = [
        Reading(last - timedelta(seconds=30 * i), machine.id, coolant, 85.0 + (i % 3))
        for i in range(1, 20)
    ]
    readings.append(Reading(last, machine.id, coolant, 111.5))
    writer = BatchWriter(database_url)
    writer.write(readings, [])
    writer.close()
    AlertPipeline(platform.pool)(readings)
    yield platform.api_url
    platform.stop()


def test_dashboard_shows_alerts_work_orders_fleet_and_readings(
    browser: Browser,
    api_url: str,
    tmp_path: Path,
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(api_url + "/")

    alerts = page.locator("#alerts tbody tr")
    expect(alerts).to_have_count(1)
    expect(alerts.first).to_contain_text("CP-0002")
    expect(alerts.first).to_contain_text("coolant_temp")
    expect(alerts.first.locator("td.grade-major")).to_have_text("major")

    orders = page.locator("#work-orders tbody tr")
    expect(orders).to_have_count(1)
    expect(orders.first).to_contain_text("Changsha Service Center")
    expect(orders.first).to_contain_text("T-CS1-02")
    expect(orders.first).to_contain_text("assigned")

    expect(page.locator("#equipment tbody tr")).to_have_count(8)
    page.locator("#equipment tbody tr[data-serial='CP-0002']").click()
    expect(page.locator("#readings-title")).to_have_text("Readings: CP-0002")
    coolant = page.locator("#readings tbody tr", has_text="coolant_temp")
    expect(coolant).to_have_count(1)
    expect(coolant.locator("td").nth(1)).to_have_text("111.50 C")
    expect(coolant.locator("td").nth(1)).to_have_class("out-of-range")
    expect(coolant.locator("td").nth(3)).to_have_text("111.50")
    expect(coolant.locator("svg.spark polyline")).to_have_count(1)
    expect(page.locator("#status")).to_contain_text("updated")
    page.screenshot(path=str(tmp_path / f"dashboard-{uuid.uuid4().hex[:6]}.png"), full_page=True)
    assert errors == []

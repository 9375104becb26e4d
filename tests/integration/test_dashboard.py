"""The dashboard in a real headless browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from device_sim.fleet import load_fleet
from ingest.catalog import load_catalog
from ingest.protocol import Reading
from ingest.writer import BatchWriter
from models.store import write_health
from prognos import db
from prognos.endpoints import Resolved
from prognos.pipeline import AlertPipeline
from prognos.runner import Platform
from prognos.settings import ApiSettings, MqttAddress, Settings
from tests.health_rows import health_row

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
    with db.connect(database_url) as conn:
        write_health(conn, _health_rows(machine.id, load_catalog(conn).get("CP-0001").id, now))
    yield platform.api_url
    platform.stop()


def _health_rows(pump: int, healthy: int, now: datetime) -> pd.DataFrame:
    """CP-0002 falling from 70 to 35 over the last half hour, CP-0001 at 92."""
    shares = {"contributions": {"hydraulic_pressure": 0.51, "engine_speed": 0.49}}
    text = "hydraulic pressure 51 %, engine speed 49 %"
    ago = [now - timedelta(minutes=m) for m in (30, 20, 10)]
    return pd.DataFrame(
        [
            health_row(pump, ago[0], 70.0, **shares, explanation=text),
            health_row(pump, ago[1], 52.0, **shares, explanation=text),
            health_row(
                pump,
                ago[2],
                35.0,
                **shares,
                explanation=text,
                mode="hydraulic_pump_wear",
                probability=0.72,
                rul_hours=720.0,
                rul_low_hours=589.2,
            ),
            health_row(healthy, ago[2], 92.0, **shares, explanation=text),
        ]
    )


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

    health = page.locator("#health tbody tr")
    expect(health).to_have_count(2)
    first = health.first.locator("td")
    expect(first.nth(0)).to_have_text("CP-0002")  # the least healthy first
    expect(first.nth(1)).to_have_text("35/100")
    expect(first.nth(1)).to_have_class("health-bad")
    expect(first.nth(2)).to_have_text("hydraulic pump wear (72 %)")
    expect(first.nth(3)).to_have_text("hydraulic pressure 51 %, engine speed 49 %")
    expect(first.nth(4)).to_have_text("about 30 d (25 d to 30 d)")
    second = health.nth(1).locator("td")
    expect(second.nth(0)).to_have_text("CP-0001")
    expect(second.nth(1)).to_have_text("92/100")
    expect(second.nth(2)).to_have_text("—")
    expect(second.nth(3)).to_have_text("—")  # a healthy machine: nothing deviates
    machine_health = page.locator("#machine-health")
    expect(machine_health).to_contain_text("Health 35/100 · hydraulic pump wear (72 %)")
    expect(machine_health).to_contain_text("remaining life about 30 d (25 d to 30 d)")
    expect(machine_health.locator("svg.spark polyline")).to_have_count(1)
    points = machine_health.locator("svg.spark polyline").get_attribute("points") or ""
    assert len(points.split()) == 3  # the three windows of the last 24 h
    page.screenshot(path=str(tmp_path / f"dashboard-{uuid.uuid4().hex[:6]}.png"), full_page=True)
    assert errors == []
